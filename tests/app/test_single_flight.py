"""SingleFlight: concurrent callers share runs, and nobody gets an answer older than its call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app.single_flight import SingleFlight
from tests.support.services import wait_until


class Gate:
    """A fetch that counts its runs and finishes each one only when told to."""

    def __init__(self) -> None:
        self.runs = 0
        self.release: list[asyncio.Event] = []

    async def __call__(self) -> int:
        self.runs += 1
        run = self.runs
        event = asyncio.Event()
        self.release.append(event)
        await event.wait()
        return run

    def finish(self, run: int) -> None:
        self.release[run - 1].set()


async def test_a_lone_caller_gets_its_own_run() -> None:
    gate = Gate()
    flight = SingleFlight(gate)
    call = asyncio.ensure_future(flight())
    await wait_until(lambda: gate.runs == 1)
    gate.finish(1)
    assert await call == 1


async def test_callers_during_a_run_share_the_next_run() -> None:
    gate = Gate()
    flight = SingleFlight(gate)
    first = asyncio.ensure_future(flight())
    await wait_until(lambda: gate.runs == 1)
    later = [asyncio.ensure_future(flight()) for _ in range(5)]
    await asyncio.sleep(0)
    gate.finish(1)
    assert await first == 1
    await wait_until(lambda: gate.runs == 2)
    gate.finish(2)
    assert await asyncio.gather(*later) == [2] * 5
    assert gate.runs == 2


async def test_a_failed_run_fails_its_callers_only() -> None:
    outcomes: Iterator[Exception | str] = iter([RuntimeError("broker down"), "fine"])

    async def fetch() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    flight = SingleFlight(fetch)
    with pytest.raises(RuntimeError, match="broker down"):
        await flight()
    assert await flight() == "fine"


async def test_cancel_stops_the_runs_in_progress() -> None:
    gate = Gate()
    flight = SingleFlight(gate)
    call = asyncio.ensure_future(flight())
    await wait_until(lambda: gate.runs == 1)
    await flight.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


def test_a_client_past_its_budget_is_refused_until_tokens_come_back() -> None:
    from app.rate_limit import RateLimit

    limit = RateLimit(rate=2.0, burst=3)
    assert [limit.allow("a", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b", now=0.0)  # budgets are per client
    assert not limit.allow("a", now=0.2)
    assert limit.allow("a", now=0.6)  # one token back after 0.5 s
    limit.forget("a")
    assert limit.allow("a", now=0.6)
