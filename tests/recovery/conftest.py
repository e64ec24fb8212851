"""Connection state recovery with real ``socket.io-client`` sockets (one Node process holding
them all), Python servers on :class:`RedisStreamsManager` with recovery on, and Node servers
(socket.io 4.8 + ``@socket.io/redis-streams-adapter`` 0.3.1 with ``connectionStateRecovery``),
all on one stream and one session key prefix of their own per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from redis.asyncio import Redis

from socketio_cloud.transports.redis_streams import RedisStreamsManager
from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.interop.harness import NodeProcess, node_missing
from tests.support.services import InProcessServer, require_service, wait_until


class RecoveringServer:
    """A python-socketio server with connection state recovery on, served by uvicorn.

    Client events (each acknowledged): ``join (room)``, ``remember (key, value)`` in the session,
    ``whoami`` -> ``{sid, rooms, data, recovered}``, ``to_self (value)`` emits ``self`` to
    the socket itself. The connect handler records ``(sid, recovered)``. Every other
    namespace is accepted, without handlers.
    """

    def __init__(self, name: str, **manager_options: Any) -> None:
        self.name = name
        self.manager = RedisStreamsManager(connection_state_recovery=True, **manager_options)
        self.sio = socketio.AsyncServer(
            async_mode="asgi", client_manager=self.manager, namespaces="*"
        )
        self.connects: list[tuple[str, bool]] = []
        self._server: InProcessServer | None = None
        sio = self.sio

        @sio.event
        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            self.connects.append((sid, self.manager.is_recovered(sid)))

        @sio.event
        async def join(sid: str, room: str) -> bool:
            await sio.enter_room(sid, room)
            return True

        @sio.event
        async def remember(sid: str, key: str, value: Any) -> bool:
            async with sio.session(sid) as session:
                session[key] = value
            return True

        @sio.event
        async def whoami(sid: str) -> dict[str, Any]:
            return {
                "sid": sid,
                "rooms": sorted(sio.rooms(sid)),
                "data": await sio.get_session(sid),
                "recovered": self.manager.is_recovered(sid),
            }

        @sio.event
        async def to_self(sid: str, value: Any) -> bool:
            await sio.emit("self", value, to=sid)
            return True

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.port}"

    async def start(self) -> None:
        await self.manager.ready()
        self._server = InProcessServer(socketio.ASGIApp(self.sio), self.name)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        await self.manager.close()


@dataclass
class RecoveryCluster:
    """Servers sharing one stream and one session key prefix, and a client process."""

    stream_name: str
    session_key_prefix: str
    redis: Redis
    clients: NodeProcess
    servers: list[RecoveringServer] = field(default_factory=list)
    nodes: list[NodeProcess] = field(default_factory=list)

    async def python_server(self, name: str, **options: Any) -> RecoveringServer:
        server = RecoveringServer(
            name,
            url=REDIS_URL,
            stream_name=self.stream_name,
            channel_prefix=self.stream_name,
            session_key_prefix=self.session_key_prefix,
            **options,
        )
        self.servers.append(server)
        await server.start()
        return server

    async def node_server(self, name: str) -> NodeProcess:
        node = NodeProcess(
            "streams_server.js",
            {
                "redisUrl": REDIS_URL,
                "streamName": self.stream_name,
                "channelPrefix": self.stream_name,
                "sessionKeyPrefix": self.session_key_prefix,
                "recovery": True,
                "name": name,
            },
        )
        self.nodes.append(node)
        await node.start()
        return node

    async def stored_sessions(self) -> list[bytes]:
        return [key async for key in self.redis.scan_iter(match=f"{self.session_key_prefix}*")]

    async def held(self, keys: list[str], disconnected: Callable[[], Awaitable[bool]]) -> None:
        """Drop the sockets' transports and wait until the servers stored their sessions."""
        await self.clients.call("hold", keys=keys)
        await wait_until(disconnected, message="the servers to see the sockets go")


@pytest.fixture
async def recovery() -> AsyncIterator[RecoveryCluster]:
    require_redis()
    missing = node_missing()
    require_service(missing is None, missing or "")
    tag = secrets.token_hex(4)
    redis = Redis.from_url(REDIS_URL)
    clients = NodeProcess("recovery_clients.js", {})
    cluster = RecoveryCluster(f"sio-csr-{tag}", f"sio-csr-{tag}:session:", redis, clients)
    try:
        await clients.start()
        yield cluster
    finally:
        await clients.stop()
        for server in cluster.servers:
            await server.stop()
        for node in cluster.nodes:
            await node.stop()
        keys = await cluster.stored_sessions()
        await redis.delete(cluster.stream_name, *keys)
        await redis.aclose()
