"""A two-node cluster of the Flask-SocketIO example per async mode and broker.

Each (mode, broker) pair gets one cluster for its module; the last test of the module stops
it with SIGTERM. Redis Streams uses a stream of its own; AWS uses the session's moto server
(the nodes reach it over HTTP with dummy credentials from the environment).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.support.moto import AWS_REGION, DUMMY_CREDENTIALS, MotoServer
from tests.sync.cluster import ExampleNode, start_node, wait_for_servers

MODES = ("threading", "eventlet", "gevent")
BROKERS = ("redis", "aws")


@pytest.fixture(scope="session")
def sync_modes_available() -> None:
    pytest.importorskip("flask_socketio", reason="the flask extra is not installed")


class ExampleCluster:
    """Two nodes of the example on one broker, and how to inspect that broker."""

    def __init__(self, mode: str, broker: str, env: dict[str, str], moto: MotoServer | None):
        self.mode = mode
        self.broker = broker
        self.env = env
        self.moto = moto
        self.nodes: list[ExampleNode] = []

    def node_queues(self) -> list[str]:
        """The per-node SQS queues of this cluster (AWS)."""
        assert self.moto is not None
        sqs = self.moto.client("sqs")
        urls: list[str] = sqs.list_queues(QueueNamePrefix=self.env["QUEUE_PREFIX"]).get(
            "QueueUrls", []
        )
        return urls


def _broker_env(broker: str, request: pytest.FixtureRequest) -> tuple[dict[str, str], Any]:
    tag = f"sio-sync-{secrets.token_hex(4)}"
    if broker == "redis":
        require_redis()
        return {
            "BROKER": "redis",
            "REDIS_URL": REDIS_URL,
            "STREAM_NAME": tag,
            "CHANNEL_PREFIX": tag,
        }, None
    moto: MotoServer = request.getfixturevalue("moto_server")
    return {
        "BROKER": "aws",
        "TOPIC_NAME": tag,
        "QUEUE_PREFIX": tag,
        "SQS_WAIT_TIME": "1",
        "AWS_ENDPOINT_URL": moto.endpoint_url,
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
    }, moto


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((mode, broker), id=f"{mode}-{broker}", marks=getattr(pytest.mark, broker))
        for mode in MODES
        for broker in BROKERS
    ],
)
def example_cluster(
    request: pytest.FixtureRequest,
    sync_modes_available: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ExampleCluster]:
    mode, broker = request.param
    pytest.importorskip(mode if mode != "threading" else "simple_websocket")
    env, moto = _broker_env(broker, request)
    cluster = ExampleCluster(mode, broker, env, moto)
    workdir: Path = tmp_path_factory.mktemp(f"{mode}-{broker}")
    try:
        cluster.nodes = [start_node(f"n{i}", mode, env, workdir) for i in (1, 2)]

        async def ready() -> None:
            await asyncio.gather(*(node.wait_ready() for node in cluster.nodes))
            await asyncio.gather(*(wait_for_servers(node, 2) for node in cluster.nodes))

        asyncio.run(ready())
        yield cluster
    finally:
        for node in cluster.nodes:
            node.terminate()
        if broker == "redis":
            _delete_redis_stream(env["STREAM_NAME"])


def _delete_redis_stream(name: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(name)
    finally:
        client.close()
