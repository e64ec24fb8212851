"""When idle, a node takes the heartbeats of one clock tick in as few receives as it can."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_cloud.cluster import ClusterManager
from socketio_cloud.transports.aws import AwsSqsManager, AwsSqsTransport


def _transport(**options: Any) -> AwsSqsTransport:
    return AwsSqsTransport(topic_arn="arn:aws:sns:us-east-1:123456789012:t", **options)


def _messages(*bodies: str) -> list[dict[str, Any]]:
    return [{"Body": body} for body in bodies]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float, *args: Any) -> Any:
        recorded.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return recorded


async def test_heartbeats_alone_on_an_idle_queue_wait_for_the_rest_of_the_tick(
    sleeps: list[float],
) -> None:
    transport = _transport(idle_coalesce=0.3, idle_after=10)
    await transport._coalesce_idle_heartbeats(_messages("2", "1"))
    assert sleeps == [0.3]


async def test_any_other_message_makes_the_queue_busy_and_is_never_delayed(
    sleeps: list[float],
) -> None:
    transport = _transport(idle_coalesce=0.3, idle_after=10)
    await transport._coalesce_idle_heartbeats(_messages("2", "3"))
    await transport._coalesce_idle_heartbeats(_messages("2"))  # busy for idle_after seconds
    assert sleeps == []


async def test_full_batches_and_disabled_coalescing_receive_at_once(sleeps: list[float]) -> None:
    await _transport(idle_coalesce=0.3)._coalesce_idle_heartbeats(_messages(*"2" * 10))
    await _transport(idle_coalesce=0)._coalesce_idle_heartbeats(_messages("2"))
    assert sleeps == []


def test_manager_options_reach_the_transport_and_the_core() -> None:
    manager = AwsSqsManager(
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        idle_coalesce=0.5,
        wait_time=5,
        heartbeat_interval=2,
        heartbeat_timeout=6,
    )
    assert isinstance(manager, ClusterManager)
    assert manager.transport.idle_coalesce == 0.5 and manager.transport.wait_time == 5
    assert manager.heartbeat_interval == 2 and manager.heartbeat_timeout == 6
    with pytest.raises(TypeError):
        AwsSqsManager(no_such_option=1)
