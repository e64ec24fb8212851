"""Fixtures of the Pub/Sub transport tests (the emulator and clusters come from
tests/backends/pubsub.py, registered in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from socketio_cloud.protocol import new_uid
from socketio_cloud.transports.pubsub import PubSubTransport
from tests.backends.pubsub import PubSubBackend, Received

StartNode = Callable[..., Awaitable[tuple[PubSubTransport, Received]]]


@pytest.fixture
async def start_node(pubsub_cluster: PubSubBackend) -> AsyncIterator[StartNode]:
    """Start transports of the test's cluster, each with a :class:`Received`; closed after."""
    transports: list[PubSubTransport] = []

    async def start(uid: str | None = None, **options: Any) -> tuple[PubSubTransport, Received]:
        transport = pubsub_cluster.make_transport(**options)
        transports.append(transport)
        inbox = Received()
        await transport.start(uid or new_uid(), inbox)
        return transport, inbox

    yield start
    for transport in transports:
        await transport.close()
