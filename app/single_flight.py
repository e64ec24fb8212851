"""Share one run of an expensive coroutine among the callers that want it at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Calls ``fetch`` for many concurrent callers, at most two runs at a time.

    Every caller gets the result of a run that *started after it asked*, so nobody gets an
    answer older than its question: a caller arriving while a run is in progress waits for
    the next run, which all such callers share. With ``n`` callers at once, ``fetch`` runs
    at most twice instead of ``n`` times.
    """

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._current: asyncio.Task[T] | None = None
        self._next: asyncio.Task[T] | None = None

    async def __call__(self) -> T:
        if self._next is not None:
            return await asyncio.shield(self._next)
        if self._current is None or self._current.done():
            self._current = asyncio.ensure_future(self._fetch())
            return await asyncio.shield(self._current)
        self._next = asyncio.ensure_future(self._after(self._current))
        return await asyncio.shield(self._next)

    async def _after(self, previous: asyncio.Task[T]) -> T:
        await asyncio.gather(previous, return_exceptions=True)
        # This run becomes the current one; later callers queue behind it.
        self._current, self._next = self._next, None
        return await self._fetch()

    async def cancel(self) -> None:
        """Cancel the runs in progress (their callers get CancelledError)."""
        tasks = [task for task in (self._current, self._next) if task is not None]
        self._current = self._next = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
