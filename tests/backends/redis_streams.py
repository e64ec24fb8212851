"""Redis Streams (the Redis on 127.0.0.1:6379) as a behaviour-suite backend.

Each backend object is one cluster: a stream and a channel prefix of its own, so tests never
see each other's messages; ``cleanup()`` deletes the stream.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from redis.asyncio import Redis

from socketio_cloud.transports.redis_streams import (
    RedisStreamsEmitter,
    RedisStreamsManager,
    RedisStreamsTransport,
)
from tests.support.services import port_open, require_service

REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"


def require_redis() -> None:
    """Skip (fail in CI) when no Redis listens on 127.0.0.1:6379."""
    require_service(port_open(REDIS_PORT), f"no Redis on 127.0.0.1:{REDIS_PORT}")


class RedisStreamsBackend:
    name = "redis_streams"

    def __init__(self, url: str = REDIS_URL) -> None:
        self.url = url
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


@pytest.fixture
def backend_redis_streams() -> Iterator[RedisStreamsBackend]:
    require_redis()
    yield RedisStreamsBackend()
