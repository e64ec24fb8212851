"""The Service Bus transport with the real SDK against the loopback double: resources, routing,
size limits and payload offload, recovery, emitter, credentials."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.management import SqlRuleFilter

from socketio_cloud.exceptions import DecodeError, PayloadTooLarge, TransportError
from socketio_cloud.protocol import (
    BroadcastOptions,
    ClusterMessage,
    MessageType,
    broadcast_data,
    encode,
    new_uid,
)
from socketio_cloud.transports.servicebus import ServiceBusEmitter, ServiceBusTransport
from tests.backends.servicebus import ServiceBusBackend
from tests.support.services import wait_until

from .conftest import StartNode

pytestmark = pytest.mark.servicebus


def heartbeat(uid: str) -> ClusterMessage:
    return ClusterMessage(MessageType.HEARTBEAT, uid, "/")


def broadcast(uid: str, payload: object) -> ClusterMessage:
    return ClusterMessage(
        MessageType.BROADCAST, uid, "/", broadcast_data(BroadcastOptions(), ["big", payload])
    )


class MemoryStore:
    """A payload store in a dict: the offload path without a Blob server."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, sender_uid: str, payload: bytes) -> str:
        pointer = f"test/{sender_uid}/{secrets.token_hex(4)}"
        self.blobs[pointer] = payload
        return pointer

    async def get(self, pointer: str) -> bytes:
        if pointer not in self.blobs:
            raise DecodeError(f"no such payload {pointer}")
        return self.blobs[pointer]


# ---------------------------------------------------------------------------- resources


async def test_start_creates_the_subscription_with_ttl_idle_delete_and_the_node_rule(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    transport, _ = await start_node()
    name = transport.subscription_name
    assert name == f"{sb_cluster.subscription_prefix}-{transport._uid}"
    async with sb_cluster.admin() as admin:
        subscription = await admin.get_subscription(sb_cluster.topic_name, name)
        rules = [rule async for rule in admin.list_rules(sb_cluster.topic_name, name)]
    assert subscription.default_message_time_to_live == timedelta(seconds=60)
    assert subscription.auto_delete_on_idle == timedelta(seconds=300)
    assert [rule.name for rule in rules] == ["socketio-cloud"]
    assert isinstance(rules[0].filter, SqlRuleFilter)
    assert transport._uid in rules[0].filter.sql_expression
    assert transport.connected


async def test_close_deletes_the_subscription_and_abort_leaves_it(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    closed, _ = await start_node()
    aborted, _ = await start_node(auto_delete_on_idle=86_400)
    await closed.close()
    await closed.close()  # idempotent
    await aborted.abort()
    assert await sb_cluster.node_resources(closed._uid) == []
    assert await sb_cluster.node_resources(aborted._uid) == [aborted.subscription_name]
    assert not closed.connected and not aborted.connected


async def test_an_existing_topic_is_used_without_create_rights(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    first, _ = await start_node()  # creates the topic
    _second, inbox = await start_node(create_topic=False)
    await first.publish(heartbeat(first._uid))
    await wait_until(lambda: inbox.from_uid(first._uid), message="the heartbeat")


async def test_a_missing_topic_without_create_topic_fails_start_and_can_retry(
    sb_cluster: ServiceBusBackend,
) -> None:
    transport = sb_cluster.make_transport(create_topic=False)
    inbox: list[ClusterMessage] = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        inbox.append(message)

    with pytest.raises(TransportError):
        await transport.start(new_uid(), on_message)
    assert not transport.connected
    async with sb_cluster.admin() as admin:
        await admin.create_topic(sb_cluster.topic_name)
    try:
        await transport.start(new_uid(), on_message)
        assert transport.connected
    finally:
        await transport.close()


# ---------------------------------------------------------------------------- routing


async def test_publish_reaches_others_but_not_the_publisher(start_node: StartNode) -> None:
    a, inbox_a = await start_node()
    b, inbox_b = await start_node()
    _c, inbox_c = await start_node()
    await a.publish(heartbeat(a._uid))
    await wait_until(
        lambda: inbox_b.from_uid(a._uid) and inbox_c.from_uid(a._uid), message="fan-out"
    )
    # a marker after the heartbeat: once it is in, a had its chance to see its own message
    await b.publish_response(a._uid, heartbeat(b._uid))
    await wait_until(lambda: inbox_a.from_uid(b._uid), message="the marker")
    assert inbox_a.from_uid(a._uid) == []


async def test_a_response_reaches_the_requester_only(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    a, inbox_a = await start_node()
    b, inbox_b = await start_node()
    c, _inbox_c = await start_node()
    await c.publish_response(a._uid, heartbeat(c._uid))
    await wait_until(lambda: inbox_a.from_uid(c._uid), message="the response")
    await c.publish(heartbeat(c._uid))
    await wait_until(lambda: len(inbox_b.from_uid(c._uid)) == 1, message="the marker")
    assert inbox_b.from_uid(c._uid) == [heartbeat(c._uid)]  # the broadcast, not the response
    # the broker filtered: b's subscription never saw the response
    snapshot = sb_cluster.double.subscription_snapshot(sb_cluster.topic_name, b.subscription_name)
    assert snapshot is not None and snapshot["deliveries"] == 1


async def test_a_node_message_from_node_framing_is_delivered(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    """What Node's adapter sends: the envelope as bytes, string properties nsp and uid."""
    _, inbox = await start_node()
    peer = "a1b2c3d4e5f60718"
    message = broadcast(peer, "from node")
    await sb_cluster.send_raw(
        [ServiceBusMessage(encode(message), application_properties={"nsp": "/", "uid": peer})]
    )
    await wait_until(lambda: inbox.from_uid(peer), message="the Node-framed message")
    assert inbox.from_uid(peer) == [message]


async def test_malformed_messages_are_dropped_and_counted(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    transport, inbox = await start_node()
    await sb_cluster.publish_malformed()
    peer = "0123456789abcdef"
    await sb_cluster.send_raw(
        [
            ServiceBusMessage(
                encode(heartbeat(peer)), application_properties={"nsp": "/", "uid": peer}
            )
        ]
    )
    await wait_until(lambda: inbox.from_uid(peer), message="the valid message after the rest")
    assert inbox.messages == [heartbeat(peer)]
    assert transport.stats["rejected"] >= 5
    assert transport.connected


# ---------------------------------------------------------------------------- sizes


async def test_a_message_over_the_limit_without_a_store_raises(start_node: StartNode) -> None:
    transport, _ = await start_node()
    with pytest.raises(PayloadTooLarge):
        await transport.publish(broadcast(transport._uid, "x" * 300_000))
    assert transport.connected


async def test_a_message_the_broker_refuses_as_too_large_raises(start_node: StartNode) -> None:
    """A limit set above the entity's (a Premium size on a Standard namespace): the broker's
    refusal becomes PayloadTooLarge, and the link stays up."""
    transport, _ = await start_node(max_message_size=1_000_000)
    with pytest.raises(PayloadTooLarge):
        await transport.publish(broadcast(transport._uid, "x" * 300_000))
    await transport.publish(heartbeat(transport._uid))
    assert transport.connected


async def test_large_messages_travel_through_the_payload_store(start_node: StartNode) -> None:
    store = MemoryStore()
    a, _ = await start_node(payload_store=store)
    _b, inbox = await start_node(payload_store=store)
    big = broadcast(a._uid, "x" * 300_000)
    small = broadcast(a._uid, "small")
    await a.publish(big)
    await a.publish(small)
    await wait_until(lambda: len(inbox.from_uid(a._uid)) == 2, message="both messages")
    assert inbox.from_uid(a._uid) == [big, small]
    assert len(store.blobs) == 1
    assert a.max_message_size > 262_144


async def test_a_pointer_to_someone_elses_payload_is_dropped(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    transport, inbox = await start_node(payload_store=MemoryStore())
    peer = "0123456789abcdef"
    await sb_cluster.send_raw(
        [
            ServiceBusMessage(
                b"\xc0", application_properties={"nsp": "/", "uid": peer, "payloadBlob": "x/y"}
            ),
            ServiceBusMessage(
                encode(heartbeat(peer)), application_properties={"nsp": "/", "uid": peer}
            ),
        ]
    )
    await wait_until(lambda: inbox.from_uid(peer), message="the valid message")
    assert inbox.messages == [heartbeat(peer)]
    assert transport.stats["rejected"] == 1


# ---------------------------------------------------------------------------- recovery


async def test_a_deleted_subscription_is_recreated(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    a, _ = await start_node()
    b, inbox = await start_node()
    assert sb_cluster.double.delete_subscription(sb_cluster.topic_name, b.subscription_name)
    await wait_until(lambda: b.stats.get("recreated", 0) >= 1, timeout=20, message="re-creation")
    await wait_until(lambda: b.connected, timeout=20, message="b reconnected")
    await a.publish(heartbeat(a._uid))
    await wait_until(lambda: inbox.from_uid(a._uid), timeout=20, message="delivery after it")
    assert await sb_cluster.node_resources(b._uid) == [b.subscription_name]


async def test_a_double_restart_mid_stream_is_survived(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    a, _ = await start_node()
    b, inbox = await start_node()
    await a.publish(heartbeat(a._uid))
    await wait_until(lambda: len(inbox.from_uid(a._uid)) == 1, message="before the restart")
    double = sb_cluster.double
    await double.stop()
    try:
        await wait_until(lambda: not b.connected, timeout=30, message="b notices the outage")
        with pytest.raises(TransportError):
            await a.publish(heartbeat(a._uid))
        assert not a.connected
    finally:
        await double.start()
    await wait_until(lambda: b.connected, timeout=30, message="b receives again")

    async def delivered_after_restart() -> bool:
        try:
            await a.publish(heartbeat(a._uid))
        except TransportError:
            return False
        return len(inbox.from_uid(a._uid)) >= 2

    await wait_until(delivered_after_restart, timeout=30, interval=0.5, message="delivery")
    assert a.connected and b.connected


# ---------------------------------------------------------------------------- emitter, keys


async def test_the_emitter_reaches_every_node(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    _, inbox_a = await start_node()
    _, inbox_b = await start_node()
    emitter = sb_cluster.make_emitter()
    try:
        await emitter.to("room1").emit("hello", "world")
    finally:
        await emitter.close()
    await wait_until(
        lambda: inbox_a.from_uid("emitter") and inbox_b.from_uid("emitter"), message="emit"
    )
    message = inbox_a.from_uid("emitter")[0]
    assert message.type == MessageType.BROADCAST
    assert message.data is not None and message.data["opts"]["rooms"] == ["room1"]


async def test_a_wrong_key_fails_start_and_the_emitter(sb_cluster: ServiceBusBackend) -> None:
    bad = sb_cluster.double.connection_string_with("RootManageSharedAccessKey", "d3Jvbmc=")
    transport = sb_cluster.make_transport(connection_string=bad, admin_connection_string=bad)
    with pytest.raises(TransportError):
        await transport.start(new_uid(), lambda m, o: None)  # type: ignore[arg-type,return-value]
    await transport.close()
    emitter = ServiceBusEmitter(connection_string=bad, topic_name=sb_cluster.topic_name)
    with pytest.raises(TransportError):
        await emitter.emit("x")
    await emitter.close()


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"connection_string": "x", "fully_qualified_namespace": "y"},
        {"connection_string": "x", "subscription_prefix": "p" * 34},
        {"connection_string": "x", "auto_delete_on_idle": 299},
        {"connection_string": "x", "message_time_to_live": 0},
        {"connection_string": "x", "receive_batch_size": 0},
        {"connection_string": "x", "large_payload_container": "c"},
        {"connection_string": "x", "payload_store": MemoryStore(), "large_payload_container": "c"},
    ],
)
def test_invalid_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ServiceBusTransport(**options)  # type: ignore[arg-type]
