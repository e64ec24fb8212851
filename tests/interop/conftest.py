"""A mixed cluster per test: one Node server and two Python servers of one broker, on Redis
Streams (the Redis at 127.0.0.1:6379) or PostgreSQL (the session's private server), with
names of their own."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from socketio_cloud.transports.postgres import PostgresEmitter, PostgresManager
from tests.backends.postgres import PostgresServer
from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.interop.harness import (
    POSTGRES_PACKAGES,
    MixedCluster,
    NodeProcess,
    PythonServer,
    node_missing,
)
from tests.support.services import require_service, wait_until


async def _delete_stream(name: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.delete(name)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def redis_streams_cluster(request: pytest.FixtureRequest) -> AsyncIterator[MixedCluster]:
    """One Node server (redis-streams-adapter 0.3.1) and two Python servers, on Redis."""
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


@contextlib.asynccontextmanager
async def postgres_cluster(request: pytest.FixtureRequest) -> AsyncIterator[MixedCluster]:
    """One Node server (postgres-adapter 0.5) and two Python servers sharing a channel prefix
    and an attachments table of their own on the session's private PostgreSQL."""
    postgres_server: PostgresServer = request.getfixturevalue("postgres_server")
    missing = node_missing(POSTGRES_PACKAGES)
    require_service(missing is None, missing or "")
    tag = secrets.token_hex(4)
    dsn = postgres_server.dsn
    names = {"channel_prefix": f"sio-interop-{tag}", "table_name": f"sio_interop_{tag}"}

    def manager() -> PostgresManager:
        return PostgresManager(dsn=dsn, **names)

    cluster = MixedCluster(
        node=NodeProcess(
            "postgres_server.js",
            {
                "dsn": dsn,
                "channelPrefix": names["channel_prefix"],
                "tableName": names["table_name"],
                "name": "node-1",
            },
        ),
        py1=PythonServer("py-1", manager()),
        py2=PythonServer("py-2", manager()),
        names=names,
        make_emitter=lambda: PostgresEmitter(dsn=dsn, **names),
    )
    try:
        # Node creates no table: the first Python node does (create_table=True)
        await cluster.py1.start()
        await cluster.node.start()
        await cluster.py2.start()

        async def everyone_counted() -> bool:
            return (
                await cluster.node_count() == 3
                and await cluster.py1.manager.server_count() == 3
                and await cluster.py2.manager.server_count() == 3
            )

        await wait_until(everyone_counted, 15, "three servers in the cluster")
        yield cluster
    finally:
        for client in cluster.clients:
            await client.close()
        for emitter in cluster.emitters:
            await emitter.close()
        await cluster.py1.stop()
        await cluster.py2.stop()
        await cluster.node.stop()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"DROP TABLE IF EXISTS {names['table_name']}")
        finally:
            await conn.close()


@pytest.fixture
async def mixed_cluster(request: pytest.FixtureRequest) -> AsyncIterator[MixedCluster]:
    """The Redis Streams mixed cluster (modules of one broker override this fixture)."""
    async with redis_streams_cluster(request) as cluster:
        yield cluster
