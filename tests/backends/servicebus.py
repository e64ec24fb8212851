"""Azure Service Bus (the loopback double of ``tests/servicebus_double``) as a backend of the
behaviour and transport contract suites.

Each backend object is one cluster: a topic and a subscription prefix of its own on the
session's double; ``cleanup()`` deletes the topic with whatever subscriptions aborted nodes
left behind.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import msgpack
import pytest

from tests.support.services import require_service

try:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.servicebus import ServiceBusMessage
    from azure.servicebus.aio import ServiceBusClient
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    from socketio_cloud.brokers.servicebus import node_subscription_name
    from socketio_cloud.transports.servicebus import (
        ServiceBusEmitter,
        ServiceBusManager,
        ServiceBusTransport,
    )

    HAVE_SDK = True
except ImportError:  # the azure extra is not installed
    HAVE_SDK = False

if TYPE_CHECKING:
    from tests.servicebus_double.double import ServiceBusDoubleThread

# Short receive waits: closing a node waits for nothing, but recovery tests go faster.
TEST_MAX_WAIT_TIME = 1.0


class ServiceBusBackend:
    name = "servicebus"

    def __init__(self, double: ServiceBusDoubleThread) -> None:
        self.double = double
        tag = secrets.token_hex(4)
        self.topic_name = f"sio-test-{tag}"
        self.subscription_prefix = f"sio-test-{tag}"

    def admin_options(self) -> dict[str, Any]:
        return {"connection_verify": self.double.ca_file}

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Transport options for this cluster on the double."""
        return {
            "connection_string": self.double.connection_string,
            "admin_connection_string": self.double.admin_connection_string,
            "admin_options": self.admin_options(),
            "topic_name": self.topic_name,
            "subscription_prefix": self.subscription_prefix,
            "max_wait_time": TEST_MAX_WAIT_TIME,
            **overrides,
        }

    def make_transport(self, **overrides: Any) -> ServiceBusTransport:
        return ServiceBusTransport(**self.options(**overrides))

    def make_manager(self, **cluster_options: Any) -> ServiceBusManager:
        """A node of this cluster; transport options given here override the defaults."""
        return ServiceBusManager(**{**self.options(), **cluster_options})

    def make_emitter(self, **overrides: Any) -> ServiceBusEmitter:
        options = {
            "connection_string": self.double.connection_string,
            "topic_name": self.topic_name,
            **overrides,
        }
        return ServiceBusEmitter(**options)

    def admin(self) -> ServiceBusAdministrationClient:
        return ServiceBusAdministrationClient.from_connection_string(
            self.double.admin_connection_string, **self.admin_options()
        )

    def subscription_name(self, uid: str) -> str:
        return node_subscription_name(self.subscription_prefix, uid)

    async def node_resources(self, uid: str) -> list[str]:
        """The node's subscription, if it still exists."""
        name = self.subscription_name(uid)
        return [name] if name in self.double.topics().get(self.topic_name, []) else []

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Service Bus unreachable: the double stops (keeping its entities) and comes back."""
        await self.double.stop()
        try:
            yield
        finally:
            await self.double.start()

    async def send_raw(self, messages: list[ServiceBusMessage]) -> None:
        """Put arbitrary messages on the cluster's topic."""
        async with ServiceBusClient.from_connection_string(self.double.connection_string) as sb:
            async with sb.get_topic_sender(self.topic_name) as sender:
                for message in messages:
                    await sender.send_messages(message)

    async def publish_malformed(self) -> None:
        """Messages a buggy or hostile peer could send to the topic."""
        peer = "0123456789abcdef"
        props = {"nsp": "/", "uid": peer}
        envelope = {"type": 3, "uid": peer, "nsp": "/", "data": {"packet": 5}}
        cases: list[tuple[bytes, dict[str, Any] | None]] = [
            (b"\xc1 not msgpack", props),
            (msgpack.packb(envelope), props),
            (msgpack.packb({"type": 99, "uid": peer, "nsp": "/"}), props),
            (msgpack.packb([1, 2, 3]), props),
            (b"", props),
            (msgpack.packb(None), {**props, "payloadBlob": "someone-elses/blob"}),
            (msgpack.packb({"type": 2, "uid": peer, "nsp": "/"}), {"nsp": 5, "uid": peer}),
            (msgpack.packb({"type": 2, "uid": peer, "nsp": "/"}), None),
        ]
        await self.send_raw(
            [ServiceBusMessage(body, application_properties=p) for body, p in cases]  # type: ignore[arg-type]
        )

    async def cleanup(self) -> None:
        async with self.admin() as admin:
            try:
                await admin.delete_topic(self.topic_name)
            except ResourceNotFoundError:
                pass


@pytest.fixture
def backend_servicebus(request: pytest.FixtureRequest) -> Iterator[ServiceBusBackend]:
    require_service(HAVE_SDK, "azure-servicebus is not installed (pip install -e '.[azure]')")
    try:
        double = request.getfixturevalue("servicebus_double")
    except pytest.FixtureLookupError:
        require_service(False, "the Service Bus double (tests/servicebus_double) is missing")
    yield ServiceBusBackend(double)
