"""How a node publishes its responses: through the transport's queue when it has one
(``publish_response_soon``: no task or future per response), else from a few workers;
failures are counted in ``stats`` and logged, never raised into the consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from socketio_cloud import MemoryBus, MemoryManager, protocol
from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.transports.memory import MemoryTransport

REQUESTER = "0123456789abcdef"


def ack(request_id: str = "ab", packet: Any = "ok") -> ClusterMessage:
    return ClusterMessage(
        MessageType.BROADCAST_ACK,
        "fedcba9876543210",
        "/",
        {"requestId": request_id, "packet": packet},
    )


class QueueingTransport(MemoryTransport):
    """Takes responses into a queue it settles later, as a pipelining transport does."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(MemoryBus())
        self.fail = fail
        self.queued: list[tuple[Callable[[BaseException], None], ClusterMessage]] = []

    def publish_response_soon(
        self,
        requester_uid: str,
        message: ClusterMessage,
        on_error: Callable[[BaseException], None],
    ) -> bool:
        protocol.encode(message)  # refuses what msgpack cannot carry, at once
        self.queued.append((on_error, message))
        return True

    def settle(self) -> None:
        for on_error, _ in self.queued:
            if self.fail:
                on_error(ConnectionError("broker gone"))


def manager_on(transport: MemoryTransport) -> MemoryManager:
    manager = MemoryManager(bus=MemoryBus())
    manager.transport = transport
    return manager


async def test_queued_responses_need_no_task_each() -> None:
    transport = QueueingTransport()
    manager = manager_on(transport)
    tasks_before = len(manager._tasks)
    for index in range(1000):
        manager._respond(REQUESTER, ack(packet=index))
    assert len(manager._tasks) == tasks_before
    assert [m.data["packet"] for _, m in transport.queued] == list(range(1000))  # type: ignore[index]
    transport.settle()
    assert manager.stats.get("responses_failed", 0) == 0


async def test_a_queued_response_that_fails_is_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = QueueingTransport(fail=True)
    manager = manager_on(transport)
    for _ in range(3):
        manager._respond(REQUESTER, ack())
    with caplog.at_level(logging.WARNING):
        transport.settle()
    assert manager.stats["responses_failed"] == 3
    assert "could not send BROADCAST_ACK: broker gone" in caplog.text


async def test_an_unencodable_response_is_replaced_by_its_fallback() -> None:
    transport = QueueingTransport()
    manager = manager_on(transport)
    fallback = ack(packet="replaced")
    manager._respond(REQUESTER, ack(packet=object()), unencodable=lambda: fallback)
    assert [m for _, m in transport.queued] == [fallback]
    # without a fallback the response is dropped, counted and logged
    manager._respond(REQUESTER, ack(packet=object()))
    assert len(transport.queued) == 1
    assert manager.stats["responses_failed"] == 1


async def test_without_a_queue_responses_go_out_from_a_bounded_set_of_workers() -> None:
    sent: list[Any] = []

    class SlowTransport(MemoryTransport):
        async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
            await asyncio.sleep(0.001)
            if message.data["packet"] == "bad":  # type: ignore[index]
                raise ConnectionError("refused")
            sent.append(message.data["packet"])  # type: ignore[index]

    manager = manager_on(SlowTransport(MemoryBus()))
    for index in range(200):
        manager._respond(REQUESTER, ack(packet=index))
    manager._respond(REQUESTER, ack(packet="bad"))
    assert len(manager._tasks) <= manager._max_response_workers
    await asyncio.gather(*list(manager._tasks))
    # a few workers, each in queue order: every response goes out once
    assert sorted(sent) == list(range(200))
    assert manager.stats["responses_failed"] == 1
    assert manager._response_workers == 0
