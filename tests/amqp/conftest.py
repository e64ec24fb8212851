"""Fixtures of the RabbitMQ tests: transports of one cluster on the private broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from socketio_cloud.protocol import ClusterMessage, new_uid
from socketio_cloud.transports.amqp import AmqpTransport
from tests.backends.amqp import AmqpBackend
from tests.support.services import wait_until


class Recorder:
    """A started transport and every message it handed to the core."""

    def __init__(self, transport: AmqpTransport, uid: str) -> None:
        self.transport = transport
        self.uid = uid
        self.messages: list[ClusterMessage] = []

    async def on_message(self, message: ClusterMessage, offset: str | None) -> None:
        self.messages.append(message)

    def events(self) -> list[Any]:
        """The first argument of every broadcast packet received."""
        return [
            m.data["packet"]["data"][1]
            for m in self.messages
            if m.data is not None and "packet" in m.data and isinstance(m.data["packet"], dict)
        ]

    async def wait_for(self, predicate: Callable[[], object], what: str) -> None:
        await wait_until(predicate, 10, what)


@pytest.fixture
async def amqp_nodes(
    backend_amqp: AmqpBackend,
) -> AsyncIterator[Callable[..., Any]]:
    """``await amqp_nodes(n, **options)``: n started transports serving "/"."""
    started: list[AmqpTransport] = []

    async def make(count: int, **options: Any) -> list[Recorder]:
        recorders = []
        for _ in range(count):
            backend = AmqpBackend(backend_amqp.server, **options)
            backend.exchange, backend.queue_prefix = (
                backend_amqp.exchange,
                backend_amqp.queue_prefix,
            )
            transport = backend.make_transport()
            uid = new_uid()
            recorder = Recorder(transport, uid)
            await transport.start(uid, recorder.on_message)
            await transport.add_namespace("/")
            started.append(transport)
            recorders.append(recorder)
        return recorders

    yield make
    for transport in started:
        with contextlib.suppress(Exception):
            await transport.close()
    await backend_amqp.cleanup()
