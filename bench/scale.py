"""Requests across a large cluster: 3 nodes x N sockets on our Redis Streams manager.

    python -m bench.scale [--sockets 10000] [--quick]

Each node is its own process (bench.pynode, no HTTP listener). Its sockets are loopback
clients registered through python-socketio's own connect path (see bench.loopback): they
are real python-socketio/Engine.IO socket objects, minus the network connection, and they
acknowledge every event that asks for it. Socket ``i`` of a node joins room ``room-<i%100>``.

Measured: memory per idle socket (RSS growth of each node / sockets), then from one node,
one operation at a time: ``fetch_sockets()`` of every socket, ``fetch_sockets`` of one
room (1 % of the sockets), and a broadcast with acknowledgements to every socket
(``mgr.timeout(60).emit_with_ack``): wall time per operation and CPU seconds per node.
Prints one JSON event ``{"event": "result", "result": {...}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import Child, ChildError, python_child, stop_all

NODES = 3
ROOMS = 100

logger = logging.getLogger("bench.scale")


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "runs": len(times),
    }


async def timed_op(
    nodes: list[Child], command: dict[str, Any], event: str, timeout: float
) -> tuple[dict[str, Any], list[float]]:
    before = [node.cpu_seconds() for node in nodes]
    await nodes[0].send(**command)
    reply = await nodes[0].expect(event, timeout)
    cpu = [round(node.cpu_seconds() - b, 2) for node, b in zip(nodes, before, strict=True)]
    return reply, cpu


async def run(sockets: int, repeat: int, log_dir: Path) -> dict[str, Any]:
    key = f"bench-scale-{secrets.token_hex(3)}"
    nodes = [
        python_child(
            f"scale-node-{i}",
            "bench.pynode",
            ["--manager", "ours-redis", "--stack", "none", "--key", key],
            log_dir,
        )
        for i in range(NODES)
    ]
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        for node in nodes:
            await node.send(cmd="await_nodes", count=NODES, timeout=30)
            await node.expect("nodes", 40)
        rss_before = [node.rss() for node in nodes]
        for node in nodes:
            await node.send(cmd="loopback", count=sockets, rooms=ROOMS)
        connect = [await node.expect("loopback", 600) for node in nodes]
        growth = [node.rss() - before for node, before in zip(nodes, rss_before, strict=True)]
        result: dict[str, Any] = {
            "nodes": NODES,
            "sockets_per_node": sockets,
            "sockets": NODES * sockets,
            "sockets_are": "loopback clients registered through python-socketio's connect path",
            "connect_s_per_node": [round(float(c["seconds"]), 2) for c in connect],
            "rss_per_socket_kb": round(statistics.mean(growth) / sockets / 1024, 2),
            "rss_growth_mb": [round(g / 2**20, 1) for g in growth],
        }
        operations = [
            ("fetch_sockets_all", {"cmd": "fetch", "repeat": repeat}, "fetch", "sockets"),
            (
                "fetch_sockets_room",
                {"cmd": "fetch", "repeat": repeat, "room": "room-7"},
                "fetch",
                "sockets",
            ),
            (
                "broadcast_with_ack_all",
                {"cmd": "ack", "repeat": repeat, "timeout": 60},
                "ack",
                "replies",
            ),
        ]
        for name, command, event, field in operations:
            try:
                reply, cpu = await timed_op(nodes, command, event, 120 * repeat)
            except ChildError as exc:
                result[name] = {"error": str(exc).splitlines()[0]}
                continue
            result[name] = {
                **summary(reply["times_s"]),
                field: reply[field],
                "cpu_s_per_op": [round(c / repeat, 3) for c in cpu],
            }
        return result
    finally:
        await stop_all(nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000, help="sockets per node")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.stdout.write(json.dumps({"event": "ready"}) + "\n")
    sys.stdout.flush()
    log_dir = Path(tempfile.mkdtemp(prefix="socketio-cloud-bench-scale-"))
    repeat = 2 if args.quick else 5
    try:
        result = asyncio.run(run(args.sockets, repeat, log_dir))
    except Exception as exc:
        logger.exception("scale measurement failed")
        result = {"error": repr(exc)}
    logger.warning("node logs are in %s", log_dir)
    sys.stdout.write(json.dumps({"event": "result", "result": result}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
