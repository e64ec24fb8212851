"""The Pub/Sub framing, byte for byte as Node's gcp-pubsub-adapter 0.1 (PROTOCOL §3.2):
``data`` = msgpack of the whole envelope, string attributes ``nsp``, ``uid`` and
``requesterUid`` on responses only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.transports.pubsub_framing import (
    classify,
    decode_envelope,
    encode_head,
    encode_message,
    message_size,
)
from tests.backends.pubsub import PubSubBackend, admin_clients
from tests.protocol.golden import (
    BUILDERS,
    GOLDEN_BY_NAME,
    GOLDEN_CASES,
    NODE_UID,
    PEER_UID,
    GoldenCase,
    holds_undefined,
    without_undefined,
)
from tests.pubsub.conftest import StartNode
from tests.support.services import wait_until

pytestmark = pytest.mark.pubsub


def node_attributes(case: GoldenCase) -> dict[str, str]:
    """The attributes Node's adapter publishes for a golden case."""
    attributes = {"nsp": case.message["nsp"], "uid": case.message["uid"]}
    if case.requester_uid is not None:
        attributes["requesterUid"] = case.requester_uid
    return attributes


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_encoding_matches_node_byte_for_byte(name: str) -> None:
    case = GOLDEN_BY_NAME[name]
    data, attributes = encode_message(BUILDERS[name](), case.requester_uid)
    assert attributes == node_attributes(case)
    if holds_undefined(case.message):
        # Node sends undefined as nil; we omit the key, which Node reads back the same
        assert protocol.decode_data(data) == without_undefined(case.message)
    else:
        assert data == case.envelope


def test_heartbeat_layout() -> None:
    data, attributes = encode_message(ClusterMessage(MessageType.HEARTBEAT, NODE_UID, "/"))
    # fixmap of 3: type, uid, nsp; no data key at all
    assert data == bytes.fromhex("83a47479706502a3756964b0") + NODE_UID.encode() + bytes.fromhex(
        "a36e7370a12f"
    )
    assert attributes == {"nsp": "/", "uid": NODE_UID}
    assert message_size(data, attributes) == len(data) + len("nsp/uid") + len(NODE_UID)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=str)
def test_node_messages_decode(case: GoldenCase) -> None:
    message = decode_envelope(case.envelope, node_attributes(case), protocol.DEFAULT_LIMITS)
    assert message == protocol.decode(case.envelope)


def test_envelope_must_match_attributes() -> None:
    case = GOLDEN_BY_NAME["broadcast"]
    with pytest.raises(DecodeError):
        decode_envelope(case.envelope, {"nsp": "/other", "uid": NODE_UID}, protocol.DEFAULT_LIMITS)
    with pytest.raises(DecodeError):
        decode_envelope(case.envelope, {"nsp": "/", "uid": PEER_UID}, protocol.DEFAULT_LIMITS)


def test_receipt_filter_follows_node() -> None:
    me = PEER_UID
    assert classify({"nsp": "/", "uid": me}, me).kind == "skip"
    assert classify({"nsp": "/", "uid": NODE_UID, "requesterUid": "x" * 16}, me).kind == "skip"
    assert classify({"nsp": "/", "uid": NODE_UID, "requesterUid": me}, me).kind == "message"
    assert classify({"nsp": "/", "uid": NODE_UID}, me).kind == "message"
    assert classify({"uid": NODE_UID}, me).kind == "skip"  # no namespace: Node ignores it
    probe = classify({"uid": "probe", "requesterUid": me, "probe": "t"}, me)
    assert (probe.kind, probe.token) == ("probe", "t")
    offloaded = classify({"nsp": "/", "uid": NODE_UID, "payloadRef": "gs://b/k"}, me)
    assert offloaded.pointer == "gs://b/k"


def test_offloaded_head_is_the_envelope_without_data() -> None:
    message = BUILDERS["broadcast"]()
    head = protocol.decode_data(encode_head(message))
    assert head == {"type": 3, "uid": message.uid, "nsp": "/"}
    payload = protocol.encode_data(message.data or {})
    attributes = {"nsp": "/", "uid": message.uid, "payloadRef": "p"}
    assert decode_envelope(encode_head(message), attributes, protocol.DEFAULT_LIMITS, payload) == (
        message
    )


# ---------------------------------------------------------------------------- on the wire


class Capture:
    """A plain subscription of the topic, without filter: sees what the topic carries."""

    def __init__(self, cluster: PubSubBackend) -> None:
        _, self.subscriber = admin_clients()
        self.name = f"projects/{cluster.project}/subscriptions/{cluster.subscription_prefix}-cap"
        self.subscriber.create_subscription(name=self.name, topic=cluster.topic_path)

    def receive_one(self) -> Any:
        response = self.subscriber.pull(subscription=self.name, max_messages=1, timeout=10)
        [received] = response.received_messages
        self.subscriber.acknowledge(subscription=self.name, ack_ids=[received.ack_id])
        return received.message


async def test_our_messages_carry_exactly_the_node_framing(pubsub_cluster: PubSubBackend) -> None:
    capture = await asyncio.to_thread(Capture, pubsub_cluster)
    publisher = pubsub_cluster.make_transport()
    try:
        await publisher.open_publisher()
        for name, build in BUILDERS.items():
            case = GOLDEN_BY_NAME[name]
            if case.requester_uid is None:
                await publisher.publish(build())
            else:
                await publisher.publish_response(case.requester_uid, build())
            received = await asyncio.to_thread(capture.receive_one)
            assert dict(received.attributes) == node_attributes(case), name
            if holds_undefined(case.message):
                assert protocol.decode_data(received.data) == without_undefined(case.message)
            else:
                assert received.data == case.envelope, name
    finally:
        await publisher.close()


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=str)
async def test_a_message_published_the_node_way_is_understood(
    pubsub_cluster: PubSubBackend, start_node: StartNode, case: GoldenCase
) -> None:
    # the receiving node is the requester of the golden responses
    _transport, inbox = await start_node(PEER_UID)
    await asyncio.to_thread(pubsub_cluster.publish_raw, case.envelope, **node_attributes(case))
    await wait_until(lambda: len(inbox.messages) == 1, 10, f"the {case.name} message")
    assert inbox.messages == [protocol.decode(case.envelope)]
