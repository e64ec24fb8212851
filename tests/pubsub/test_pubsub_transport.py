"""The Pub/Sub transport on the emulator: delivery, subscription settings, receipt
filtering, malformed input, resources, lost subscriptions, payload offload."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.brokers.pubsub import (
    CREATE_TOPIC_CALLS,
    LABEL_ALIVE,
    LABEL_NODE,
    LABEL_TOPIC,
    NODE_CALLS,
    subscription_filter,
)
from socketio_cloud.exceptions import DecodeError, PayloadTooLarge, TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, Limits, MessageType
from socketio_cloud.transports.pubsub import PubSubEmitter, PubSubManager, PubSubTransport
from tests.backends.pubsub import PubSubBackend, Received, admin_clients
from tests.pubsub.conftest import StartNode
from tests.support.services import wait_until

pytestmark = pytest.mark.pubsub

A, B, C = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"


def broadcast(uid: str, *args: Any, nsp: str = "/") -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["event", *args])
    return ClusterMessage(MessageType.BROADCAST, uid, nsp, data)


def client_count(uid: str, count: int) -> ClusterMessage:
    data = {"requestId": "0123456789abcdef", "clientCount": count}
    return ClusterMessage(MessageType.BROADCAST_CLIENT_COUNT, uid, "/", data)


def get_subscription(name: str) -> Any:
    _, subscriber = admin_clients()
    return subscriber.get_subscription(subscription=name)


async def test_messages_reach_every_other_node(start_node: StartNode) -> None:
    a, inbox_a = await start_node(A)
    _b, inbox_b = await start_node(B)
    _c, inbox_c = await start_node(C)

    await a.publish(broadcast(A, "hello", b"\x00\xff"))

    for inbox in (inbox_b, inbox_c):
        await wait_until(lambda inbox=inbox: len(inbox.messages) == 1, 10, "the broadcast")
        assert inbox.messages == [broadcast(A, "hello", b"\x00\xff")]
    assert inbox_a.messages == []
    assert a.connected


async def test_responses_reach_only_their_requester(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    _c, inbox_c = await start_node(C)

    await a.publish_response(B, client_count(A, 3))
    await a.publish(broadcast(A, "after"))

    await wait_until(lambda: len(inbox_c.messages) == 1, 10, "the broadcast at C")
    await wait_until(lambda: len(inbox_b.messages) == 2, 10, "response and broadcast at B")
    assert client_count(A, 3) in inbox_b.messages
    assert inbox_c.messages == [broadcast(A, "after")]


async def test_messages_of_one_publisher_arrive_in_order(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    await asyncio.gather(*(a.publish(broadcast(A, i)) for i in range(200)))
    await wait_until(lambda: len(inbox_b.messages) == 200, 20, "200 broadcasts")
    assert [m.data["packet"]["data"][1] for m in inbox_b.messages if m.data] == list(range(200))
    # concurrent publishes share requests
    assert a.stats["Publish"] < 100


async def test_subscription_settings(pubsub_cluster: PubSubBackend, start_node: StartNode) -> None:
    a, _ = await start_node(A, labels={"team": "chat"})
    subscription = await asyncio.to_thread(get_subscription, a.subscription)
    assert a.subscription.endswith(f"/subscriptions/{pubsub_cluster.subscription_prefix}-{A}")
    assert subscription.topic == pubsub_cluster.topic_path
    assert subscription.filter == subscription_filter(A)
    assert a.filtered
    labels = dict(subscription.labels)
    assert labels[LABEL_NODE] == A
    assert labels[LABEL_TOPIC] == pubsub_cluster.topic
    assert labels["team"] == "chat"
    assert int(labels[LABEL_ALIVE]) > 0
    assert subscription.expiration_policy.ttl.total_seconds() == 86_400
    assert subscription.message_retention_duration.total_seconds() == 600
    assert subscription.ack_deadline_seconds == 20


def test_filter_syntax() -> None:
    assert subscription_filter(A) == (
        f'attributes.uid != "{A}" AND '
        f'(NOT attributes:requesterUid OR attributes.requesterUid = "{A}")'
    )


async def test_emulator_ignores_the_filter_and_the_node_drops_on_receipt(
    pubsub_cluster: PubSubBackend, start_node: StartNode
) -> None:
    """The emulator stores the filter but delivers everything: the node's own messages and
    responses for other nodes reach its subscription and are dropped on receipt."""
    a, inbox_a = await start_node(A)
    _b, inbox_b = await start_node(B)
    skipped = a.stats.get("skipped", 0)

    await a.publish(broadcast(A, "own"))
    await a.publish_response(B, client_count(A, 1))
    await asyncio.to_thread(
        pubsub_cluster.publish_raw,
        protocol.encode(client_count(C, 2)),
        nsp="/",
        uid=C,
        requesterUid=B,
    )
    await a.publish(broadcast(A, "marker"))

    await wait_until(lambda: len(inbox_b.messages) == 4, 10, "B's four messages")
    # A's subscription got its own three messages and C's response for B (the emulator
    # ignored the filter), and A dropped all four on receipt
    await wait_until(lambda: a.stats.get("skipped", 0) >= skipped + 4, 10, "A's drops")
    assert inbox_a.messages == []


async def test_without_filter(start_node: StartNode) -> None:
    a, _ = await start_node(A, use_filter=False)
    _b, inbox_b = await start_node(B, use_filter=False)
    subscription = await asyncio.to_thread(get_subscription, a.subscription)
    assert subscription.filter == ""
    assert not a.filtered
    await a.publish(broadcast(A, "x"))
    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the broadcast")


async def test_malformed_messages_are_dropped_and_consumption_goes_on(
    pubsub_cluster: PubSubBackend, start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    b, inbox_b = await start_node(B)
    a = pubsub_cluster.make_transport()
    try:
        with caplog.at_level(logging.WARNING, "socketio_cloud"):
            await pubsub_cluster.publish_malformed()
            await a.open_publisher()
            await a.publish(broadcast(A, "valid"))
            await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the valid message")
        assert inbox_b.messages == [broadcast(A, "valid")]
        assert b.stats["rejected"] == 8
        assert "dropped a malformed message" in caplog.text
    finally:
        await a.close()


async def test_close_deletes_the_subscription_abort_leaves_it(
    pubsub_cluster: PubSubBackend,
) -> None:
    closing = pubsub_cluster.make_transport()
    aborting = pubsub_cluster.make_transport()
    await closing.start(A, Received())
    await aborting.start(B, Received())
    assert await pubsub_cluster.node_resources(A) != []
    await closing.close()
    await closing.close()  # idempotent
    await aborting.abort()
    assert await pubsub_cluster.node_resources(A) == []
    assert await pubsub_cluster.node_resources(B) == [aborting.subscription]
    assert not closing.connected
    with pytest.raises(TransportError):
        await closing.publish(broadcast(A))


async def test_missing_topic_fails_start_unless_it_may_be_created(
    pubsub_cluster: PubSubBackend,
) -> None:
    missing = f"sio-missing-{secrets.token_hex(4)}"
    transport = pubsub_cluster.make_transport(topic=missing, ready_timeout=5)
    with pytest.raises(TransportError, match="does not exist"):
        await transport.start(A, Received())
    creating = pubsub_cluster.make_transport(topic=missing, create_topic=True)
    await creating.start(A, Received())
    try:
        assert creating.stats["CreateTopic"] == 1
    finally:
        await creating.close()
        publisher, _ = admin_clients()
        await asyncio.to_thread(publisher.delete_topic, topic=creating.topic)


async def test_a_deleted_subscription_is_recreated(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, pull_timeout=2.0)
    _, subscriber = admin_clients()
    await asyncio.to_thread(subscriber.delete_subscription, subscription=b.subscription)

    async def delivered() -> bool:
        await a.publish(broadcast(A, "again"))
        return len(inbox_b.messages) > 0

    await wait_until(delivered, 30, "delivery after re-creating the subscription", interval=0.5)
    subscription = await asyncio.to_thread(get_subscription, b.subscription)
    assert dict(subscription.labels)[LABEL_NODE] == B
    assert b.stats["CreateSubscription"] >= 2


async def test_api_calls_are_those_the_permissions_cover(
    pubsub_cluster: PubSubBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A, liveness_interval=0.2)
    await a.publish(broadcast(A))
    await wait_until(lambda: a.stats.get("UpdateSubscription", 0) >= 1, 10, "a liveness refresh")
    await wait_until(lambda: a.stats.get("Acknowledge", 0) >= 1, 10, "an acknowledgement")
    await a.close()
    calls = {name for name in a.stats if name[0].isupper()}
    assert calls <= NODE_CALLS
    assert calls >= {"Publish", "CreateSubscription", "Pull", "Acknowledge", "DeleteSubscription"}
    creating = pubsub_cluster.make_transport(create_topic=True)
    await creating.start(B, Received())
    await creating.close()
    assert {n for n in creating.stats if n[0].isupper()} <= NODE_CALLS | CREATE_TOPIC_CALLS


# ---------------------------------------------------------------------------- sizes


class DictStore:
    """An in-test :class:`~socketio_cloud.offload.PayloadStore` shared by the nodes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, sender_uid: str, payload: bytes) -> str:
        pointer = f"mem://{sender_uid}/{len(self.objects)}"
        self.objects[pointer] = payload
        return pointer

    async def get(self, pointer: str) -> bytes:
        if pointer not in self.objects:
            raise DecodeError(f"unknown pointer {pointer}")
        return self.objects[pointer]


BIG = Limits(max_message_size=16 * 1024 * 1024)


async def test_too_large_without_a_store(pubsub_cluster: PubSubBackend) -> None:
    default = pubsub_cluster.make_transport()
    roomy = pubsub_cluster.make_transport(limits=BIG)
    try:
        await default.open_publisher()
        await roomy.open_publisher()
        with pytest.raises(PayloadTooLarge, match="receivers would drop"):
            await default.publish(broadcast(A, b"x" * (5 * 1024 * 1024)))
        with pytest.raises(PayloadTooLarge, match="large_payload_bucket"):
            await roomy.publish(broadcast(A, b"x" * 11_000_000))
        assert default.max_message_size == protocol.DEFAULT_LIMITS.max_message_size
        assert roomy.max_message_size == 10_000_000
        assert default.stats.get("Publish", 0) == 0
    finally:
        await default.close()
        await roomy.close()


async def test_large_payloads_go_through_the_store(start_node: StartNode) -> None:
    store = DictStore()
    a, _ = await start_node(A, payload_store=store, limits=BIG)
    _b, inbox_b = await start_node(B, payload_store=store, limits=BIG)
    _c, inbox_c = await start_node(C)  # no store: drops what it cannot fetch
    big = broadcast(A, b"x" * 11_000_000)

    await a.publish(big)
    await a.publish(broadcast(A, "small"))

    await wait_until(lambda: len(inbox_b.messages) == 2, 20, "both messages at B")
    assert inbox_b.messages[0] == big
    assert len(store.objects) == 1
    await wait_until(lambda: len(inbox_c.messages) == 1, 10, "the small message at C")
    assert _c.stats["rejected"] == 1


# ---------------------------------------------------------------------------- API


def test_options_are_validated() -> None:
    good = {"project": "sio-test-project", "topic": "chat"}
    PubSubTransport(**good)
    for bad in (
        {"project": "X"},
        {"topic": "a/"},
        {"subscription_prefix": "1bad"},
        {"ack_deadline": 5},
        {"message_retention": 60},
        {"expiration_ttl": 3600},
        {"max_messages": 0},
        {"large_payload_bucket": "b", "payload_store": DictStore()},
    ):
        with pytest.raises(ValueError):
            PubSubTransport(**{**good, **bad})  # type: ignore[arg-type]


async def test_manager_and_emitter(pubsub_cluster: PubSubBackend) -> None:
    manager = PubSubManager(**pubsub_cluster.options(), heartbeat_interval=1, heartbeat_timeout=3)
    emitter = PubSubEmitter(
        project=pubsub_cluster.project,
        topic=pubsub_cluster.topic,
        emulator_host=pubsub_cluster.emulator.host,
    )
    assert manager.heartbeat_interval == 1
    assert manager.transport.subscription_prefix == pubsub_cluster.subscription_prefix
    node = pubsub_cluster.make_transport()
    inbox = Received()
    await node.start(B, inbox)
    try:
        await emitter.emit("hello", 1)
        await wait_until(lambda: len(inbox.messages) == 1, 10, "the emitter's broadcast")
        assert inbox.messages[0].uid == "emitter"
        assert set(emitter.transport.stats) == {"Publish"}
    finally:
        await emitter.close()
        await node.close()
        await manager.close()


async def test_received_messages_are_acknowledged_in_batches(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, ack_delay=0.5)
    acks = b.stats.get("Acknowledge", 0)
    for i in range(30):
        await a.publish(broadcast(A, i))
    await wait_until(lambda: len(inbox_b.messages) == 30, 20, "30 broadcasts")
    await wait_until(lambda: b.stats.get("Acknowledge", 0) > acks, 10, "an acknowledgement")
    # 30 messages published one after the other: a few calls, not one per message or pull
    assert b.stats["Acknowledge"] - acks < 10
