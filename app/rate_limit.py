"""A per-client budget for requests that reach the whole cluster."""

from __future__ import annotations

import time

__all__ = ["RateLimit"]


class RateLimit:
    """A token bucket per client: ``burst`` requests at once, then ``rate`` per second.

    The service asks :meth:`allow` before a handler that publishes to the cluster or waits
    for every server; a client past its budget gets an error instead of one more cluster
    request, so one websocket cannot flood the broker.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("need rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str, now: float | None = None) -> bool:
        """Take one token of ``client``'s bucket if there is one."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return False
        self._buckets[client] = (tokens - 1, now)
        return True

    def forget(self, client: str) -> None:
        """The client is gone: drop its bucket."""
        self._buckets.pop(client, None)
