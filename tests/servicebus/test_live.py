"""Against a real Service Bus namespace, only when ``SERVICEBUS_CONNECTION_STRING`` is set
(a key with the Manage claim); skipped otherwise, in CI too.

    export SERVICEBUS_CONNECTION_STRING='Endpoint=sb://<ns>.servicebus.windows.net/;...'
    PYTHONPATH=adapters:. python -m pytest tests/servicebus/test_live.py -v

It creates a topic ``sio-live-<random>``, runs two nodes and an emitter on it, runs the
cleanup in dry-run mode and deletes the topic at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest

from socketio_cloud.protocol import ClusterMessage, MessageType, new_uid
from tests.support.services import wait_until

CONNECTION_STRING = os.environ.get("SERVICEBUS_CONNECTION_STRING", "")

pytestmark = [
    pytest.mark.servicebus,
    pytest.mark.skipif(not CONNECTION_STRING, reason="SERVICEBUS_CONNECTION_STRING is not set"),
]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[ClusterMessage] = []

    async def __call__(self, message: ClusterMessage, offset: str | None) -> None:
        self.messages.append(message)


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    name = f"sio-live-{secrets.token_hex(4)}"
    yield name
    async with ServiceBusAdministrationClient.from_connection_string(CONNECTION_STRING) as admin:
        try:
            await admin.delete_topic(name)
        except ResourceNotFoundError:
            pass


async def test_two_nodes_and_an_emitter_on_a_real_namespace(topic: str) -> None:
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    from socketio_cloud.cleanup.azure import cleanup
    from socketio_cloud.transports.servicebus import ServiceBusEmitter, ServiceBusTransport

    a = ServiceBusTransport(connection_string=CONNECTION_STRING, topic_name=topic)
    b = ServiceBusTransport(connection_string=CONNECTION_STRING, topic_name=topic)
    inbox_a, inbox_b = Inbox(), Inbox()
    uid_a, uid_b = new_uid(), new_uid()
    try:
        await a.start(uid_a, inbox_a)
        await b.start(uid_b, inbox_b)
        await a.publish(ClusterMessage(MessageType.HEARTBEAT, uid_a, "/"))
        await wait_until(lambda: inbox_b.messages, timeout=30, message="a's heartbeat at b")
        await b.publish_response(uid_a, ClusterMessage(MessageType.HEARTBEAT, uid_b, "/"))
        await wait_until(lambda: inbox_a.messages, timeout=30, message="b's response at a")
        assert [m.uid for m in inbox_a.messages] == [uid_b]
        emitter = ServiceBusEmitter(connection_string=CONNECTION_STRING, topic_name=topic)
        try:
            await emitter.emit("hello", "live")
        finally:
            await emitter.close()
        await wait_until(
            lambda: any(m.uid == "emitter" for m in inbox_b.messages),
            timeout=30,
            message="the emitter's broadcast",
        )
        async with ServiceBusAdministrationClient.from_connection_string(
            CONNECTION_STRING
        ) as admin:
            report = await cleanup(admin, topic_name=topic, dry_run=True)
        assert report.ok, report.errors
        assert report.deleted == []  # both nodes are alive
        assert {d.name for d in report.kept} == {a.subscription_name, b.subscription_name}
    finally:
        await a.close()
        await b.close()
