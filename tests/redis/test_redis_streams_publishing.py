"""How a node publishes on Redis Streams: own entries skipped unread, entries of one loop
turn in one pipeline, in order; queued emits (``queued_emits=True``) keep their order and
report failures through ``flush()`` and ``stats``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from socketio_cloud import protocol
from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType, broadcast_data
from socketio_cloud.transports.redis_streams import RedisStreamsManager, RedisStreamsTransport
from tests.backends.redis_streams import REDIS_URL, receiver_and_sender, require_redis
from tests.redis.redis_server import RedisServer
from tests.support.services import wait_until

pytestmark = pytest.mark.redis


def numbered(uid: str, seq: int) -> ClusterMessage:
    data = broadcast_data(BroadcastOptions(), ["seq", seq])
    return ClusterMessage(MessageType.BROADCAST, uid, "/", data)


def seq_of(message: ClusterMessage) -> Any:
    assert message.data is not None
    return message.data["packet"]["data"][1]


@pytest.fixture
async def names() -> AsyncIterator[dict[str, str]]:
    require_redis()
    tag = secrets.token_hex(4)
    yield {"stream_name": f"sio-p-{tag}", "channel_prefix": f"sio-p-{tag}"}
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"sio-p-{tag}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def recorder(received: list[Any]) -> Callable[[ClusterMessage, str | None], Awaitable[None]]:
    """A node's message handler that records broadcasts' numbers and other messages' types."""

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        is_broadcast = message.type is MessageType.BROADCAST
        received.append(seq_of(message) if is_broadcast else message.type.name)

    return on_message


async def start_receiver(url: str, names: dict[str, str], received: list[Any]) -> Any:
    receiver = RedisStreamsTransport(url=url, block_time=1.0, **names)  # type: ignore[arg-type]
    await receiver.add_namespace("/")
    await receiver.start(protocol.new_uid(), recorder(received))
    return receiver


@pytest.fixture
async def pair(names: dict[str, str]) -> AsyncIterator[tuple[RedisStreamsTransport, list[Any]]]:
    """A publishing transport and what a receiving node got from it, in order."""
    received: list[Any] = []
    async with receiver_and_sender(names, recorder(received), block_time=1.0) as (_, sender):
        yield sender, received


def in_stream_order(offsets: list[str | None]) -> bool:
    ids = [tuple(int(part) for part in str(offset).split("-")) for offset in offsets]
    return ids == sorted(ids)


async def test_own_entries_are_skipped_before_decoding(names: dict[str, str]) -> None:
    received: list[ClusterMessage] = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        received.append(message)

    node = RedisStreamsTransport(url=REDIS_URL, **names)  # type: ignore[arg-type]
    await node.add_namespace("/")
    await node.start(protocol.new_uid(), on_message)
    client = Redis.from_url(REDIS_URL)
    try:
        # undecodable data under the node's own uid: skipped, not rejected
        fields = {"uid": node._uid, "nsp": "/", "type": "3", "data": "not base64 !"}
        await client.xadd(names["stream_name"], fields)  # type: ignore[arg-type]
        await client.xadd(names["stream_name"], {**fields, "uid": "other"})  # type: ignore[arg-type]
        await wait_until(lambda: node.stats.get("rejected", 0) == 1, message="the other entry")
        assert node.stats.get("own") == 1
        assert received == []
    finally:
        await client.aclose()
        await node.close()


async def test_entries_of_one_loop_turn_share_a_pipeline_and_keep_their_order(
    pair: tuple[RedisStreamsTransport, list[Any]],
) -> None:
    sender, received = pair
    queued = [sender.publish_soon(numbered("sender", seq)) for seq in range(50)]
    offsets = await asyncio.gather(*queued)
    assert sender.stats["xadd"] == 50
    assert sender.stats["round_trips"] == 1
    # stream ids grow in publish order
    assert in_stream_order(offsets)
    # concurrent awaited publishes are pipelined too, in the order they were called
    offsets = await asyncio.gather(
        *(sender.publish(numbered("sender", seq)) for seq in range(50, 80))
    )
    assert sender.stats["round_trips"] < 1 + 30
    assert in_stream_order(offsets)
    await wait_until(lambda: len(received) == 80, message="80 entries")
    assert received == list(range(80))


async def test_queued_emits_return_at_once_and_arrive_in_order(names: dict[str, str]) -> None:
    received: list[Any] = []
    receiver = await start_receiver(REDIS_URL, names, received)
    mgr = RedisStreamsManager(url=REDIS_URL, queued_emits=True, **names)  # type: ignore[arg-type]
    await mgr.ready()
    try:
        for seq in range(200):
            await mgr.emit("seq", seq)
            if seq % 50 == 0:
                await asyncio.sleep(0)  # let a pipeline leave mid-loop
        # an awaited publish after them (a room change) goes out after them
        await mgr.close_room("room")
        await mgr.flush()
        assert mgr.stats["queued"] == 200
        assert mgr.stats.get("queued_failed", 0) == 0
        assert mgr.stats["xadd"] == 201
        await wait_until(lambda: len(received) == 201, message="200 broadcasts and a leave")
        assert received == [*range(200), "SOCKETS_LEAVE"]
    finally:
        await mgr.close()
        await receiver.close()


async def test_a_queued_emit_failing_after_it_returned_is_reported_by_flush(
    redis_server: RedisServer,
) -> None:
    names = {"stream_name": "queued", "channel_prefix": "queued"}
    mgr = RedisStreamsManager(url=redis_server.url, queued_emits=True, **names)  # type: ignore[arg-type]
    await mgr.ready()
    try:
        await mgr.emit("seq", 0)
        await mgr.flush()  # nothing failed: returns
        redis_server.stop()
        for seq in range(1, 6):
            await mgr.emit("seq", seq)  # returns: the message is only queued
        with pytest.raises(TransportError, match="5 queued publish"):
            await mgr.flush()
        assert mgr.stats["queued"] == 6
        assert mgr.stats["queued_failed"] == 5
        # reported once: the next flush has nothing to say
        await mgr.flush()
    finally:
        await mgr.abort()


async def test_an_awaited_publish_on_an_idle_node_is_sent_first_and_the_rest_follow(
    pair: tuple[RedisStreamsTransport, list[Any]],
) -> None:
    sender, received = pair
    first = asyncio.ensure_future(sender.publish(numbered("sender", 0)))
    await asyncio.sleep(0)  # the first is on its way, from its caller's task
    assert sender._writer is not None and not isinstance(sender._writer, asyncio.Task)
    # queued while it is in flight: sent after it, together
    rest = [sender.publish_soon(numbered("sender", seq)) for seq in range(1, 6)]
    offsets = [await first, *await asyncio.gather(*rest)]
    assert in_stream_order(offsets)
    assert sender.stats["round_trips"] == 2
    await wait_until(lambda: len(received) == 6, message="6 entries")
    assert received == list(range(6))


async def test_close_waits_for_an_awaited_publish_on_its_way(
    pair: tuple[RedisStreamsTransport, list[Any]],
) -> None:
    sender, received = pair
    publishing = asyncio.ensure_future(sender.publish(numbered("sender", 7)))
    await asyncio.sleep(0)
    await sender.close()
    assert await publishing is not None
    await wait_until(lambda: received == [7], message="the entry")


async def test_a_failed_awaited_publish_raises_and_the_next_one_is_sent(
    redis_server: RedisServer,
) -> None:
    names = {"stream_name": "inline", "channel_prefix": "inline"}
    sender = RedisStreamsTransport(url=redis_server.url, **names)  # type: ignore[arg-type]
    await sender.open_publisher()
    try:
        redis_server.stop()
        with pytest.raises(TransportError, match="cannot publish"):
            await sender.publish(numbered("sender", 0))
        assert sender.stats["xadd_failed"] == 1
        assert sender._writer is None
        redis_server.start()
        assert await sender.publish(numbered("sender", 1)) is not None
    finally:
        await sender.abort()


async def test_pub_sub_messages_are_not_formatted_for_a_debug_log(
    names: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # redis-py's own handler of pub/sub messages builds the text of each one for a debug
    # line whatever the level: for a 4 MB fetch answer, 10 ms on the asking node
    received: list[Any] = []
    receiver = await start_receiver(REDIS_URL, names, received)
    sender = RedisStreamsTransport(url=REDIS_URL, **names)  # type: ignore[arg-type]
    await sender.open_publisher()
    try:
        answer = ClusterMessage(
            MessageType.FETCH_SOCKETS_RESPONSE,
            protocol.new_uid(),
            "/",
            {"requestId": "1" * 16, "sockets": []},
        )
        with caplog.at_level(logging.DEBUG, logger="push_response"):
            await sender.publish_response(receiver._uid, answer)
            await wait_until(lambda: received, 5, "the answer")
        assert received == ["FETCH_SOCKETS_RESPONSE"]
        assert [r.getMessage() for r in caplog.records if r.name == "push_response"] == []
    finally:
        await sender.close()
        await receiver.close()
