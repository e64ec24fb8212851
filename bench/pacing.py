"""The start of a paced send loop, shared by the Python senders of the benchmark."""

from __future__ import annotations

import asyncio
import time


async def paced_start(start_ms: float | None = None) -> tuple[float, float]:
    """Wait for ``start_ms`` (epoch milliseconds, a time agreed with other processes; None
    or past: now) and return it as (event-loop time, epoch milliseconds)."""
    loop = asyncio.get_running_loop()
    now_ms = time.time() * 1000
    if start_ms is None or start_ms <= now_ms:
        return loop.time(), now_ms
    await asyncio.sleep((start_ms - now_ms) / 1000)
    # the loop clock where the agreed time falls, not where the sleep happened to end
    return loop.time() - (time.time() * 1000 - start_ms) / 1000, float(start_ms)
