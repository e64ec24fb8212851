"""The double driven by the real azure-servicebus SDK (messaging and administration clients)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

pytest.importorskip("azure.servicebus")

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.aio.management import ServiceBusAdministrationClient
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusError,
)
from azure.servicebus.management import (
    CorrelationRuleFilter,
    FalseRuleFilter,
    SqlRuleFilter,
)

from tests.servicebus_double.double import ServiceBusDoubleThread
from tests.servicebus_double.fixtures import IDLE_SCALE
from tests.support.services import wait_until

pytestmark = pytest.mark.azure


@pytest.fixture
def topic() -> str:
    return f"topic-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin(
    servicebus_double: ServiceBusDoubleThread,
) -> AsyncIterator[ServiceBusAdministrationClient]:
    client = ServiceBusAdministrationClient.from_connection_string(
        servicebus_double.admin_connection_string, connection_verify=servicebus_double.ca_file
    )
    async with client:
        yield client


@pytest.fixture
async def client(servicebus_double: ServiceBusDoubleThread) -> AsyncIterator[ServiceBusClient]:
    async with ServiceBusClient.from_connection_string(
        servicebus_double.connection_string, retry_total=1, retry_backoff_factor=0.1
    ) as sb:
        yield sb


async def receive_bodies(
    client: ServiceBusClient, topic: str, name: str, expected: int
) -> list[bytes]:
    """Receive and complete until ``expected`` messages arrived (5 s at most).

    With ``expected=0`` this is one short receive that shows nothing is waiting.
    """
    bodies: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + 5
    async with client.get_subscription_receiver(topic, name) as receiver:
        while True:
            batch = await receiver.receive_messages(max_message_count=10, max_wait_time=0.5)
            for message in batch:
                bodies.append(b"".join(message.body))
                await receiver.complete_message(message)
            if len(bodies) >= expected or asyncio.get_running_loop().time() > deadline:
                return bodies


async def test_sql_filters_route_by_application_properties(admin, client, topic) -> None:
    await admin.create_topic(topic)
    for node in ("a", "b"):
        await admin.create_subscription(topic, node)
        await admin.delete_rule(topic, node, "$Default")
        await admin.create_rule(
            topic,
            node,
            "others",
            filter=SqlRuleFilter(
                f"uid <> '{node}' AND (requesterUid IS NULL OR requesterUid = '{node}')"
            ),
        )
    body = bytes(range(256)) * 3
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(
            [
                ServiceBusMessage(b"from-a", application_properties={"uid": "a", "nsp": "/"}),
                ServiceBusMessage(body, application_properties={"uid": "b", "nsp": "/"}),
                ServiceBusMessage(
                    b"a-asks-b", application_properties={"uid": "b", "requesterUid": "a"}
                ),
            ]
        )
    assert await receive_bodies(client, topic, "a", 2) == [body, b"a-asks-b"]
    assert await receive_bodies(client, topic, "b", 1) == [b"from-a"]


async def test_application_properties_arrive_unchanged(admin, client, topic) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "all")
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(
            ServiceBusMessage(b"\x00\xff", application_properties={"nsp": "/chat", "uid": "x1"})
        )
    async with client.get_subscription_receiver(topic, "all") as receiver:
        (message,) = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
        assert b"".join(message.body) == b"\x00\xff"
        assert message.application_properties == {b"nsp": b"/chat", b"uid": b"x1"}
        await receiver.complete_message(message)


async def test_correlation_true_and_false_filters(admin, client, topic) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "corr")
    await admin.delete_rule(topic, "corr", "$Default")
    await admin.create_rule(
        topic, "corr", "nsp", filter=CorrelationRuleFilter(properties={"nsp": "/admin"})
    )
    await admin.create_subscription(topic, "none")
    await admin.delete_rule(topic, "none", "$Default")
    await admin.create_rule(topic, "none", "never", filter=FalseRuleFilter())
    await admin.create_subscription(topic, "every")
    rules = [rule async for rule in admin.list_rules(topic, "corr")]
    assert [rule.name for rule in rules] == ["nsp"]
    assert rules[0].filter.properties == {"nsp": "/admin"}
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(
            ServiceBusMessage(b"1", application_properties={"nsp": "/admin"})
        )
        await sender.send_messages(ServiceBusMessage(b"2", application_properties={"nsp": "/"}))
    assert await receive_bodies(client, topic, "corr", 1) == [b"1"]
    assert sorted(await receive_bodies(client, topic, "every", 2)) == [b"1", b"2"]
    assert await receive_bodies(client, topic, "none", 0) == []


async def test_peek_lock_abandon_redelivers_and_complete_removes(
    admin, client, topic, servicebus_double
) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "s")
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(ServiceBusMessage(b"once"))
    async with client.get_subscription_receiver(topic, "s") as receiver:
        (first,) = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
        assert first.lock_token is not None
        await receiver.abandon_message(first)
        (again,) = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
        assert b"".join(again.body) == b"once"
        assert again.delivery_count == first.delivery_count + 1
        await receiver.complete_message(again)
    snapshot = servicebus_double.subscription_snapshot(topic, "s")
    assert snapshot is not None
    assert (snapshot["active"], snapshot["deliveries"], snapshot["completed"]) == (0, 2, 1)


async def test_receive_and_delete_needs_no_settlement(
    admin, client, topic, servicebus_double
) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "s")
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages([ServiceBusMessage(b"1"), ServiceBusMessage(b"2")])
    receiver = client.get_subscription_receiver(
        topic, "s", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
    )
    async with receiver:
        got: list[bytes] = []
        while len(got) < 2:
            got += [b"".join(m.body) for m in await receiver.receive_messages(10, max_wait_time=2)]
    assert got == [b"1", b"2"]
    assert servicebus_double.subscription_snapshot(topic, "s")["active"] == 0


async def test_expired_messages_are_not_delivered(admin, client, topic, servicebus_double) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(
        topic, "short", default_message_time_to_live=timedelta(seconds=1)
    )
    await admin.create_subscription(topic, "long")
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(ServiceBusMessage(b"old"))
        await sender.send_messages(
            ServiceBusMessage(b"short-ttl", time_to_live=timedelta(seconds=1))
        )
    await wait_until(
        lambda: servicebus_double.subscription_snapshot(topic, "short")["active"] == 0,
        message="subscription TTL expiry",
    )
    await wait_until(
        lambda: servicebus_double.subscription_snapshot(topic, "long")["active"] == 1,
        message="message TTL expiry",
    )
    assert await receive_bodies(client, topic, "short", 0) == []
    assert await receive_bodies(client, topic, "long", 1) == [b"old"]


async def test_runtime_properties_follow_receives(admin, client, topic) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "s")
    before = await admin.get_subscription_runtime_properties(topic, "s")
    assert before.active_message_count == 0
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(ServiceBusMessage(b"x"))
    queued = await admin.get_subscription_runtime_properties(topic, "s")
    assert (queued.active_message_count, queued.total_message_count) == (1, 1)
    await asyncio.sleep(0.01)  # timestamps have millisecond resolution
    assert await receive_bodies(client, topic, "s", 1) == [b"x"]
    after = await admin.get_subscription_runtime_properties(topic, "s")
    assert after.accessed_at_utc > before.accessed_at_utc
    assert after.created_at_utc == before.created_at_utc
    assert after.active_message_count == 0
    listed = [p.name async for p in admin.list_subscriptions_runtime_properties(topic)]
    assert listed == ["s"]


async def test_oversize_message_is_refused(admin, client, topic) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "s")
    async with client.get_topic_sender(topic) as sender:
        with pytest.raises(MessageSizeExceededError):
            await sender.send_messages(ServiceBusMessage(b"x" * 262_144))
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(ServiceBusMessage(b"x" * 200_000))
    assert await receive_bodies(client, topic, "s", 1) == [b"x" * 200_000]


async def test_unknown_entities_are_not_found(admin, client, topic) -> None:
    with pytest.raises(MessagingEntityNotFoundError):
        async with client.get_topic_sender(topic) as sender:
            await sender.send_messages(ServiceBusMessage(b"x"))
    await admin.create_topic(topic)
    with pytest.raises(MessagingEntityNotFoundError):
        async with client.get_subscription_receiver(topic, "missing") as receiver:
            await receiver.receive_messages(max_wait_time=1)
    with pytest.raises(ResourceNotFoundError):
        await admin.get_subscription(topic, "missing")
    with pytest.raises(ResourceNotFoundError):
        await admin.get_topic(topic + "-missing")
    with pytest.raises(ResourceExistsError):
        await admin.create_topic(topic)


async def test_wrong_key_is_refused_on_both_paths(servicebus_double, topic) -> None:
    wrong = servicebus_double.connection_string_with("RootManageSharedAccessKey", "d3Jvbmc=")
    async with ServiceBusClient.from_connection_string(wrong, retry_total=0) as sb:
        with pytest.raises(ServiceBusAuthenticationError):
            async with sb.get_topic_sender(topic) as sender:
                await sender.send_messages(ServiceBusMessage(b"x"))
    admin = ServiceBusAdministrationClient.from_connection_string(
        wrong, connection_verify=servicebus_double.ca_file
    )
    async with admin:
        with pytest.raises(ClientAuthenticationError):
            await admin.create_topic(topic)


async def test_receiver_recovers_after_restart(admin, client, topic, servicebus_double) -> None:
    await admin.create_topic(topic)
    # A delivery that races the reconnect stays locked until the lock expires, as on
    # Service Bus; a short lock keeps that case quick.
    await admin.create_subscription(topic, "s", lock_duration=timedelta(seconds=2))
    async with client.get_subscription_receiver(topic, "s") as receiver:
        assert await receiver.receive_messages(max_wait_time=0.2) == []
        await servicebus_double.stop()
        await servicebus_double.start()
        async with client.get_topic_sender(topic) as sender:
            await sender.send_messages(ServiceBusMessage(b"after restart"))
        received: list[bytes] = []
        deadline = asyncio.get_running_loop().time() + 20
        while not received and asyncio.get_running_loop().time() < deadline:
            try:
                batch = await receiver.receive_messages(max_wait_time=2)
            except ServiceBusError:
                continue  # the SDK may surface the dropped link once, then reconnects
            for message in batch:
                received.append(b"".join(message.body))
                await receiver.complete_message(message)
    assert received == [b"after restart"]


async def test_idle_subscription_is_auto_deleted(admin, client, topic, servicebus_double) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "idle", auto_delete_on_idle=timedelta(minutes=5))
    await admin.create_subscription(topic, "busy", auto_delete_on_idle=timedelta(minutes=5))
    async with client.get_subscription_receiver(topic, "busy") as receiver:
        await wait_until(
            lambda: servicebus_double.subscription_snapshot(topic, "idle") is None,
            timeout=300 * IDLE_SCALE + 10,
            message="auto-delete of the idle subscription",
        )
        assert await receiver.receive_messages(max_wait_time=0.1) == []
    assert [s.name async for s in admin.list_subscriptions(topic)] == ["busy"]


async def test_subscription_deleted_behind_a_receiver(
    admin, client, topic, servicebus_double
) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "s")
    async with client.get_subscription_receiver(topic, "s") as receiver:
        assert await receiver.receive_messages(max_wait_time=0.2) == []
        assert servicebus_double.delete_subscription(topic, "s")
        with pytest.raises(MessagingEntityNotFoundError):
            for _ in range(5):
                await receiver.receive_messages(max_wait_time=0.5)


async def test_lock_renewal_goes_through_the_management_node(admin, client, topic) -> None:
    await admin.create_topic(topic)
    await admin.create_subscription(topic, "s", lock_duration=timedelta(seconds=30))
    async with client.get_topic_sender(topic) as sender:
        await sender.send_messages(ServiceBusMessage(b"x"))
    async with client.get_subscription_receiver(topic, "s") as receiver:
        (message,) = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
        first_until = message.locked_until_utc
        await asyncio.sleep(0.01)  # lock times have millisecond resolution
        renewed_until = await receiver.renew_message_lock(message)
        assert renewed_until > first_until
        await receiver.complete_message(message)


async def test_auto_delete_below_five_minutes_is_rejected(admin, topic) -> None:
    await admin.create_topic(topic)
    with pytest.raises(HttpResponseError):
        await admin.create_subscription(topic, "s", auto_delete_on_idle=timedelta(minutes=1))
