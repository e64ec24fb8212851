"""Stopping background tasks for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger("socketio_cloud.tasks")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], *, rounds: int = 20, interval: float = 0.25
) -> None:
    """Cancel ``tasks`` and wait until they are done.

    A task can swallow one cancellation (on Python 3.11 ``asyncio.wait_for`` returns the
    inner result when cancellation and completion coincide, and a loop around it goes on),
    so the tasks still running are cancelled again, up to ``rounds`` times; a task that
    outlives that is logged and left behind rather than blocking the caller forever.
    """
    pending = {task for task in tasks if not task.done()}
    for _ in range(rounds):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=interval)
    if pending:
        logger.warning("%d background task(s) ignored cancellation", len(pending))
