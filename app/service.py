"""The reference Socket.IO service: a chat whose rooms span every node of the cluster.

One :class:`ChatService` is one node: a python-socketio ``AsyncServer`` whose client manager
is the cluster manager of the configured backend, plus the HTTP side (:mod:`app.web`).

Socket.IO events of the page (namespace ``/``). Client to server, each answered through
the acknowledgement:

=================================  =========================================================
``whoami()``                       ``{node, uid, sid}``
``status()``                       ``{node, uid, server_count, clients, connected}``
``join({name, room})``             ``{ok, name, room, node}``; joins the room (leaving the
                                   previous one)
``chat({text})``                   ``{ok}``; sends ``chat`` to the room, cluster-wide
``users()``                        ``{users: [{id, name, room, node}], complete}``: every
                                   user of the cluster (``fetch_sockets``)
``ask_servers()``                  ``{answers: [{node, uid, clients, uptime, self}],
                                   complete}``: every server's answer
                                   (``server_side_emit_with_ack``)
=================================  =========================================================

A request the service refuses is answered ``{error: "..."}``. Server to client: ``chat
{id, name, room, node, text, at}`` and ``presence {name, room, node, action}`` (``joined`` or
``left``) to the room, ``users_changed`` to everyone. Between servers: ``whoareyou``,
answered with the server's identity.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

import socketio

from socketio_cloud.cluster import ClusterManager, RemoteSocket
from socketio_cloud.exceptions import (
    FetchSocketsTimeout,
    ServerSideEmitTimeout,
    SocketIOCloudError,
)

from .backends import build_manager
from .config import Settings
from .rate_limit import RateLimit
from .single_flight import SingleFlight
from .web import StaticFiles, WebApp

__all__ = ["STATIC_DIR", "ChatService"]

logger = logging.getLogger("app.service")

STATIC_DIR = Path(__file__).resolve().parent / "static"

NAME_MAX = 24
ROOM_MAX = 32
TEXT_MAX = 500
#: Seconds to wait for the other servers' answers (users list, ask_servers).
REQUEST_TIMEOUT = 3.0
# Cluster-wide requests (join, chat, users, ask_servers) one client may make: 20 at once,
# then 5 a second; far above what the page sends, far below what floods a broker.
CLUSTER_REQUEST_RATE = 5.0
CLUSTER_REQUEST_BURST = 20
#: Rooms of the chat get this prefix, so they never collide with socket ids.
ROOM_PREFIX = "room:"
_ROOM_NAME = re.compile(r"^[\w .-]+$")
SERVER_QUESTION = "whoareyou"


def _clean(value: Any, max_length: int) -> str | None:
    """``value`` as a one-line string without control characters, or None if unusable."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C").strip()
    if not text or len(text) > max_length:
        return None
    return text


class ChatService:
    """One node of the chat: Socket.IO at ``/socket.io/``, the page at ``/``, health at
    ``/healthz``. Serve :attr:`asgi` with any ASGI server that runs lifespan events.

    :param settings: the node's configuration (see :mod:`app.config`).
    :param manager: a cluster manager to use instead of the one ``settings`` describe.
    """

    def __init__(self, settings: Settings, *, manager: ClusterManager | None = None) -> None:
        self.settings = settings
        self.manager = manager if manager is not None else build_manager(settings)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=self.manager,
            # a chat line is small: refuse large packets before parsing them
            max_http_buffer_size=64 * 1024,
            logger=False,
            engineio_logger=False,
        )
        self.web = WebApp(
            static=StaticFiles(STATIC_DIR),
            index="index.html",
            health=self.health,
            on_startup=self.start,
            on_shutdown=self.stop,
        )
        self.asgi = socketio.ASGIApp(self.sio, other_asgi_app=self.web)
        self.phase = "new"
        self._started_at = time.monotonic()
        self._users: SingleFlight[tuple[list[dict[str, str]], bool]] = SingleFlight(
            self._fetch_users
        )
        self._servers: SingleFlight[tuple[list[dict[str, Any]], bool]] = SingleFlight(
            self._ask_servers
        )
        # every handler that publishes to the cluster or waits for all servers spends from it
        self._cluster_requests = RateLimit(CLUSTER_REQUEST_RATE, CLUSTER_REQUEST_BURST)
        self._register()

    @property
    def node_name(self) -> str:
        return self.settings.node_name

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Join the cluster (the ASGI lifespan start up)."""
        self.phase = "starting"
        logger.info(
            "node %s: joining the cluster (%s backend)", self.node_name, self.settings.backend
        )
        await self.manager.ready()
        self._started_at = time.monotonic()
        self.phase = "ready"
        logger.info("node %s: ready as cluster node %s", self.node_name, self.manager.uid)

    async def stop(self) -> None:
        """Leave the cluster and delete the node's broker resources (the lifespan shut down)."""
        if self.phase in ("stopping", "stopped"):
            return
        self.phase = "stopping"
        logger.info("node %s: leaving the cluster", self.node_name)
        await self._users.cancel()
        await self._servers.cancel()
        await self.manager.close()
        self.phase = "stopped"
        logger.info("node %s: left the cluster; its broker resources are deleted", self.node_name)

    async def health(self) -> tuple[int, dict[str, Any]]:
        """``(status, body)`` of ``GET /healthz``: 200 once the node is part of the cluster."""
        ready = self.phase == "ready" and self.manager.is_ready
        body: dict[str, Any] = {
            "status": "ok" if ready else self.phase,
            "node": self.node_name,
            "uid": self.manager.uid,
            "backend": self.settings.backend,
        }
        if ready:
            body["server_count"] = await self.manager.server_count()
            body["clients"] = self.local_clients()
            body["connected"] = self.manager.connected
        return (200 if ready else 503), body

    # ------------------------------------------------------------------------ node facts

    def local_clients(self) -> int:
        """Clients connected to this node."""
        return len(self.manager.rooms.get("/", {}).get(None, {}))

    def identity(self) -> dict[str, Any]:
        """What this server answers to ``ask_servers``."""
        return {
            "node": self.node_name,
            "uid": self.manager.uid,
            "clients": self.local_clients(),
            "uptime": round(time.monotonic() - self._started_at),
        }

    # ------------------------------------------------------------------------ events

    def _register(self) -> None:
        on = self.sio.on
        on("connect", self._on_connect)
        on("disconnect", self._on_disconnect)
        on("whoami", self._on_whoami)
        on("status", self._on_status)
        on("join", self._on_join)
        on("chat", self._on_chat)
        on("users", self._on_users)
        on("ask_servers", self._on_ask_servers)
        self.manager.on_server_event(SERVER_QUESTION)(self.identity)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.sio.save_session(sid, {})

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._cluster_requests.forget(sid)
        session = await self.sio.get_session(sid)
        name, room = session.get("name"), session.get("room")
        if not name:
            return
        # Forget the user first: a users() answered from now on must not list them.
        await self.sio.save_session(sid, {})
        await self._announce(name, room, "left", skip_sid=sid)

    async def _on_whoami(self, sid: str, *args: Any) -> dict[str, Any]:
        return {"node": self.node_name, "uid": self.manager.uid, "sid": sid}

    async def _on_status(self, sid: str, *args: Any) -> dict[str, Any]:
        return {
            "node": self.node_name,
            "uid": self.manager.uid,
            "server_count": await self.manager.server_count(),
            "clients": self.local_clients(),
            "connected": self.manager.connected,
        }

    def _over_budget(self, sid: str) -> dict[str, Any] | None:
        if self._cluster_requests.allow(sid):
            return None
        return {"error": "too many requests: slow down", "retry": True}

    async def _on_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        if refused := self._over_budget(sid):
            return refused
        data = data if isinstance(data, dict) else {}
        name = _clean(data.get("name"), NAME_MAX)
        room = _clean(data.get("room"), ROOM_MAX)
        if name is None:
            return {"error": f"choose a name of 1 to {NAME_MAX} characters"}
        if room is None or not _ROOM_NAME.match(room):
            return {"error": f"choose a room of 1 to {ROOM_MAX} letters, digits, ' ', '.', '-'"}
        session = await self.sio.get_session(sid)
        previous = session.get("room")
        if previous and previous != room:
            await self.sio.leave_room(sid, ROOM_PREFIX + previous)
            await self._announce(session.get("name", name), previous, "left", skip_sid=sid)
        await self.sio.save_session(sid, {"name": name, "room": room, "node": self.node_name})
        await self.sio.enter_room(sid, ROOM_PREFIX + room)
        await self._announce(name, room, "joined")
        return {"ok": True, "name": name, "room": room, "node": self.node_name}

    async def _announce(
        self, name: str, room: str, action: str, skip_sid: str | None = None
    ) -> None:
        presence = {"name": name, "room": room, "node": self.node_name, "action": action}
        try:
            await self.sio.emit("presence", presence, to=ROOM_PREFIX + room, skip_sid=skip_sid)
            await self.sio.emit("users_changed", {})
        except SocketIOCloudError as exc:
            logger.warning("could not announce that %s %s %s: %s", name, action, room, exc)

    async def _on_chat(self, sid: str, data: Any = None) -> dict[str, Any]:
        if refused := self._over_budget(sid):
            return refused
        session = await self.sio.get_session(sid)
        if not session.get("room"):
            return {"error": "join a room first"}
        text = _clean(data.get("text") if isinstance(data, dict) else None, TEXT_MAX)
        if text is None:
            return {"error": f"a message has 1 to {TEXT_MAX} characters"}
        message = {
            "id": sid,
            "name": session["name"],
            "room": session["room"],
            "node": self.node_name,
            "text": text,
            "at": int(time.time() * 1000),
        }
        try:
            await self.sio.emit("chat", message, to=ROOM_PREFIX + session["room"])
        except SocketIOCloudError as exc:
            logger.warning("chat message not sent: %s", exc)
            return {"error": "the cluster is unavailable, try again"}
        return {"ok": True}

    async def _on_users(self, sid: str, *args: Any) -> dict[str, Any]:
        if refused := self._over_budget(sid):
            return refused
        try:
            users, complete = await self._users()
        except SocketIOCloudError as exc:
            logger.warning("users list unavailable: %s", exc)
            return {"error": "the cluster is unavailable, try again"}
        return {"users": users, "complete": complete}

    async def _fetch_users(self) -> tuple[list[dict[str, str]], bool]:
        """Every user of the cluster, and whether every server answered."""
        complete = True
        try:
            sockets = await self.manager.fetch_sockets(timeout=REQUEST_TIMEOUT)
        except FetchSocketsTimeout as exc:
            sockets, complete = list(exc.responses), False
        users = [user for user in map(_user, sockets) if user is not None]
        users.sort(key=lambda user: (user["room"].lower(), user["name"].lower(), user["id"]))
        return users, complete

    async def _on_ask_servers(self, sid: str, *args: Any) -> dict[str, Any]:
        if refused := self._over_budget(sid):
            return refused
        try:
            answers, complete = await self._servers()
        except SocketIOCloudError as exc:
            logger.warning("ask_servers failed: %s", exc)
            return {"error": "the cluster is unavailable, try again"}
        return {"answers": answers, "complete": complete}

    async def _ask_servers(self) -> tuple[list[dict[str, Any]], bool]:
        """Every server's answer to ``whoareyou`` (this one first), and whether all came."""
        answers = [{**self.identity(), "self": True}]
        complete = True
        try:
            replies = await self.manager.server_side_emit_with_ack(
                SERVER_QUESTION, timeout=REQUEST_TIMEOUT
            )
        except ServerSideEmitTimeout as exc:
            replies, complete = list(exc.responses), False
        others = [answer for answer in map(_answer, replies) if answer is not None]
        answers.extend(sorted(others, key=lambda answer: str(answer["node"])))
        return answers, complete


def _user(socket: RemoteSocket) -> dict[str, str] | None:
    """A user as the page shows it; None for sockets that have not joined. The session may
    come from another node, so every field is checked."""
    data = socket.data if isinstance(socket.data, dict) else {}
    name = _clean(data.get("name"), NAME_MAX)
    room = _clean(data.get("room"), ROOM_MAX)
    if name is None or room is None:
        return None
    node = _clean(data.get("node"), 64) or "?"
    return {"id": socket.id, "name": name, "room": room, "node": node}


def _answer(reply: Any) -> dict[str, Any] | None:
    """Another server's answer to ``whoareyou``, checked field by field."""
    if not isinstance(reply, dict):
        return None
    node = _clean(reply.get("node"), 64)
    if node is None:
        return None
    clients, uptime = reply.get("clients"), reply.get("uptime")
    return {
        "node": node,
        "uid": _clean(reply.get("uid"), 64) or "",
        "clients": clients if isinstance(clients, int) else None,
        "uptime": uptime if isinstance(uptime, (int, float)) else None,
        "self": False,
    }
