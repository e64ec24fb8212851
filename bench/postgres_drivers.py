"""Micro-benchmark of the two async PostgreSQL drivers for the Postgres transport.

Measures, in one run against the same server: the NOTIFY round trip (publish through a pool,
received on a dedicated LISTEN connection) and the cost of a publish (``SELECT pg_notify``)
through a pool, sequential and 50 concurrent.

    python bench/postgres_drivers.py postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg
import psycopg_pool

ROUNDS = 2000
PAYLOAD = '{"type":3,"data":{"packet":{"type":2,"data":["news",{"n":1}]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"0123456789abcdef","nsp":"/"}'  # noqa: E501


def report(name: str, samples: list[float]) -> None:
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99)] * 1e6
    print(f"{name:45s} p50 {p50:8.0f} µs   p99 {p99:8.0f} µs")


async def timed(fn: Callable[[], Awaitable[object]], rounds: int = ROUNDS) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


async def concurrent_rate(fn: Callable[[], Awaitable[object]], total: int = ROUNDS) -> float:
    start = time.perf_counter()
    for _ in range(total // 50):
        await asyncio.gather(*(fn() for _ in range(50)))
    return total / (time.perf_counter() - start)


async def bench_asyncpg(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    listener = await asyncpg.connect(dsn)
    arrived: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("bench#/", lambda *args: arrived.put_nowait(args[3]))

    async def round_trip() -> None:
        await pool.execute("SELECT pg_notify($1, $2)", "bench#/", PAYLOAD)
        await arrived.get()

    async def publish() -> None:
        await pool.execute("SELECT pg_notify($1, $2)", "bench#x", PAYLOAD)

    report("asyncpg  NOTIFY round trip", await timed(round_trip))
    report("asyncpg  publish through pool", await timed(publish))
    print(f"{'asyncpg  publish, 50 concurrent':45s} {await concurrent_rate(publish):8.0f} /s")
    await listener.close()
    await pool.close()


async def bench_psycopg(dsn: str) -> None:
    pool = psycopg_pool.AsyncConnectionPool(dsn, min_size=10, max_size=10, open=False)
    await pool.open(wait=True)
    listener = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await listener.execute('LISTEN "bench#/"')
    notifies = listener.notifies()

    async def round_trip() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", ("bench#/", PAYLOAD))
        await anext(notifies)

    async def publish() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", ("bench#x", PAYLOAD))

    report("psycopg  NOTIFY round trip", await timed(round_trip))
    report("psycopg  publish through pool", await timed(publish))
    print(f"{'psycopg  publish, 50 concurrent':45s} {await concurrent_rate(publish):8.0f} /s")
    await listener.close()
    await pool.close()


async def main(dsn: str) -> None:
    print(f"asyncpg {asyncpg.__version__}, psycopg {psycopg.__version__}, {ROUNDS} rounds each")
    for _ in range(2):  # the second pass is the one to read: caches and pools are warm
        await bench_asyncpg(dsn)
        await bench_psycopg(dsn)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://127.0.0.1:5432/test"))
