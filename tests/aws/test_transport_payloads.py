"""Messages over SNS's 256 KiB: an error without a bucket, a trip through S3 with one."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.exceptions import PayloadTooLarge
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType
from socketio_cloud.transports.aws import SNS_MAX_MESSAGE_SIZE
from socketio_cloud.transports.aws.payloads import LIFECYCLE_RULE_ID
from tests.backends.aws import AwsBackend, StartNode
from tests.support.services import wait_until

pytestmark = pytest.mark.aws

A, B = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
PREFIX = "socketio-cloud/"


@pytest.fixture
def bucket(aws_cluster: AwsBackend) -> Any:
    s3 = aws_cluster.client("s3")
    name = f"sio-test-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name)
    yield name
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def broadcast(uid: str, payload: bytes) -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["file", payload])
    return ClusterMessage(MessageType.BROADCAST, uid, "/", data)


def stored_keys(aws_cluster: AwsBackend, bucket: str) -> list[str]:
    return [
        item["Key"]
        for item in aws_cluster.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    ]


async def test_a_message_over_the_sns_limit_raises_without_a_bucket(start_node: StartNode) -> None:
    a, _ = await start_node(A)

    with pytest.raises(PayloadTooLarge) as caught:
        await a.publish(broadcast(A, b"x" * SNS_MAX_MESSAGE_SIZE))

    assert caught.value.limit == SNS_MAX_MESSAGE_SIZE
    assert "large_payload_bucket" in str(caught.value)
    assert "sns:Publish" in a.stats  # the probe only: nothing was sent
    assert a.stats["sns:Publish"] == 1


async def test_a_message_just_under_the_limit_goes_through_sns(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    payload = b"x" * (SNS_MAX_MESSAGE_SIZE - 200)

    await a.publish(broadcast(A, payload))

    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the large broadcast")
    assert inbox_b.messages == [broadcast(A, payload)]


async def test_a_large_message_travels_through_s3(
    aws_cluster: AwsBackend, bucket: str, start_node: StartNode
) -> None:
    a, _ = await start_node(A, large_payload_bucket=bucket)
    b, inbox_b = await start_node(B, large_payload_bucket=bucket)
    payload = secrets.token_bytes(600_000)

    await a.publish(broadcast(A, payload))

    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the S3 broadcast")
    assert inbox_b.messages == [broadcast(A, payload)]
    [key] = stored_keys(aws_cluster, bucket)
    assert key.startswith(f"{PREFIX}{A}/")
    assert a.stats["s3:PutObject"] == 1
    assert b.stats["s3:GetObject"] == 1


async def test_small_messages_do_not_touch_s3(bucket: str, start_node: StartNode) -> None:
    a, _ = await start_node(A, large_payload_bucket=bucket)
    b, inbox_b = await start_node(B, large_payload_bucket=bucket)

    await a.publish(broadcast(A, b"small"))

    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the broadcast")
    assert not any(op.startswith("s3:") for op in {**a.stats, **b.stats})


async def test_a_payload_over_the_receivers_limit_is_dropped(
    bucket: str, start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = await start_node(A, large_payload_bucket=bucket)
    small = protocol.Limits(max_message_size=300_000)
    _b, inbox_b = await start_node(B, large_payload_bucket=bucket, limits=small)

    with caplog.at_level(logging.DEBUG, logger="socketio_cloud"):
        await a.publish(broadcast(A, b"x" * 400_000))
        await a.publish(broadcast(A, b"fine"))
        await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the small broadcast")

    assert inbox_b.messages == [broadcast(A, b"fine")]
    assert any("exceeds 300000" in record.getMessage() for record in caplog.records)


async def test_a_receiver_without_the_bucket_drops_the_pointer(
    bucket: str, start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = await start_node(A, large_payload_bucket=bucket)
    _b, inbox_b = await start_node(B)

    with caplog.at_level(logging.DEBUG, logger="socketio_cloud"):
        await a.publish(broadcast(A, b"x" * 300_000))
        await a.publish(broadcast(A, b"fine"))
        await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the small broadcast")

    assert any("large_payload_bucket" in record.getMessage() for record in caplog.records)


async def test_an_emitter_sends_large_payloads_through_s3(
    aws_cluster: AwsBackend, bucket: str, start_node: StartNode
) -> None:
    _b, inbox_b = await start_node(B, large_payload_bucket=bucket)
    publisher = aws_cluster.make_transport(large_payload_bucket=bucket)
    try:
        await publisher.publish(broadcast(protocol.EMITTER_UID, b"y" * 300_000))
    finally:
        await publisher.close()

    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the emitter's broadcast")
    [key] = stored_keys(aws_cluster, bucket)
    assert key.startswith(f"{PREFIX}emitter/")


async def test_the_lifecycle_rule_is_added_next_to_existing_rules(
    aws_cluster: AwsBackend, bucket: str
) -> None:
    s3 = aws_cluster.client("s3")
    other = {"ID": "keep-me", "Filter": {"Prefix": "logs/"}, "Status": "Enabled"}
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{**other, "Expiration": {"Days": 30}}]},
    )
    publisher = aws_cluster.make_transport(
        large_payload_bucket=bucket, manage_payload_lifecycle=True
    )
    try:
        await publisher.open_publisher()
    finally:
        await publisher.close()

    rules = await asyncio.to_thread(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    )
    by_id = {rule["ID"]: rule for rule in rules}
    assert set(by_id) == {"keep-me", LIFECYCLE_RULE_ID}
    assert by_id[LIFECYCLE_RULE_ID]["Expiration"] == {"Days": 1}
    assert by_id[LIFECYCLE_RULE_ID]["Filter"] == {"Prefix": PREFIX}
