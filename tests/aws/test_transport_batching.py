"""Publishes coalesced into SNS PublishBatch calls: 10 entries and 256 KiB per call at most,
every message delivered once, failures reported to each publisher."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.brokers.aws import SNS_MAX_MESSAGE_SIZE
from socketio_cloud.exceptions import PayloadTooLarge, TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType
from socketio_cloud.transports.aws import AwsSqsTransport, framing
from tests.backends.aws import AwsBackend, StartNode
from tests.support.services import wait_until

pytestmark = pytest.mark.aws

A, B = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"


def numbered(seq: int, pad: str = "") -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["seq", seq, pad])
    return ClusterMessage(MessageType.BROADCAST, A, "/", data)


def seqs(messages: list[ClusterMessage]) -> list[Any]:
    return [m.data["packet"]["data"][1] for m in messages if m.data is not None]


def calls(transport: AwsSqsTransport, operation: str) -> int:
    return transport.stats.get(f"sns:{operation}", 0)


async def test_ten_publishes_of_one_turn_are_one_call_and_the_eleventh_another(
    start_node: StartNode,
) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    before = calls(a, "Publish")
    results = await asyncio.gather(*(a.publish_soon(numbered(seq)) for seq in range(10)))
    assert results == [None] * 10
    assert calls(a, "PublishBatch") == 1
    await asyncio.gather(*(a.publish_soon(numbered(seq)) for seq in range(10, 21)))
    # 11 messages: a full batch of 10, then the last one alone (a plain Publish)
    assert calls(a, "PublishBatch") == 2
    assert calls(a, "Publish") == before + 1
    await wait_until(lambda: len(inbox_b.messages) == 21, 15, "21 broadcasts at B")
    assert sorted(seqs(inbox_b.messages)) == list(range(21))


async def test_a_batch_never_exceeds_256_kib(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    # ten messages of ~30 KiB: 300 KiB together, so two calls of at most 256 KiB
    pad = "x" * 30_000
    sizes = [framing.encode_message(numbered(seq, pad)).size for seq in range(10)]
    assert sum(sizes) > SNS_MAX_MESSAGE_SIZE
    sent: list[list[int]] = []
    original = a._calls.call

    async def recording_call(service: Any, operation: str, **params: Any) -> dict[str, Any]:
        if operation == "PublishBatch":
            entries = params["PublishBatchRequestEntries"]
            sent.append(
                [framing.published_size(e["Message"], e["MessageAttributes"]) for e in entries]
            )
        elif operation == "Publish":
            sent.append([framing.published_size(params["Message"], params["MessageAttributes"])])
        return await original(service, operation, **params)

    a._calls.call = recording_call  # type: ignore[method-assign]
    await asyncio.gather(*(a.publish_soon(numbered(seq, pad)) for seq in range(10)))
    assert len(sent) == 2
    assert all(sum(batch) <= SNS_MAX_MESSAGE_SIZE for batch in sent)
    assert sum(len(batch) for batch in sent) == 10
    # exactly full: as many 26,214-byte messages as fit in 256 KiB share one call
    sent.clear()
    base = framing.encode_message(numbered(0, "")).size
    exact = "x" * (SNS_MAX_MESSAGE_SIZE // 10 - base - 8)
    messages = [numbered(seq, exact) for seq in range(100, 110)]
    assert sum(framing.encode_message(m).size for m in messages) <= SNS_MAX_MESSAGE_SIZE
    await asyncio.gather(*(a.publish_soon(m) for m in messages))
    assert [len(batch) for batch in sent] == [10]
    await wait_until(lambda: len(inbox_b.messages) == 20, 20, "20 large broadcasts at B")
    assert sorted(seqs(inbox_b.messages)) == [*range(10), *range(100, 110)]


async def test_batch_size_1_publishes_each_message_alone(start_node: StartNode) -> None:
    a, _ = await start_node(A, batch_size=1)
    _b, inbox_b = await start_node(B)
    before = calls(a, "Publish")
    await asyncio.gather(*(a.publish_soon(numbered(seq)) for seq in range(5)))
    assert calls(a, "Publish") == before + 5
    assert calls(a, "PublishBatch") == 0
    await wait_until(lambda: len(inbox_b.messages) == 5, 15, "5 broadcasts at B")


async def test_a_message_no_call_can_carry_is_refused_at_once(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    with pytest.raises(PayloadTooLarge):
        a.publish_soon(numbered(0, "x" * (SNS_MAX_MESSAGE_SIZE + 1)))


async def test_a_failed_batch_fails_every_message_in_it(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A)

    async def failing_call(service: Any, operation: str, **params: Any) -> dict[str, Any]:
        if operation == "PublishBatch":
            entries = params["PublishBatchRequestEntries"]
            # SNS refuses some entries and accepts the others
            return {
                "Successful": [{"Id": e["Id"]} for e in entries if int(e["Id"]) % 2 == 0],
                "Failed": [
                    {"Id": e["Id"], "Code": "InternalError", "Message": "boom"}
                    for e in entries
                    if int(e["Id"]) % 2
                ],
            }
        raise RuntimeError("network down")

    a._calls.call = failing_call  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(a.publish_soon(numbered(seq)) for seq in range(4)), return_exceptions=True
    )
    assert results[0] is None and results[2] is None
    assert all(isinstance(r, TransportError) for r in (results[1], results[3]))
    with pytest.raises(TransportError, match="network down"):
        await a.publish(numbered(9))
    assert not a.connected
