"""RabbitMQ (AMQP 0-9-1) as a behaviour-suite and contract-suite backend.

The broker is a private RabbitMQ node started once per test session on free ports in a
temporary directory (:mod:`tests.amqp.rabbitmq_server`), so tests may count queue contents
and restart it without touching the machine's broker. Each backend object is one cluster:
an exchange and a queue prefix of its own; ``cleanup()`` deletes the exchange (node queues
are deleted by their nodes, or expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import msgpack
import pytest

from socketio_cloud.brokers import amqp as names
from socketio_cloud.transports.amqp import AmqpEmitter, AmqpManager, AmqpTransport
from tests.amqp.rabbitmq_server import RabbitMQServer, find_script
from tests.support.services import require_service


@pytest.fixture(scope="session")
def amqp_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    """A private RabbitMQ node for the whole session, stopped at the end."""
    installed = find_script("rabbitmq-server") is not None and find_script("rabbitmqctl")
    require_service(bool(installed), "rabbitmq-server is not installed")
    server = RabbitMQServer(Path(tmp_path_factory.mktemp("rabbitmq")))
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        require_service(False, f"cannot start a private RabbitMQ node: {exc}")
    try:
        yield server
    finally:
        server.stop()


class AmqpBackend:
    name = "amqp"

    def __init__(self, server: RabbitMQServer, **transport_options: Any) -> None:
        self.server = server
        self.url = server.url
        tag = secrets.token_hex(4)
        self.exchange = f"sio-test-{tag}"
        self.queue_prefix = f"sio-test-{tag}"
        self.transport_options = transport_options

    def _options(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "exchange": self.exchange,
            "queue_prefix": self.queue_prefix,
            "connect_timeout": 5.0,
            **self.transport_options,
        }

    def make_manager(self, **cluster_options: Any) -> AmqpManager:
        return AmqpManager(**self._options(), **cluster_options)

    def make_emitter(self) -> AmqpEmitter:
        return AmqpEmitter(url=self.url, exchange=self.exchange, connect_timeout=5.0)

    def make_transport(self) -> AmqpTransport:
        return AmqpTransport(**self._options())

    async def node_resources(self, uid: str) -> list[str]:
        """The node's queue, if it still exists."""
        name = names.queue_name(self.queue_prefix, uid)
        return [name] if name in self.server.queue_stats() else []

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """RabbitMQ unreachable: the private node stops and starts again."""
        await asyncio.to_thread(self.server.stop)
        try:
            yield
        finally:
            await asyncio.to_thread(self.server.start)

    async def publish_malformed(self) -> None:
        """Bodies a buggy or hostile peer could publish on the namespace's key."""
        connection = await aio_pika.connect(self.url)
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            for body in (
                b"\xc1 not msgpack",
                msgpack.packb({"type": 7, "uid": "x", "nsp": "/", "data": {"opts": 1}}),
                msgpack.packb({"type": 3, "uid": "x", "nsp": "/", "data": {"packet": 5}}),
                msgpack.packb({"type": 99, "uid": "x", "nsp": "/"}),
                msgpack.packb([1, 2, 3]),
                b"",
            ):
                await exchange.publish(aio_pika.Message(body), routing_key=names.all_key("/"))
        finally:
            await connection.close()

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(self.url)
        try:
            channel = await connection.channel()
            await channel.exchange_delete(self.exchange)
        finally:
            await connection.close()


@pytest.fixture
def backend_amqp(amqp_broker: RabbitMQServer) -> AmqpBackend:
    return AmqpBackend(amqp_broker)
