"""Real python-socketio nodes under uvicorn on 127.0.0.1 and real websocket clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import socketio
import uvicorn

from socketio_cloud.cluster import ClusterManager
from tests.support.services import bound_port, wait_until

FAST_HEARTBEATS = {"heartbeat_interval": 0.5, "heartbeat_timeout": 1.5}


@dataclass
class Node:
    """One server of the cluster: an AsyncServer with a ClusterManager, served by uvicorn."""

    name: str
    manager: ClusterManager
    sio: socketio.AsyncServer
    server: uvicorn.Server
    task: asyncio.Task[Any] | None = None
    server_events: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return bound_port(self.server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.task = asyncio.ensure_future(self.server.serve())
        await wait_until(lambda: self.server.started, 10, f"{self.name} to listen")
        await self.manager.ready()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.manager.close()
        await self._stop_server()

    async def kill(self) -> None:
        """Vanish without a word, as a crashed process does."""
        await self.manager.abort()
        await self._stop_server()

    async def _stop_server(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        if self.task is not None:
            # asyncio.wait, not wait_for: a server that ignores its cancellation must not
            # hold the test (wait_for waits for the cancelled task to finish)
            _, pending = await asyncio.wait({self.task}, timeout=10)
            for task in pending:
                task.cancel()


def make_node(name: str, manager: ClusterManager, **server_options: Any) -> Node:
    """A node whose connect handler keeps the client's ``auth`` as its session data."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        namespaces="*",
        cors_allowed_origins="*",
        **server_options,
    )
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    # several servers share this process: leave signal handling to the test runner
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    node = Node(name, manager, sio, server)

    @sio.on("connect", namespace="*")
    async def on_connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
        if isinstance(auth, dict):
            await sio.save_session(sid, {"name": auth.get("name")}, namespace=namespace)

    @sio.on("join", namespace="*")
    async def on_join(namespace: str, sid: str, room: str) -> str:
        await sio.enter_room(sid, room, namespace=namespace)
        return "joined"

    return node


class Client:
    """A websocket client that records every event it receives."""

    def __init__(self, name: str, namespaces: list[str]) -> None:
        self.name = name
        self.namespaces = namespaces
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[tuple[str, tuple[Any, ...]]]] = defaultdict(list)
        self.ack_replies: dict[str, Any] = {}
        self.slow_events: dict[str, float] = {}
        self.disconnected: dict[str, asyncio.Event] = {ns: asyncio.Event() for ns in namespaces}
        for ns in namespaces:
            self.sio.on("*", self._recorder(ns), namespace=ns)
            self.sio.on("disconnect", self._on_disconnect(ns), namespace=ns)

    def _recorder(self, namespace: str) -> Any:
        async def record(event: str, *args: Any) -> Any:
            self.events[namespace].append((event, args))
            if event in self.slow_events:
                # python-socketio clients always acknowledge: answer late instead of never
                await asyncio.sleep(self.slow_events[event])
            if event in self.ack_replies:
                reply = self.ack_replies[event]
                return reply(self) if callable(reply) else reply
            return None

        return record

    def _on_disconnect(self, namespace: str) -> Any:
        def disconnected(*args: Any) -> None:
            self.disconnected[namespace].set()

        return disconnected

    def sid(self, namespace: str = "/") -> str:
        sid = self.sio.get_sid(namespace)
        assert sid is not None
        return str(sid)

    def received(self, event: str, namespace: str = "/") -> list[tuple[Any, ...]]:
        return [args for name, args in self.events[namespace] if name == event]

    async def wait_for(self, event: str, count: int = 1, namespace: str = "/") -> None:
        await wait_until(
            lambda: len(self.received(event, namespace)) >= count,
            10,
            f"{self.name} to receive {count} x {event!r} on {namespace}",
        )


async def connect_client(
    node: Node, name: str, namespaces: tuple[str, ...] = ("/",), **kwargs: Any
) -> Client:
    client = Client(name, list(namespaces))
    await client.sio.connect(
        node.url,
        namespaces=list(namespaces),
        transports=["websocket"],
        auth={"name": name},
        wait_timeout=10,
        **kwargs,
    )
    return client
