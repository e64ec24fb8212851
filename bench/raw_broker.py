"""The broker alone from Python: XADD -> XREAD through redis-py (hiredis, uvloop), no Socket.IO.

    python -m bench.raw_broker --role pub|sub --key NAME [--redis-url URL] [--padding 100]

The Python twin of ``raw_broker.mjs`` (streams mode), speaking the same line-oriented JSON
control (``control.mjs``): the publisher sends payloads ``{phase, seq, t, pad}`` as stream
entries, the reader records each one's latency (receive time minus ``t``). Beside the Node
floor it shows what the Python client and event loop alone add to a message's trip, before
any cluster or Socket.IO code runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from redis.asyncio import Redis

from bench.pacing import paced_start


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Tally:
    """One receiver's per-phase accounting, as ``control.mjs``'s ``Tally`` keeps it."""

    def __init__(self) -> None:
        self.start("none", 0)

    def start(self, phase: str, expected: int) -> None:
        self.phase = phase
        self.expected = expected
        self.seen: set[int] = set()
        self.received = 0
        self.reported = expected == 0
        self.latencies: list[float] = []
        self.first_by_seq: dict[int, float] = {}
        self.first: float | None = None
        self.last: float | None = None

    def record(self, payload: dict[str, Any]) -> None:
        now = time.time() * 1000
        if payload.get("phase") != self.phase:
            return
        self.received += 1
        latency = now - payload["t"]
        self.latencies.append(latency)
        seq = payload["seq"]
        best = self.first_by_seq.get(seq)
        if best is None or latency < best:
            self.first_by_seq[seq] = latency
        if self.first is None:
            self.first = now
        self.last = now
        before = len(self.seen)
        self.seen.add(seq)
        if len(self.seen) != before and len(self.seen) == self.expected and not self.reported:
            self.reported = True
            emit("complete", phase=self.phase)

    def report(self) -> dict[str, Any]:
        distinct = min(len(self.seen), self.expected)
        return {
            "phase": self.phase,
            "receivers": 1,
            "received": self.received,
            "distinct": distinct,
            "duplicates": self.received - distinct,
            "lost": self.expected - distinct,
            "first_ms": self.first,
            "last_ms": self.last,
            "latencies_ms": [round(value, 3) for value in self.latencies],
            "first_latencies_ms": {
                str(seq): round(value, 3) for seq, value in self.first_by_seq.items()
            },
        }


class Publisher:
    def __init__(self, client: Redis, key: str, padding: int) -> None:
        self.client = client
        self.key = key
        self.pad = "x" * padding
        self.stopped = False

    async def run(self, phase: str, count: int, rate: float, start_ms: float | None = None) -> None:
        self.stopped = False
        loop = asyncio.get_running_loop()
        start, start_ms = await paced_start(start_ms)
        sent = 0
        for seq in range(count):
            if self.stopped:
                break
            if rate > 0:
                delay = start + seq / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self.stopped:
                        break
            payload = {"phase": phase, "seq": seq, "t": time.time() * 1000, "pad": self.pad}
            await self.client.xadd(
                self.key, {"data": json.dumps(payload)}, maxlen=10_000, approximate=True
            )
            sent += 1
        emit("sent", phase=phase, count=sent, start_ms=start_ms, end_ms=time.time() * 1000)


async def read_entries(client: Redis, key: str, tally: Tally) -> None:
    last = await client.xrevrange(key, count=1)
    offset = last[0][0] if last else b"0-0"
    emit("ready", pid=_pid())
    while True:
        reply = await client.xread({key: offset}, count=100, block=1000)
        streams = reply.items() if isinstance(reply, dict) else reply or ()
        for _name, entries in streams:
            for entry_id, fields in entries:
                offset = entry_id
                tally.record(json.loads(fields[b"data"]))


def _pid() -> int:
    import os

    return os.getpid()


async def commands() -> Any:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.strip():
            yield json.loads(line)


async def main(args: argparse.Namespace) -> None:
    client = Redis.from_url(args.redis_url)
    tasks: set[asyncio.Task[Any]] = set()
    try:
        if args.role == "pub":
            publisher = Publisher(client, args.key, args.padding)
            emit("ready", pid=_pid())
            async for command in commands():
                if command.get("cmd") == "send":
                    task = asyncio.ensure_future(
                        publisher.run(
                            command["phase"],
                            int(command["count"]),
                            command["rate"],
                            command.get("start_ms"),
                        )
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif command.get("cmd") == "stop":
                    publisher.stopped = True
                elif command.get("cmd") == "exit":
                    return
            return
        tally = Tally()
        reading = asyncio.ensure_future(read_entries(client, args.key, tally))
        tasks.add(reading)
        async for command in commands():
            if command.get("cmd") == "phase":
                tally.start(command["phase"], int(command["expected"]))
                emit("phase", phase=command["phase"])
            elif command.get("cmd") == "report":
                emit("report", **tally.report())
            elif command.get("cmd") == "exit":
                return
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("pub", "sub"), required=True)
    parser.add_argument("--key", default="bench-raw")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--padding", type=int, default=100)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args))


if __name__ == "__main__":
    run()
