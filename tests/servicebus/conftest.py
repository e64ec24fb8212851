"""Fixtures of the Service Bus tests: a cluster of the test's own on the session's double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from socketio_cloud.protocol import ClusterMessage, new_uid
from tests.backends.servicebus import ServiceBusBackend

pytestmark = pytest.mark.servicebus


class Inbox:
    """An ``on_message`` handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[ClusterMessage] = []

    async def __call__(self, message: ClusterMessage, offset: str | None) -> None:
        self.messages.append(message)

    def from_uid(self, uid: str) -> list[ClusterMessage]:
        return [message for message in self.messages if message.uid == uid]


StartNode = Callable[..., Awaitable[tuple[Any, Inbox]]]


@pytest.fixture
async def sb_cluster(backend_servicebus: ServiceBusBackend) -> AsyncIterator[ServiceBusBackend]:
    """A topic and prefix of the test's own; deleted afterwards (a test that stops the
    double starts it again itself)."""
    yield backend_servicebus
    await backend_servicebus.cleanup()


@pytest.fixture
async def start_node(sb_cluster: ServiceBusBackend) -> AsyncIterator[StartNode]:
    """Start transports of the test's cluster, each with an :class:`Inbox`; closed after."""
    transports: list[Any] = []

    async def start(uid: str | None = None, **options: Any) -> tuple[Any, Inbox]:
        transport = sb_cluster.make_transport(**options)
        transports.append(transport)
        inbox = Inbox()
        await transport.start(uid or new_uid(), inbox)
        return transport, inbox

    yield start
    for transport in transports:
        await transport.close()
