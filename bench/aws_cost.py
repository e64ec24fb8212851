"""AWS API calls of an AwsSqsManager cluster on moto, from the transports' ``stats``.

    python -m bench.aws_cost --endpoint http://127.0.0.1:PORT [--nodes 3] [--idle-seconds 60]
        [--phases idle,burst,steady,fetch,emit] [--quick]

The nodes (3 by default) run in this process with production settings (heartbeat 5 s, long
polls of 20 s, deletes batched by 10 or 30 s, idle heartbeats coalesced). Each node has one
loopback client (bench.loopback), so a broadcast is seen arriving. Phases (``--phases``
picks some; idle always runs), each measured as the difference of the summed call counters
before and after:

- idle: nothing but heartbeats for ``--idle-seconds``, once the queues count as idle;
  scaled to calls per node-hour;
- broadcasts from one node at full rate, then at 20/s, until both other nodes delivered
  them all; scaled to calls per 1,000 broadcasts;
- ``fetch_sockets`` and ``server_side_emit_with_ack`` from one node, one at a time.

Traffic phases also contain the heartbeats of their duration: the idle rate times the
duration is subtracted (``net``), the raw difference is kept too. Prints one JSON event
``{"event": "result", "result": {...}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import secrets
import sys
import time
from collections import Counter
from typing import Any

import socketio

from bench.loopback import LoopbackClients
from socketio_cloud.transports.aws import AwsSqsManager

PHASES = ("idle", "burst", "steady", "fetch", "emit")
HEARTBEAT_INTERVAL = 5.0
WAIT_TIME = 20
STEADY_RATE = 20.0

logger = logging.getLogger("bench.aws_cost")


class CostNode:
    def __init__(self, endpoint: str, key: str) -> None:
        self.manager = AwsSqsManager(
            topic_name=key,
            queue_prefix=key,
            endpoint_url=endpoint,
            region_name="us-east-1",
            heartbeat_interval=HEARTBEAT_INTERVAL,
            heartbeat_timeout=2 * HEARTBEAT_INTERVAL,
            wait_time=WAIT_TIME,
        )
        self.sio = socketio.AsyncServer(async_mode="asgi", client_manager=self.manager)
        self.clients = LoopbackClients(self.sio)

        @self.manager.on_server_event("ping")
        async def pong(*args: Any) -> str:
            return "pong"

    def stats(self) -> Counter[str]:
        return Counter(self.manager.transport.stats)


def total(nodes: list[CostNode]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for node in nodes:
        counts.update(node.stats())
    return counts


def difference(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {op: after[op] - before[op] for op in sorted(after) if after[op] - before[op]}


async def until(predicate: Any, timeout: float, what: str) -> None:
    """Wait for ``predicate()`` (a value or an awaitable) to be true, at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)


async def cluster_formed(nodes: list[CostNode]) -> bool:
    counts = [await node.manager.server_count() for node in nodes]
    return all(count == len(nodes) for count in counts)


async def measure(
    nodes: list[CostNode], idle_rate: dict[str, float] | None, action: Any
) -> dict[str, Any]:
    """Calls made while ``action`` runs, raw and net of the idle rate."""
    before = total(nodes)
    started = time.monotonic()
    await action()
    seconds = time.monotonic() - started
    raw = difference(total(nodes), before)
    phase: dict[str, Any] = {"seconds": round(seconds, 2), "calls": raw, "total": sum(raw.values())}
    if idle_rate is not None:
        net = sum(raw.values()) - sum(idle_rate.values()) * seconds
        phase["net_total"] = round(max(0.0, net), 1)
    return phase


async def run(
    endpoint: str, node_count: int, idle_seconds: float, phases: set[str], quick: bool
) -> dict[str, Any]:
    key = f"bench-cost-{secrets.token_hex(3)}"
    nodes = [CostNode(endpoint, key) for _ in range(node_count)]
    await asyncio.gather(*(node.manager.ready() for node in nodes))
    for node in nodes:
        await node.clients.connect(1)
    await until(lambda: cluster_formed(nodes), 60, f"cluster of {node_count}")
    sender, *others = nodes
    bursts = 100 if quick else 1000
    steady = 40 if quick else 200
    requests = 20 if quick else 100
    transport = nodes[0].manager.transport
    phase_results: dict[str, Any] = {}
    try:
        # Let the start-up traffic (probes, initial heartbeats) drain, and the queues count
        # as idle (no other message for ``idle_after``), before the idle window.
        await asyncio.sleep(max(HEARTBEAT_INTERVAL, transport.idle_after) + 1)
        idle = await measure(nodes, None, lambda: asyncio.sleep(idle_seconds))
        idle_rate = {op: count / idle_seconds for op, count in idle["calls"].items()}
        idle["per_node_hour"] = {
            op: round(rate * 3600 / node_count, 1) for op, rate in sorted(idle_rate.items())
        }

        async def broadcast(count: int, rate: float) -> None:
            marks = [node.clients.events for node in others]
            loop = asyncio.get_running_loop()
            start = loop.time()
            for seq in range(count):
                if rate:
                    delay = start + seq / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await sender.sio.emit("tick", {"seq": seq, "pad": "x" * 100})
            await until(
                lambda: all(
                    node.clients.events - mark >= count
                    for node, mark in zip(others, marks, strict=True)
                ),
                120,
                "delivery of every broadcast",
            )

        async def fetch() -> None:
            for _ in range(requests):
                sockets = await sender.manager.fetch_sockets(timeout=30)
                assert len(sockets) == node_count, sockets

        async def server_side_emit() -> None:
            for _ in range(requests):
                replies = await sender.manager.server_side_emit_with_ack("ping", timeout=30)
                assert replies == ["pong"] * (node_count - 1), replies

        if "burst" in phases:
            phase = await measure(nodes, idle_rate, lambda: broadcast(bursts, 0))
            phase_results["broadcast_burst"] = per(phase, bursts, 1000)
        if "steady" in phases:
            phase = await measure(nodes, idle_rate, lambda: broadcast(steady, STEADY_RATE))
            phase_results["broadcast_steady"] = {**per(phase, steady, 1000), "rate": STEADY_RATE}
        if "fetch" in phases:
            phase = await measure(nodes, idle_rate, fetch)
            phase_results["fetch_sockets"] = per(phase, requests, 1)
        if "emit" in phases:
            phase = await measure(nodes, idle_rate, server_side_emit)
            phase_results["server_side_emit_with_ack"] = per(phase, requests, 1)
    finally:
        await asyncio.gather(*(node.manager.close() for node in nodes), return_exceptions=True)

    liveness_per_node_hour = 2 * 3600 / transport.liveness_interval
    return {
        "nodes": node_count,
        "settings": {
            "heartbeat_interval_s": HEARTBEAT_INTERVAL,
            "wait_time_s": WAIT_TIME,
            "delete_delay_s": transport.delete_delay,
            "liveness_interval_s": transport.liveness_interval,
            "idle_coalesce_s": transport.idle_coalesce,
            "idle_after_s": transport.idle_after,
            "filter_policy": all(node.manager.transport.filtered for node in nodes),
        },
        "idle": {
            **idle,
            "window_s": idle_seconds,
            "liveness_per_node_hour": liveness_per_node_hour,
            "per_node_hour_total": round(
                sum(idle["calls"].values()) / idle_seconds * 3600 / node_count, 1
            ),
        },
        **phase_results,
    }


def per(phase: dict[str, Any], count: int, scale: int) -> dict[str, Any]:
    """A phase's calls scaled to ``scale`` operations (net of the idle rate, and raw)."""
    return {
        **phase,
        "count": count,
        "per": scale,
        "calls_per": round(phase["net_total"] / count * scale, 1),
        "raw_calls_per": round(phase["total"] / count * scale, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (3)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    phases = {phase for phase in args.phases.split(",") if phase}
    if phases - set(PHASES) or args.nodes < 2:
        parser.error(f"phases must be among {PHASES}; nodes must be at least 2")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.stdout.write(json.dumps({"event": "ready"}) + "\n")
    sys.stdout.flush()
    try:
        result: dict[str, Any] = asyncio.run(
            run(args.endpoint, args.nodes, args.idle_seconds, phases, args.quick)
        )
        event = {"event": "result", "result": result}
    except Exception as exc:
        logger.exception("cost measurement failed")
        event = {"event": "result", "result": {"error": repr(exc)}}
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
