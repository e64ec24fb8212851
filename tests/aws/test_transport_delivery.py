"""What the AWS transport puts on the wire and what it hands to the core."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType
from socketio_cloud.transports.aws import AwsSqsTransport
from tests.backends.aws import AwsBackend, StartNode
from tests.protocol.golden import (
    BUILDERS,
    GOLDEN_CASES,
    NODE_UID,
    PEER_UID,
    GoldenCase,
    holds_undefined,
    without_undefined,
)
from tests.support.services import wait_until

pytestmark = pytest.mark.aws

A, B, C = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"


def broadcast(uid: str, *args: Any, nsp: str = "/") -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["event", *args])
    return ClusterMessage(MessageType.BROADCAST, uid, nsp, data)


def client_count(uid: str, count: int) -> ClusterMessage:
    data = {"requestId": "0123456789abcdef", "clientCount": count}
    return ClusterMessage(MessageType.BROADCAST_CLIENT_COUNT, uid, "/", data)


class CaptureQueue:
    """A plain SQS queue subscribed to the topic with raw delivery and no filter: sees
    exactly what the topic carries."""

    def __init__(self, aws_cluster: AwsBackend, topic_arn: str) -> None:
        self.sqs = aws_cluster.client("sqs")
        name = f"{aws_cluster.queue_prefix}-capture"
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        aws_cluster.client("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )

    def receive_one(self) -> dict[str, Any]:
        reply = self.sqs.receive_message(
            QueueUrl=self.url, MessageAttributeNames=["All"], WaitTimeSeconds=5
        )
        [message] = reply["Messages"]
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return message


def node_style_attributes(case: GoldenCase) -> dict[str, Any]:
    """The attributes Node's adapter publishes for a golden case."""
    attributes: dict[str, Any] = {
        "nsp": {"DataType": "String", "StringValue": case.message["nsp"]},
        "uid": {"DataType": "String", "StringValue": case.message["uid"]},
    }
    if case.requester_uid is not None:
        attributes["requesterUid"] = {"DataType": "String", "StringValue": case.requester_uid}
    if case.data is not None:
        attributes["data"] = {"DataType": "Binary", "BinaryValue": case.data}
    return attributes


def queue_depth(aws_cluster: AwsBackend, transport: AwsSqsTransport) -> tuple[int, int]:
    """(waiting, received but not deleted) messages of a node's queue."""
    attributes = aws_cluster.client("sqs").get_queue_attributes(
        QueueUrl=transport.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


# ---------------------------------------------------------------------------- delivery


async def test_messages_reach_every_other_node(start_node: StartNode) -> None:
    a, inbox_a = await start_node(A)
    _b, inbox_b = await start_node(B)
    _c, inbox_c = await start_node(C)

    await a.publish(broadcast(A, "hello", b"\x00\xff"))

    for inbox in (inbox_b, inbox_c):
        await wait_until(lambda inbox=inbox: len(inbox.messages) == 1, 10, "the broadcast")
        [message] = inbox.messages
        assert message == broadcast(A, "hello", b"\x00\xff")
    assert inbox_a.messages == []


async def test_responses_reach_only_their_requester(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    _c, inbox_c = await start_node(C)

    await a.publish_response(B, client_count(A, 3))
    await a.publish(broadcast(A, "after"))

    await wait_until(lambda: len(inbox_c.messages) == 1, 10, "the broadcast at C")
    await wait_until(lambda: len(inbox_b.messages) == 2, 10, "response and broadcast at B")
    assert client_count(A, 3) in inbox_b.messages
    assert [m.type for m in inbox_c.messages] == [MessageType.BROADCAST]


async def test_filter_policy_keeps_own_messages_and_foreign_responses_out_of_the_queue(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    node, _ = await start_node(A)
    threads = node._calls._pool()
    await node.abort()  # the queue stays subscribed; read it directly from here on
    # the node's last long poll may still be running: let it end, or it takes messages
    await asyncio.to_thread(threads.shutdown, wait=True)
    sns, sqs = aws_cluster.client("sns"), aws_cluster.client("sqs")

    def publish(body: str, uid: str, requester: str | None = None) -> None:
        attributes = {
            "nsp": {"DataType": "String", "StringValue": "/"},
            "uid": {"DataType": "String", "StringValue": uid},
        }
        if requester:
            attributes["requesterUid"] = {"DataType": "String", "StringValue": requester}
        sns.publish(TopicArn=aws_cluster.topic_arn, Message=body, MessageAttributes=attributes)

    publish("2", A)  # own heartbeat
    publish("11", B, requester=C)  # a response for another node
    publish("2", B)  # a peer's heartbeat
    publish("11", B, requester=A)  # a response for this node
    publish("13", A)  # own close notice

    arrived = []
    while True:
        reply = sqs.receive_message(
            QueueUrl=node.queue_url,
            MessageAttributeNames=["All"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
        )
        if not reply.get("Messages"):
            break
        for message in reply["Messages"]:
            attributes = message["MessageAttributes"]
            requester = attributes.get("requesterUid", {}).get("StringValue")
            arrived.append((message["Body"], attributes["uid"]["StringValue"], requester))
    assert sorted(arrived) == [("11", B, A), ("2", B, None)]


async def test_namespaces_share_the_queue(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)

    await a.publish(broadcast(A, 1, nsp="/admin"))
    await a.publish(broadcast(A, 2, nsp="/"))

    await wait_until(lambda: len(inbox_b.messages) == 2, 10, "both namespaces")
    assert {m.nsp for m in inbox_b.messages} == {"/", "/admin"}


async def test_emitter_style_publisher_needs_no_queue(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    _b, inbox_b = await start_node(B)
    publisher = aws_cluster.make_transport()
    try:
        await publisher.open_publisher()
        await publisher.publish(broadcast(protocol.EMITTER_UID, "from-emitter"))

        await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the emitter's broadcast")
        assert inbox_b.messages[0].uid == "emitter"
        assert not any(op.startswith("sqs:") for op in publisher.stats)
    finally:
        await publisher.close()


@pytest.mark.parametrize("pollers", [1, 3])
async def test_messages_of_one_sender_are_dispatched_one_at_a_time_in_order(
    aws_cluster: AwsBackend, start_node: StartNode, pollers: int
) -> None:
    a, _ = await start_node(A)
    running = 0
    overlapped = False
    received: list[int] = []

    async def slow_handler(message: ClusterMessage, offset: str | None) -> None:
        nonlocal running, overlapped
        running += 1
        overlapped = overlapped or running > 1
        await asyncio.sleep(0.001)
        received.append(message.data["packet"]["data"][1] if message.data else -1)
        running -= 1

    b = aws_cluster.make_transport(pollers=pollers)
    await b.start(B, slow_handler)
    try:
        for i in range(30):
            await a.publish(broadcast(A, i))

        await wait_until(lambda: len(received) == 30, 20, "30 broadcasts")
    finally:
        await b.close()
    assert not overlapped
    if pollers == 1:
        assert received == list(range(30))
    else:
        # concurrent receives may swap two batches; nothing is lost or doubled
        assert sorted(received) == list(range(30))


async def test_malformed_messages_are_logged_dropped_and_deleted(
    aws_cluster: AwsBackend, start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, delete_delay=0.1)

    with caplog.at_level(logging.DEBUG, logger="socketio_cloud"):
        await aws_cluster.publish_malformed()
        await a.publish(broadcast(A, "still-alive"))
        await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the valid broadcast")

    assert inbox_b.messages == [broadcast(A, "still-alive")]
    assert any("malformed" in record.getMessage() for record in caplog.records)
    await wait_until(lambda: queue_depth(aws_cluster, b) == (0, 0), 10, "an empty queue")


async def test_received_messages_are_deleted_in_batches(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, delete_delay=0.2)

    for i in range(25):
        await a.publish(broadcast(A, i))
    await wait_until(lambda: len(inbox_b.messages) == 25, 20, "25 broadcasts")

    await wait_until(
        lambda: queue_depth(aws_cluster, b) == (0, 0), 10, "the messages to be deleted"
    )
    assert b.stats["sqs:DeleteMessageBatch"] <= b.stats["sqs:ReceiveMessage"]


async def test_only_full_batches_are_deleted_before_the_delete_delay(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, delete_delay=600)

    for i in range(25):
        await a.publish(broadcast(A, i))
    await wait_until(lambda: len(inbox_b.messages) == 25, 20, "25 broadcasts")
    # 25 broadcasts and the node's start-up probe: two full batches go, 6 wait for the delay
    await wait_until(
        lambda: queue_depth(aws_cluster, b) == (0, 6), 10, "two batches of 10 to be deleted"
    )
    assert b.stats["sqs:DeleteMessageBatch"] == 2


# ---------------------------------------------------------------------------- Node framing


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=str)
async def test_a_message_published_the_node_way_is_understood(
    aws_cluster: AwsBackend, start_node: StartNode, case: GoldenCase
) -> None:
    # The receiving node is the requester of the golden responses.
    _transport, inbox = await start_node(PEER_UID)
    attributes = node_style_attributes(case)

    await asyncio.to_thread(
        aws_cluster.client("sns").publish,
        TopicArn=aws_cluster.topic_arn,
        Message=str(case.type),
        MessageAttributes=attributes,
    )

    await wait_until(lambda: len(inbox.messages) == 1, 10, f"the {case.name} message")
    data = None if case.data is None else protocol.decode_data(case.data)
    expected = protocol.validate_parts(case.type, NODE_UID, case.message["nsp"], data)
    assert inbox.messages == [expected]


async def test_our_messages_carry_exactly_the_node_framing(aws_cluster: AwsBackend) -> None:
    publisher = aws_cluster.make_transport()
    try:
        await publisher.open_publisher()
        assert publisher.topic_arn is not None
        capture = CaptureQueue(aws_cluster, publisher.topic_arn)
        by_name = {case.name: case for case in GOLDEN_CASES}
        for name, build in BUILDERS.items():
            case = by_name[name]
            message = build()
            if case.requester_uid is None:
                await publisher.publish(message)
            else:
                await publisher.publish_response(case.requester_uid, message)

            received = await asyncio.to_thread(capture.receive_one)

            attributes = received.get("MessageAttributes", {})
            expected = node_style_attributes(case)
            assert received["Body"] == str(case.type), name
            if holds_undefined(case.message):
                # Node sends an undefined value as nil; we omit the key, which Node reads
                # back as the same undefined.
                ours = protocol.decode_data(attributes.pop("data")["BinaryValue"])
                assert ours == without_undefined(case.message["data"]), name
                expected.pop("data")
            assert attributes == expected, name
    finally:
        await publisher.close()
