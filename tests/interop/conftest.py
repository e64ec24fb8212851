"""A mixed cluster per test: one Node server on ``@socket.io/redis-streams-adapter`` and two
Python servers on :class:`RedisStreamsManager`, sharing a stream of their own on the Redis
at 127.0.0.1:6379."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.interop.harness import MixedCluster, NodeProcess, PythonServer, node_missing
from tests.support.services import require_service, wait_until


async def _delete_stream(name: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.delete(name)
    finally:
        await client.aclose()


@pytest.fixture
async def mixed_cluster() -> AsyncIterator[MixedCluster]:
    require_redis()
    missing = node_missing()
    require_service(missing is None, missing or "")
    tag = secrets.token_hex(4)
    names = {"stream_name": f"sio-interop-{tag}", "channel_prefix": f"sio-interop-{tag}"}
    options: dict[str, Any] = {
        "redisUrl": REDIS_URL,
        "streamName": names["stream_name"],
        "channelPrefix": names["channel_prefix"],
        "name": "node-1",
    }
    cluster = MixedCluster(
        node=NodeProcess("streams_server.js", options),
        py1=PythonServer("py-1", url=REDIS_URL, **names),
        py2=PythonServer("py-2", url=REDIS_URL, **names),
        names=names,
        redis_url=REDIS_URL,
    )
    try:
        await cluster.node.start()
        await cluster.py1.start()
        await cluster.py2.start()

        async def everyone_counted() -> bool:
            return (
                await cluster.node_count() == 3
                and await cluster.py1.manager.server_count() == 3
                and await cluster.py2.manager.server_count() == 3
            )

        await wait_until(everyone_counted, message="three servers in the cluster")
        yield cluster
    finally:
        for client in cluster.clients:
            await client.close()
        for emitter in cluster.emitters:
            await emitter.close()
        await cluster.py1.stop()
        await cluster.py2.stop()
        await cluster.node.stop()
        await _delete_stream(names["stream_name"])
