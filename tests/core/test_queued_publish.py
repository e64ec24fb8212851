"""Queued publishing: ``Transport.publish_soon``'s default keeps the order of slow publishes,
and ``queued_emits`` nodes report failures through ``flush()`` and ``stats``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType, broadcast_data
from socketio_cloud.transport import MessageHandler, Transport
from socketio_cloud.transports.memory import MemoryBus, MemoryManager
from tests.support.services import wait_until


class SlowTransport(Transport):
    """Each publish takes a different number of loop turns; some fail."""

    def __init__(self) -> None:
        self.published: list[Any] = []
        self.fail: set[Any] = set()

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        return None

    async def publish(self, message: ClusterMessage) -> str | None:
        assert message.data is not None
        seq = message.data["packet"]["data"][1]
        for _ in range((7 * seq) % 5):
            await asyncio.sleep(0)
        if seq in self.fail:
            raise TransportError(f"cannot publish {seq}")
        self.published.append(seq)
        return str(seq)

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        return None

    async def close(self) -> None:
        return None


def numbered(seq: int) -> ClusterMessage:
    return ClusterMessage(
        MessageType.BROADCAST, "node", "/", broadcast_data(BroadcastOptions(), ["seq", seq])
    )


async def test_the_default_publish_soon_publishes_in_queue_order() -> None:
    transport = SlowTransport()
    transport.fail = {3}
    queued = [transport.publish_soon(numbered(seq)) for seq in range(10)]
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert transport.published == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert isinstance(results[3], TransportError)
    assert results[:3] == ["0", "1", "2"]


async def test_queued_emits_keep_their_order_on_another_node() -> None:
    bus = MemoryBus()
    sender = MemoryManager(bus=bus, queued_emits=True)
    receiver = MemoryManager(bus=bus)
    received: list[Any] = []
    original = receiver._deliver

    def record(namespace: str, opts: BroadcastOptions, event_args: list[Any], *rest: Any) -> int:
        received.append(event_args[1])
        return original(namespace, opts, event_args, *rest)

    receiver._deliver = record  # type: ignore[method-assign]
    await receiver.ready()
    await sender.ready()
    try:
        for seq in range(100):
            await sender.emit("seq", seq)
        await sender.flush()
        assert sender.stats["queued"] == 100
        await wait_until(lambda: len(received) == 100, message="100 broadcasts")
        assert received == list(range(100))
    finally:
        await sender.close()
        await receiver.close()


async def test_flush_raises_once_for_the_failures_since_the_last_flush() -> None:
    sender = MemoryManager(queued_emits=True)
    await sender.ready()
    await sender.transport.close()  # every publish from now on fails
    try:
        await sender.emit("seq", 1)
        await sender.emit("seq", 2)
        with pytest.raises(TransportError, match="2 queued publish"):
            await sender.flush()
        assert sender.stats["queued_failed"] == 2
        await sender.flush()
    finally:
        await sender.abort()
