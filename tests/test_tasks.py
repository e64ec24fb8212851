"""Background tasks stop even when one swallows a cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from socketio_cloud.tasks import cancel_and_wait


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait([task], interval=0.05)
    assert task.cancelled() and swallowed == 2


async def test_a_task_that_never_stops_is_reported_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()

    async def immortal() -> None:
        while not stop.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.ensure_future(immortal())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="socketio_cloud.tasks"):
        await cancel_and_wait([task], rounds=3, interval=0.01)
    assert "ignored cancellation" in caplog.text
    stop.set()
    task.cancel()
    await asyncio.wait([task], timeout=1)


async def test_done_tasks_need_nothing() -> None:
    async def quick() -> int:
        return 1

    task = asyncio.ensure_future(quick())
    await task
    await cancel_and_wait([task])
    assert task.result() == 1
