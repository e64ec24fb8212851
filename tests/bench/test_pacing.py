"""Senders of the benchmark agree on when a paced run starts."""

from __future__ import annotations

import asyncio
import time

from bench.pacing import paced_start


async def test_a_start_in_the_past_is_now() -> None:
    loop = asyncio.get_running_loop()
    before_ms = time.time() * 1000
    start, start_ms = await paced_start(before_ms - 5000)
    assert start_ms >= before_ms
    assert start <= loop.time()
    start, start_ms = await paced_start(None)
    assert start_ms >= before_ms


async def test_a_start_ahead_is_waited_for_and_mapped_to_the_loop_clock() -> None:
    loop = asyncio.get_running_loop()
    agreed_ms = time.time() * 1000 + 30
    start, start_ms = await paced_start(agreed_ms)
    assert start_ms == agreed_ms
    assert time.time() * 1000 >= agreed_ms - 2  # asyncio may wake a clock tick early
    # the loop time of the agreed moment, which has passed
    assert start <= loop.time()
