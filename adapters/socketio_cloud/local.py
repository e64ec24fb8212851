"""The node's own sockets: python-socketio's manager plus what a cluster node needs locally.

:class:`LocalManager` keeps a sid -> rooms index (python-socketio scans every room to find a
socket's rooms), fires Node's room events, selects local sockets by broadcast options, hands
encoded packets to clients (:mod:`socketio_cloud.fanout`), and describes sockets the way Node's
``fetchSockets()`` does. :class:`~socketio_cloud.cluster.ClusterManager` adds the cluster.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from . import compat, protocol
from .exceptions import UnsupportedVersionError
from .fanout import LocalDelivery
from .handshake import build_handshake
from .protocol import BroadcastOptions
from .recovery import RECOVERABLE_REASONS, ConnectionRecovery
from .transport import Session

__all__ = [
    "FANOUT_MODES",
    "ROOM_EVENTS",
    "Fanout",
    "LocalManager",
    "js_json_compatible",
    "only_sids_of",
    "select_sockets",
]

Handler = TypeVar("Handler", bound=Callable[..., Any])
_T = TypeVar("_T")

#: From this many sockets on, describing them or building their snapshots runs with the
#: garbage collector paused (see protocol.gc_paused).
MANY_SOCKETS = 1000
Fanout = Literal["auto", "queue", "tasks"]
#: How events reach local clients: ``auto`` writes one prebuilt websocket frame to idle
#: connections where that is safe and queues the rest (:mod:`socketio_cloud.direct_frames`);
#: ``queue`` puts one encoded packet in every client's Engine.IO queue; ``tasks`` sends
#: through Engine.IO's public ``send_packet``, one task per client, as python-socketio does.
FANOUT_MODES: tuple[Fanout, ...] = ("auto", "queue", "tasks")
ROOM_EVENTS = frozenset({"create-room", "delete-room", "join-room", "leave-room"})


class LocalManager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's ``AsyncManager`` with a room index, room events, selection by
    broadcast options and one-encoding fan-out. Not useful on its own: see ClusterManager."""

    #: Whether python-socketio internals may be used where the installed version supports
    #: them (:mod:`socketio_cloud.compat`); set to False before the manager is given to a
    #: server to keep to public APIs only.
    socketio_internals: bool = True

    def __init__(self, *, fanout: Fanout = "auto", logger: logging.Logger | None = None) -> None:
        super().__init__()
        if fanout not in FANOUT_MODES:
            raise ValueError(f"fanout must be one of {FANOUT_MODES}")
        self.fanout = fanout
        self.logger = logger or logging.getLogger("socketio_cloud.cluster")
        self._room_listeners: dict[str, list[Callable[..., Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sid_rooms: dict[str, dict[str, set[str]]] = {}
        self._socket_meta: dict[tuple[str, str], tuple[int, Any]] = {}
        # each socket's handshake map, built on the first fetch_sockets that needs it: it
        # never changes, and building it is most of the cost of answering a fetch
        self._handshakes: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending_auth: dict[tuple[str, str], Any] = {}
        self._acks: dict[str, dict[int, Callable[..., Any]]] = {}
        self._ack_ids = itertools.count(1)
        self._delivery: LocalDelivery | None = None
        #: Connection state recovery, when it is on (set by the cluster node).
        self._recovery: ConnectionRecovery | None = None

    def set_server(self, server: Any) -> None:
        compat.check_socketio_version()
        super().set_server(server)
        self._delivery = LocalDelivery(
            server,
            fast_path=self.fanout != "tasks",
            direct_frames=None if self.fanout == "auto" else False,
        )
        # python-socketio hands the CONNECT payload (``auth``) to the connect handler only;
        # Node reports it in every socket's handshake, so remember it on the way in.
        captured = compat.capture_connect_auth(server, self._pending_auth)
        recovery = self._recovery
        if recovery is not None:
            if not captured:
                raise UnsupportedVersionError(
                    "connection state recovery needs the CONNECT payload, which this "
                    "python-socketio does not let socketio_cloud observe"
                )
            compat.install_recovery_hooks(server, self._connect_pid, self._on_transport_gone)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("background task failed", exc_info=task.exception())

    def _select(self, namespace: str, opts: BroadcastOptions) -> list[tuple[str, str]]:
        """The local (sid, eio_sid) pairs an operation targets."""
        return select_sockets(self.rooms.get(namespace), opts)

    def _deliver(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        offset: str | None = None,
    ) -> int:
        """Send an event to the selected local clients, encoded once for all of them.

        ``offset``: where the broker logged the event (connection state recovery: a socket
        being restored gets it later, unless its replay has it already).
        """
        selected = selected_sockets(self.rooms.get(namespace), opts)
        if not selected or self._delivery is None:
            return 0
        if self._recovery is not None and self._recovery.holding:
            recipients = self._recovery.held(namespace, list(selected.items()), event_args, offset)
            if not recipients:
                return 0
            eio_sids = [eio for _, eio in recipients]
        else:
            # the Engine.IO ids alone: no pair built per recipient before the first is sent
            eio_sids = compat.room_eio_sids(selected)
        packets = self._event_packets(namespace, event_args)
        return self._delivery.send(eio_sids, packets)

    def _event_packets(
        self, namespace: str, event_args: list[Any], ack_id: int | None = None
    ) -> list[Any]:
        """Engine.IO packets of an EVENT. Dates from Node peers (msgpack timestamps) are sent
        to clients as JavaScript's ``toJSON`` text, as Node servers send them."""
        assert self._delivery is not None
        make = self.server.packet_class
        if ack_id is None:
            text = plain_event_text(make, namespace, event_args)
            if text is not None:
                return [eio_packet.Packet(eio_packet.MESSAGE, text)]
        try:
            pkt = make(sio_packet.EVENT, namespace=namespace, data=event_args, id=ack_id)
            return self._delivery.encode(pkt)
        except TypeError:
            args = js_json_compatible(event_args)
            pkt = make(sio_packet.EVENT, namespace=namespace, data=args, id=ack_id)
            return self._delivery.encode(pkt)

    def _send_with_ack_ids(
        self,
        namespace: str,
        recipients: list[tuple[str, str]],
        event_args: list[Any],
        callback: Callable[..., Any],
    ) -> None:
        """Send an event to each recipient with its own acknowledgement id."""
        assert self._delivery is not None
        send = self._delivery.send
        parts = plain_event_parts(self.server.packet_class, namespace, event_args)
        if parts is None:
            for sid, eio_sid in recipients:
                ack_id = self._new_ack_id(sid, callback)
                send((eio_sid,), self._event_packets(namespace, event_args, ack_id))
            return
        # the text is the same for every recipient but for the id after the namespace:
        # encoded once, not once per recipient
        head, body = parts
        message = eio_packet.MESSAGE
        make = eio_packet.Packet
        for sid, eio_sid in recipients:
            ack_id = self._new_ack_id(sid, callback)
            send((eio_sid,), [make(message, f"{head}{ack_id}{body}")])

    async def _deliver_with_ack(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        on_reply: Callable[[tuple[Any, ...]], Any],
    ) -> int:
        """Send an event needing an acknowledgement to the selected local clients;
        ``on_reply`` gets each client's reply as a tuple of its arguments. A coroutine so
        that a manager whose sockets live elsewhere (:mod:`socketio_cloud.sync`) can wait for
        the count."""
        recipients = self._select(namespace, opts)
        if not recipients or self._delivery is None:
            return 0
        self._send_with_ack_ids(namespace, recipients, event_args, _cluster_ack(on_reply))
        return len(recipients)

    async def trigger_callback(self, sid: str, id: int, data: list[Any]) -> None:
        """Route a client's acknowledgement to whoever waits for it."""
        callback = self._acks.get(sid, {}).pop(id, None)
        if callback is None:
            self.logger.debug("unknown acknowledgement %s from %s", id, sid)
            return
        result = (
            callback(tuple(data)) if getattr(callback, "_cluster_ack", False) else callback(*data)
        )
        if inspect.isawaitable(result):
            await result

    def _new_ack_id(self, sid: str, callback: Callable[..., Any]) -> int:
        # The table is this manager's own (python-socketio's ``callbacks`` is internal): every
        # path that sends or answers an acknowledgement (emit, trigger_callback) is overridden.
        ack_id = next(self._ack_ids)
        self._acks.setdefault(sid, {})[ack_id] = callback
        return ack_id

    def _apply_join(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        for sid, _ in self._select(namespace, opts):
            for room in rooms:
                if room != sid and self.is_sid_room(namespace, room):
                    continue
                self.basic_enter_room(sid, namespace, room)

    def _apply_leave(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        for sid, _ in self._select(namespace, opts):
            for room in rooms:
                self.basic_leave_room(sid, namespace, room)

    async def _apply_disconnect(self, namespace: str, opts: BroadcastOptions, close: bool) -> None:
        server = self.server
        for sid, eio_sid in self._select(namespace, opts):
            if close:
                await server.eio.disconnect(eio_sid)
            else:
                await server.disconnect(sid, namespace=namespace, ignore_queue=True)

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Listen to room events: ``create-room (namespace, room)``, ``delete-room (namespace,
        room)``, ``join-room (namespace, room, sid)``, ``leave-room (namespace, room, sid)``.

        Use as ``mgr.on("join-room", handler)`` or as a decorator ``@mgr.on("join-room")``.
        Events are local to this node, as in Node. Coroutine handlers run as tasks.
        """
        if event not in ROOM_EVENTS:
            raise ValueError(f"unknown room event {event!r}; expected one of {sorted(ROOM_EVENTS)}")

        def register(func: Handler) -> Handler:
            self._room_listeners.setdefault(event, []).append(func)
            return func

        if handler is not None:
            return register(handler)
        return register

    def _room_event(self, event: str, *args: Any) -> None:
        for listener in self._room_listeners.get(event, ()):
            try:
                result = listener(*args)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                self.logger.exception("room event listener for %s failed", event)

    def basic_enter_room(
        self, sid: str, namespace: str, room: str | None, eio_sid: str | None = None
    ) -> None:
        if room is None:
            super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
            return
        rooms = self.rooms.get(namespace)
        created = rooms is None or room not in rooms
        joined = created or sid not in rooms[room]
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if joined:
            self._sid_rooms.setdefault(namespace, {}).setdefault(sid, set()).add(room)
        if self._room_listeners:
            if created:
                self._room_event("create-room", namespace, room)
            if joined:
                self._room_event("join-room", namespace, room, sid)

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        rooms = self.rooms.get(namespace, {})
        members = rooms.get(room)
        was_member = members is not None and sid in members
        super().basic_leave_room(sid, namespace, room)
        if room is None or not was_member:
            return
        sid_rooms = self._sid_rooms.get(namespace, {}).get(sid)
        if sid_rooms is not None:
            sid_rooms.discard(room)
        if self._room_listeners:
            self._room_event("leave-room", namespace, room, sid)
            if room not in self.rooms.get(namespace, {}):
                self._room_event("delete-room", namespace, room)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        # Same effect as the base class, but rooms are left through the reverse index: the
        # base class scans every room of the namespace, quadratic when many sockets leave.
        self._socket_meta.pop((namespace, sid), None)
        self._handshakes.pop((namespace, sid), None)
        self._acks.pop(sid, None)
        if self._recovery is not None:
            self._recovery.forget(namespace, sid)
        if namespace not in self.rooms:
            return
        for room in list(self._sid_rooms.get(namespace, {}).get(sid, ())):
            self.basic_leave_room(sid, namespace, room)
        self._sid_rooms.get(namespace, {}).pop(sid, None)
        if compat.forget_pending(self, sid, namespace):
            self.basic_leave_room(sid, namespace, None)
        else:
            super().basic_disconnect(sid, namespace, **kwargs)

    def get_rooms(self, sid: str, namespace: str) -> list[str]:
        return list(self._sid_rooms.get(namespace, {}).get(sid, ()))

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        auth = self._pending_auth.get((eio_sid, namespace))
        recovery = self._recovery
        sid: str | None = None
        if recovery is not None:
            taken = await recovery.take(namespace, auth)
            if taken is not None:
                sid = await self._resume(eio_sid, namespace, *taken, recovery)
        if sid is None:
            sid = await super().pre_connect(eio_sid, namespace)
            if sid is not None and recovery is not None:
                recovery.assign_pid(namespace, sid)
        if sid is not None:
            self._socket_meta[(namespace, sid)] = (int(time.time() * 1000), auth)
        return sid

    async def _local_socket_details(
        self, namespace: str, opts: BroadcastOptions
    ) -> list[dict[str, Any]]:
        """Node's description of each selected local socket (``fetch_sockets``)."""
        return await self._use_local_socket_details(namespace, opts, _as_they_are)

    async def _use_local_socket_details(
        self,
        namespace: str,
        opts: BroadcastOptions,
        use: Callable[[list[dict[str, Any]]], _T],
    ) -> _T:
        """What ``use`` makes of Node's description of each selected local socket. With
        thousands of sockets it runs with the garbage collector paused, and the
        descriptions are freed before the collector runs again (unless ``use`` keeps them):
        it never walks those short-lived objects."""
        selected = self._select(namespace, opts)
        read_session = compat.session_reader(self.server, namespace)
        if read_session is None:
            sessions = [await self._session(namespace, sid) for sid, _ in selected]
        else:
            sessions = [_session_or_empty(read_session, eio_sid) for _, eio_sid in selected]
        if len(selected) < MANY_SOCKETS:
            return use(self._describe(namespace, selected, sessions))
        with protocol.gc_paused():
            return use(self._describe(namespace, selected, sessions))

    def _describe(
        self, namespace: str, selected: list[tuple[str, str]], sessions: list[Any]
    ) -> list[dict[str, Any]]:
        handshake_of = self._handshake_of
        rooms_of = self._sid_rooms.get(namespace, {})
        return [
            {
                "id": sid,
                "handshake": handshake_of(namespace, sid),
                "rooms": list(rooms_of.get(sid, ())),
                "data": data,
            }
            for (sid, _), data in zip(selected, sessions, strict=True)
        ]

    # ------------------------------------------------------------------ connection recovery

    def is_recovered(self, sid: str, namespace: str | None = None) -> bool:
        """Whether the socket ``sid`` (of this node) got its previous session back when it
        connected: same sid, rooms and session, and the events it missed (Node's
        ``socket.recovered``). Always False when connection state recovery is off."""
        recovery = self._recovery
        return recovery is not None and recovery.is_recovered(namespace or "/", sid)

    async def _resume(
        self,
        eio_sid: str,
        namespace: str,
        session: Session,
        offset: str,
        recovery: ConnectionRecovery,
    ) -> str | None:
        """Register a connecting socket under its restored session and send it what it
        missed; None when it cannot be (its old sid is still here): it then starts afresh.

        The socket joins its rooms first and what is delivered to it is held back while the
        log is read from ``offset``; then the missed packets go out, followed by the held ones
        the log did not have. So nothing published meanwhile is lost or sent twice, however
        far behind the node's own reading of the log is.
        """
        sid = session.sid
        if not compat.pre_connect_as(self, eio_sid, namespace, sid):
            self.logger.info("session %s of %s cannot be resumed here", sid, namespace)
            return None
        for room in session.rooms:
            if room == sid:
                continue
            try:
                self.basic_enter_room(sid, namespace, room)
            except ValueError:
                pass  # the sid room of a socket connected meanwhile
        recovery.resumed(namespace, session)
        recovery.hold_back(namespace, sid)
        try:
            missed = await recovery.replay(namespace, session, offset)
        except BaseException:
            recovery.stop_holding(namespace, sid)
            raise
        # nothing awaits from here to the send: the packets keep their order
        packets = recovery.release(namespace, sid, missed)
        if packets and self._delivery is not None:
            encoded = [pkt for args in packets for pkt in self._event_packets(namespace, args)]
            self._delivery.send((eio_sid,), encoded)
        # before the connect handler runs, which may read it
        data = session.data if session.data is not None else {}
        await self.server.save_session(sid, data, namespace=namespace)
        return sid

    def _connect_pid(self, namespace: str, sid: str) -> str | None:
        recovery = self._recovery
        return recovery.pid(namespace, sid) if recovery is not None else None

    async def _on_transport_gone(self, eio_sid: str, namespace: str, reason: str) -> None:
        """Store the session of a socket whose connection went away for a reason that may be
        temporary, before python-socketio forgets the socket."""
        recovery = self._recovery
        if recovery is None or reason not in RECOVERABLE_REASONS:
            return
        sid = self.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.is_connected(sid, namespace):
            return
        pid = recovery.pid(namespace, sid)
        if pid is None:
            return
        try:
            data = await self.server.get_session(sid, namespace=namespace)
        except KeyError:
            data = {}
        rooms = self.get_rooms(sid, namespace)
        await recovery.save(namespace, Session(sid, pid, rooms, data))

    def _handshake_of(self, namespace: str, sid: str) -> dict[str, Any]:
        key = (namespace, sid)
        handshake = self._handshakes.get(key)
        if handshake is None:
            issued, auth = self._socket_meta.get(key, (int(time.time() * 1000), None))
            environ = self.server.get_environ(sid, namespace=namespace)
            handshake = build_handshake(environ, issued_ms=issued, auth=auth)
            if key in self._socket_meta:  # a connected socket: forgotten on disconnect
                self._handshakes[key] = handshake
        return handshake

    async def _session(self, namespace: str, sid: str) -> Any:
        try:
            return await self.server.get_session(sid, namespace=namespace)
        except Exception:
            return {}


def _as_they_are(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return details


def _session_or_empty(read_session: Callable[[str], Any], eio_sid: str) -> Any:
    try:
        return read_session(eio_sid)
    except Exception:
        return {}


# json.dumps(..., separators=(",", ":")) as python-socketio calls it
_COMPACT_JSON = protocol.compact_json()


def plain_event_text(packet_class: Any, namespace: str | None, event_args: list[Any]) -> str | None:
    """The text python-socketio's own ``Packet`` encodes an EVENT without binary data to,
    written without its walk of the data for binary values (which costs more than the
    encoding). None when the packet class or its JSON module is not python-socketio's
    default (a msgpack serializer, a custom ``json``), or when the data is not plain JSON
    (bytes, dates): the packet class then encodes it."""
    parts = plain_event_parts(packet_class, namespace, event_args)
    return None if parts is None else parts[0] + parts[1]


def plain_event_parts(
    packet_class: Any, namespace: str | None, event_args: list[Any]
) -> tuple[str, str] | None:
    """:func:`plain_event_text` cut where python-socketio writes an acknowledgement id:
    the type and namespace, then the JSON arguments."""
    # python-socketio's default JSON module is Engine.IO's, whose dumps is the standard one
    if packet_class is not sio_packet.Packet or getattr(packet_class.json, "dumps", None) is not (
        json.dumps
    ):
        return None
    try:
        body: str = _COMPACT_JSON(event_args)
    except (TypeError, ValueError):
        return None
    if namespace is None or namespace == "/":
        return "2", body
    return "2" + namespace + ",", body


def select_sockets(
    rooms: Mapping[str | None, Mapping[str, str]] | None, opts: BroadcastOptions
) -> list[tuple[str, str]]:
    """The (sid, eio_sid) pairs of a namespace's room table (python-socketio's
    ``manager.rooms[namespace]``) that broadcast options select."""
    return list(selected_sockets(rooms, opts).items())


def selected_sockets(
    rooms: Mapping[str | None, Mapping[str, str]] | None, opts: BroadcastOptions
) -> Mapping[str, str]:
    """The sockets broadcast options select in a namespace's room table, sid to eio_sid.

    Often one of the table's own maps, not a copy: read it before anything can join or
    leave a room."""
    if not rooms:
        return {}
    excluded: set[str] = set()
    for room in opts.except_rooms:
        members = rooms.get(room)
        if members:
            excluded.update(members)
    if len(opts.rooms) <= 1:
        members = rooms.get(opts.rooms[0] if opts.rooms else None)
        if not members:
            return {}
        if not excluded:
            return members
        return {sid: eio for sid, eio in members.items() if sid not in excluded}
    selected: dict[str, str] = {}
    for room in opts.rooms:
        members = rooms.get(room)
        if members:
            for sid, eio in members.items():
                if sid not in excluded:
                    selected[sid] = eio
    return selected


def only_sids_of(
    rooms: Mapping[str | None, Mapping[str, str]] | None, opts: BroadcastOptions
) -> bool:
    """Whether every target room of ``opts`` is the sid of a socket in ``rooms`` (a
    namespace's room table): the operation concerns this node only."""
    if not opts.rooms or not rooms:
        return False
    everyone = rooms.get(None)
    if not everyone:
        return False
    return all(room in everyone for room in opts.rooms)


def js_json_compatible(value: Any) -> Any:
    """A copy of ``value`` with datetimes as JavaScript ``Date.toJSON()`` text."""
    if isinstance(value, datetime):
        return protocol.js_date_json(value)
    if isinstance(value, list | tuple):
        return [js_json_compatible(item) for item in value]
    if isinstance(value, dict):
        return {key: js_json_compatible(item) for key, item in value.items()}
    return value


def _cluster_ack(func: Callable[[tuple[Any, ...]], None]) -> Callable[[tuple[Any, ...]], None]:
    """Mark a callback as taking the reply's arguments as one tuple."""

    def ack(args: tuple[Any, ...]) -> None:
        func(args)

    ack._cluster_ack = True  # type: ignore[attr-defined]
    return ack
