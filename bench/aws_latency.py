"""Publishing on AWS with a network in between: moto behind a proxy that delays every
request (``bench.latency_proxy``, 20 ms by default), one AwsSqsManager node per setting.

    python -m bench.aws_latency --endpoint http://127.0.0.1:PORT [--delay-ms 20] [--quick]

For each setting (``batch_size``, ``queued_emits``, ``publish_concurrency``):

- *handler loop*: a handler's ``for ...: await sio.emit(...)`` of ``--loop`` events, timed
  until every event is with SNS (``flush()`` included when emits are queued);
- *burst*: ``--burst`` events emitted as fast as the loop goes (yielding every 100, as the
  Node sender of the broadcast scenarios); the rate at which ``emit`` returned and the rate
  at which SNS had them all; SNS publish calls per 1,000 broadcasts from ``stats``.

Prints one JSON event ``{"event": "result", "result": {...}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
import time
from typing import Any
from urllib.parse import urlparse

from bench.latency_proxy import DelayProxy
from socketio_cloud.transports.aws import AwsSqsManager

logger = logging.getLogger("bench.aws_latency")

# (name, batch_size, queued_emits, publish_concurrency)
SETTINGS = (
    ("before: Publish per emit, awaited", 1, False, 1),
    ("PublishBatch, awaited emits", 10, False, 4),
    ("Publish per message, queued emits", 1, True, 4),
    ("PublishBatch, queued emits", 10, True, 4),
)


def publish_calls(stats: dict[str, int]) -> int:
    return stats.get("sns:Publish", 0) + stats.get("sns:PublishBatch", 0)


async def measure(
    url: str, name: str, batch_size: int, queued: bool, concurrency: int, loop_n: int, burst: int
) -> dict[str, Any]:
    key = f"bench-lat-{secrets.token_hex(3)}"
    manager = AwsSqsManager(
        topic_name=key,
        queue_prefix=key,
        endpoint_url=url,
        region_name="us-east-1",
        batch_size=batch_size,
        publish_concurrency=concurrency,
        queued_emits=queued,
        wait_time=5,
    )
    await manager.ready()
    pad = "x" * 100
    try:
        started = time.perf_counter()
        for seq in range(loop_n):
            await manager.emit("tick", {"seq": seq, "pad": pad})
        await manager.flush()
        loop_s = time.perf_counter() - started

        before = publish_calls(manager.stats)
        started = time.perf_counter()
        for seq in range(burst):
            if seq % 100 == 0 and seq:
                await asyncio.sleep(0)
            await manager.emit("tick", {"seq": seq, "pad": pad})
        returned_s = time.perf_counter() - started
        await manager.flush()
        flushed_s = time.perf_counter() - started
        calls = publish_calls(manager.stats) - before
    finally:
        await manager.close()
    return {
        "setting": name,
        "batch_size": batch_size,
        "queued_emits": queued,
        "publish_concurrency": concurrency,
        "handler_loop_events": loop_n,
        "handler_loop_s": round(loop_s, 3),
        "handler_loop_events_per_s": round(loop_n / loop_s, 1),
        "burst_events": burst,
        "burst_returned_events_per_s": round(burst / returned_s, 1),
        "burst_flushed_events_per_s": round(burst / flushed_s, 1),
        "publish_calls_per_1000": round(calls * 1000 / burst, 1),
    }


async def run(endpoint: str, delay_ms: float, loop_n: int, burst: int) -> dict[str, Any]:
    target = urlparse(endpoint)
    proxy = DelayProxy(target.hostname or "127.0.0.1", target.port or 80, delay=delay_ms / 1000)
    await proxy.start()
    rows = []
    try:
        for name, batch_size, queued, concurrency in SETTINGS:
            logger.info("setting: %s", name)
            rows.append(
                await measure(proxy.url, name, batch_size, queued, concurrency, loop_n, burst)
            )
    finally:
        await proxy.stop()
    return {"delay_ms": delay_ms, "settings": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--loop", type=int, help="handler loop events (full 50, quick 20)")
    parser.add_argument("--burst", type=int, help="burst events (full 1000, quick 200)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.stdout.write(json.dumps({"event": "ready"}) + "\n")
    sys.stdout.flush()
    loop_n = args.loop or (20 if args.quick else 50)
    burst = args.burst or (200 if args.quick else 1000)
    try:
        result: dict[str, Any] = asyncio.run(run(args.endpoint, args.delay_ms, loop_n, burst))
        event = {"event": "result", "result": result}
    except Exception as exc:
        logger.exception("aws latency bench failed")
        event = {"event": "result", "result": {"error": repr(exc)}}
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
