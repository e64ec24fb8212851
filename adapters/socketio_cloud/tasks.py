"""Stopping background tasks for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
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


class TaskSet:
    """The background tasks one object owns: started with :meth:`spawn`, all stopped by
    :meth:`stop`. A finished task leaves the set by itself; an exception it raised is logged,
    not lost."""

    def __init__(self, owner: str = "") -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run ``coro`` in the background until it ends or :meth:`stop` is called."""
        task = asyncio.ensure_future(coro)
        if name is not None:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%sbackground task %s failed",
                f"{self.owner}: " if self.owner else "",
                task.get_name(),
                exc_info=task.exception(),
            )

    async def stop(self) -> None:
        """Cancel every task and wait until they are done (see :func:`cancel_and_wait`)."""
        tasks = list(self._tasks)
        self._tasks.clear()
        await cancel_and_wait(tasks)
