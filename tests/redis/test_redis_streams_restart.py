"""Redis goes away and comes back: nothing is lost, nothing is delivered twice.

Each test runs its own ``redis-server`` (append-only file in a temporary directory, so the
stream survives a restart) and restarts it while messages flow.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
import redis as redis_sync

from socketio_cloud import protocol
from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType, broadcast_data
from socketio_cloud.transports.redis_streams import (
    RedisStreamsManager,
    RedisStreamsTransport,
    entry_fields,
)
from tests.behaviour.harness import connect_client, make_node
from tests.redis.redis_server import RedisServer
from tests.support.services import wait_until

pytestmark = pytest.mark.redis

NAMES = {"stream_name": "restart", "channel_prefix": "restart"}
LOGGER = "socketio_cloud.transports.redis_streams"


def numbered(seq: Any) -> ClusterMessage:
    data = broadcast_data(BroadcastOptions(), ["seq", seq])
    return ClusterMessage(MessageType.BROADCAST, "emitter", "/", data)


async def start_receiver(url: str, received: list[Any]) -> RedisStreamsTransport:
    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        assert message.data is not None
        received.append(message.data["packet"]["data"][1])

    receiver = RedisStreamsTransport(url=url, block_time=1.0, **NAMES)
    await receiver.add_namespace("/")
    await receiver.start(protocol.new_uid(), on_message)
    return receiver


async def test_every_broadcast_around_a_restart_arrives_exactly_once(
    redis_server: RedisServer,
) -> None:
    received: list[Any] = []
    receiver = await start_receiver(redis_server.url, received)
    sender = RedisStreamsTransport(url=redis_server.url, **NAMES)
    await sender.open_publisher()
    sent: list[int] = []
    failed: list[int] = []  # may or may not have reached Redis
    stop = asyncio.Event()

    async def publish_numbers() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            try:
                await sender.publish(numbered(seq))
                sent.append(seq)
            except TransportError:
                failed.append(seq)
            await asyncio.sleep(0.005)  # pacing, so the restart lands mid-stream

    publisher = asyncio.create_task(publish_numbers())
    try:
        await wait_until(lambda: len(received) >= 50, message="50 broadcasts before the restart")
        # Restart Redis and add entries before the event loop runs again, so before the
        # reader can reconnect: only resuming from its last entry id delivers them.
        redis_server.restart()
        gap = [f"gap-{i}" for i in range(5)]
        with redis_sync.Redis.from_url(redis_server.url) as client:
            for seq in gap:
                client.xadd("restart", entry_fields(numbered(seq)))  # type: ignore[arg-type]
        sent_before = len(sent)
        await wait_until(
            lambda: len(sent) >= sent_before + 50, timeout=30, message="publishing to resume"
        )
    finally:
        stop.set()
        await publisher
    expected = set(sent) | set(gap)
    await wait_until(
        lambda: expected <= set(received), timeout=30, message="every broadcast to arrive"
    )
    await receiver.close()
    await sender.close()

    counts = Counter(received)
    assert {seq for seq in expected if counts[seq] != 1} == set()
    assert all(counts[seq] <= 1 for seq in failed)
    assert set(counts) <= expected | set(failed)
    numbers = [seq for seq in received if isinstance(seq, int)]
    assert numbers == sorted(numbers)  # the stream keeps the sender's order
    assert received.index("gap-0") < received.index("gap-4")


async def test_publishing_while_redis_is_down_fails_fast_and_recovers(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    received: list[Any] = []
    receiver = await start_receiver(redis_server.url, received)
    sender = RedisStreamsTransport(url=redis_server.url, **NAMES)
    await sender.open_publisher()
    try:
        await sender.publish(numbered("before"))
        await wait_until(lambda: received == ["before"], message="the first broadcast")
        assert receiver.connected and sender.connected
        reachable_before = _count(caplog, "reachable again")

        await asyncio.to_thread(redis_server.stop)
        with pytest.raises(TransportError, match="Redis"):
            # bounded, so a publish that hangs instead of failing fails the test
            await asyncio.wait_for(sender.publish(numbered("lost")), 10)
        assert not sender.connected
        await wait_until(lambda: not receiver.connected, message="the reader to notice")
        # the readers keep retrying with backoff, logging the state change only once
        await wait_until(
            lambda: _count(caplog, "failed (") >= 6, timeout=30, message="several retries"
        )
        assert _count(caplog, "lost the connection") == 2  # the sender's and the receiver's

        await asyncio.to_thread(redis_server.start)
        await wait_until(lambda: receiver.connected, timeout=30, message="the reader to reconnect")
        await sender.publish(numbered("after"))
        assert sender.connected
        await wait_until(lambda: "after" in received, message="the broadcast after the outage")
        assert received == ["before", "after"]
        assert _count(caplog, "reachable again") - reachable_before == 2
    finally:
        await receiver.close()
        await sender.close()


def _count(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


async def test_subscriptions_come_back_after_a_restart(redis_server: RedisServer) -> None:
    received: list[Any] = []
    receiver = await start_receiver(redis_server.url, received)
    sender = RedisStreamsTransport(url=redis_server.url, **NAMES)
    await sender.add_namespace("/")
    await sender.start(protocol.new_uid(), _ignore)
    try:
        assert await sender.server_count("/") == 2
        await asyncio.to_thread(redis_server.restart)
        await wait_until(lambda: receiver.connected, timeout=30, message="the reader to reconnect")
        await wait_until(
            lambda: _server_count_is(sender, 2), timeout=30, message="both nodes to resubscribe"
        )
        # a broadcast with ack is a request: it goes through pub/sub, not the stream
        data = broadcast_data(BroadcastOptions(), ["seq", "request"], "00112233aabbccdd")
        request = ClusterMessage(MessageType.BROADCAST, sender._uid, "/", data)
        await sender.publish(request)
        await wait_until(lambda: received == ["request"], message="the request via pub/sub")
    finally:
        await receiver.close()
        await sender.close()


async def _ignore(message: ClusterMessage, offset: str | None) -> None:
    return None


async def _server_count_is(transport: RedisStreamsTransport, expected: int) -> bool:
    try:
        return await transport.server_count("/") == expected
    except TransportError:
        return False


async def test_clients_get_every_broadcast_once_across_a_restart(
    redis_server: RedisServer,
) -> None:
    """End to end: a server broadcasts numbers to a client on another server while Redis
    restarts; the client sees each number that was published exactly once, in order."""
    options = {"url": redis_server.url, **NAMES}
    sender = make_node("sender", RedisStreamsManager(**options))
    receiver = make_node("receiver", RedisStreamsManager(block_time=1.0, **options))
    await sender.start()
    await receiver.start()
    client = await connect_client(receiver, "client")
    published: list[int] = []
    failed: list[int] = []
    stop = asyncio.Event()

    async def broadcast_numbers() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            try:
                await sender.sio.emit("seq", seq)
                published.append(seq)
            except TransportError:
                failed.append(seq)
            await asyncio.sleep(0.005)  # pacing, so the restart lands mid-stream

    task = asyncio.create_task(broadcast_numbers())
    try:
        await client.wait_for("seq", count=30)
        await asyncio.to_thread(redis_server.stop)
        await wait_until(lambda: len(failed) >= 3, message="broadcasts to fail while Redis is down")
        await asyncio.to_thread(redis_server.start)
        before = len(published)
        await wait_until(
            lambda: len(published) >= before + 30, timeout=30, message="broadcasting to resume"
        )
        stop.set()
        await task
        await wait_until(
            lambda: set(published) <= {args[0] for args in client.received("seq")},
            timeout=30,
            message="every published broadcast to reach the client",
        )
    finally:
        stop.set()
        await task
        await client.sio.disconnect()
        await sender.stop()
        await receiver.stop()

    numbers = [args[0] for args in client.received("seq")]
    counts = Counter(numbers)
    assert all(counts[seq] == 1 for seq in published)
    assert all(counts[seq] <= 1 for seq in failed)
    assert numbers == sorted(numbers)


async def test_starting_while_redis_is_down_fails_and_can_be_retried(
    redis_server: RedisServer,
) -> None:
    await asyncio.to_thread(redis_server.stop)
    transport = RedisStreamsTransport(url=redis_server.url, **NAMES)
    await transport.add_namespace("/")
    uid = protocol.new_uid()
    try:
        with pytest.raises(TransportError, match="Redis"):
            await asyncio.wait_for(transport.start(uid, _ignore), 10)
        assert not transport.connected
        await asyncio.to_thread(redis_server.start)
        await transport.start(uid, _ignore)
        assert transport.connected
        assert await transport.server_count("/") == 1
    finally:
        await transport.close()
