"""Redis Streams as a behaviour-suite backend: a private ``redis-server`` of the session (the
machine's Redis on 127.0.0.1:6379 when there is no binary), so an outage can be staged.

Each backend object is one cluster: a stream and a channel prefix of its own, so tests never
see each other's messages; ``cleanup()`` deletes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import msgpack
import pytest
from redis.asyncio import Redis

from socketio_cloud import protocol
from socketio_cloud.protocol import ClusterMessage
from socketio_cloud.transports.redis_streams import (
    RedisStreamsEmitter,
    RedisStreamsManager,
    RedisStreamsTransport,
)
from tests.redis.redis_server import RedisServer
from tests.support.services import port_open, require_service

REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"


def require_redis() -> None:
    """Skip (fail in CI) when no Redis listens on 127.0.0.1:6379."""
    require_service(port_open(REDIS_PORT), f"no Redis on 127.0.0.1:{REDIS_PORT}")


@contextlib.asynccontextmanager
async def receiver_and_sender(
    names: dict[str, str],
    on_message: Callable[[ClusterMessage, str | None], Awaitable[None]],
    **receiver_options: object,
) -> AsyncIterator[tuple[RedisStreamsTransport, RedisStreamsTransport]]:
    """A node serving "/" that hands what it receives to ``on_message``, and a publisher."""
    options = {"url": REDIS_URL, **names, **receiver_options}
    receiver = RedisStreamsTransport(**options)  # type: ignore[arg-type]
    await receiver.add_namespace("/")
    await receiver.start(protocol.new_uid(), on_message)
    sender = RedisStreamsTransport(url=REDIS_URL, **names)  # type: ignore[arg-type]
    await sender.open_publisher()
    try:
        yield receiver, sender
    finally:
        await sender.close()
        await receiver.close()


class RedisStreamsBackend:
    name = "redis_streams"

    def __init__(self, url: str = REDIS_URL, server: RedisServer | None = None) -> None:
        self.url = url
        self.server = server
        tag = secrets.token_hex(4)
        self.stream_name = f"sio-test-{tag}"
        self.channel_prefix = f"sio-test-{tag}"

    def make_manager(self, **cluster_options: Any) -> RedisStreamsManager:
        return RedisStreamsManager(
            url=self.url,
            stream_name=self.stream_name,
            channel_prefix=self.channel_prefix,
            **cluster_options,
        )

    def make_transport(self) -> RedisStreamsTransport:
        return RedisStreamsTransport(
            url=self.url, stream_name=self.stream_name, channel_prefix=self.channel_prefix
        )

    async def node_resources(self, uid: str) -> list[str]:
        """Redis keeps nothing per node: its subscriptions end with its connection."""
        return []

    def make_emitter(self) -> RedisStreamsEmitter:
        return RedisStreamsEmitter(url=self.url, stream_name=self.stream_name)

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Redis unreachable: the session's private server stops and starts again."""
        if self.server is None:
            pytest.skip("the machine's Redis cannot be stopped by a test")
        await asyncio.to_thread(self.server.stop)
        try:
            yield
        finally:
            await asyncio.to_thread(self.server.start)

    async def publish_malformed(self) -> None:
        """Stream entries and pub/sub payloads that a buggy or hostile peer could send."""
        client = Redis.from_url(self.url)
        try:
            for fields in (
                {"uid": "x", "nsp": "/", "type": "3", "data": "{not json"},
                {"uid": "x", "nsp": "/", "type": "99"},
                {"uid": "x", "nsp": "/", "type": "3", "data": "%%% not base64"},
                {"uid": "x", "nsp": "/", "type": "3", "data": '{"packet":5}'},
                {"nsp": "/", "type": "3", "data": '{"packet":{"type":2,"data":["e"]}}'},
                {"uid": b"\xff\xfe", "nsp": "/", "type": "3"},
                {"uid": "x", "type": "3"},
            ):
                await client.xadd(self.stream_name, fields)  # type: ignore[arg-type]
            channel = f"{self.channel_prefix}#/#"
            for payload in (
                b"\xc1 not msgpack",
                msgpack.packb({"type": 7, "uid": "x", "nsp": "/", "data": {"opts": 1}}),
                msgpack.packb([1, 2, 3]),
                b"",
            ):
                await client.publish(channel, payload)
        finally:
            await client.aclose()

    async def cleanup(self) -> None:
        client = Redis.from_url(self.url)
        try:
            await client.delete(self.stream_name)
        finally:
            await client.aclose()


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | None]:
    """A ``redis-server`` of the session's own, which tests may stop (None without the
    binary: the backend then uses the machine's Redis)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend_redis_streams(private_redis: RedisServer | None) -> Iterator[RedisStreamsBackend]:
    if private_redis is None:
        require_redis()
        yield RedisStreamsBackend()
        return
    yield RedisStreamsBackend(private_redis.url, private_redis)
