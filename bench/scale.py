"""Requests across a large cluster: 3 nodes x N sockets on Redis Streams, ours and Node's.

    python -m bench.scale [--sockets 10000] [--quick] [--systems ours,node,ours-gc-frozen,floor]

Each system runs on a private ``redis-server`` (no persistence) started here, so the bytes
Redis counts in and out (``INFO stats``) around each operation are that operation's bytes
on the wire. Node nodes are ``bench/node_server.mjs`` on ``@socket.io/redis-streams-adapter``
with the same loopback sockets (an Engine.IO connection object without a network that
answers acknowledgements), rooms and operations.

Each node is its own process (bench.pynode, no HTTP listener). Its sockets are loopback
clients registered through python-socketio's own connect path (see bench.loopback): they
are real python-socketio/Engine.IO socket objects, minus the network connection, and they
acknowledge every event that asks for it. Socket ``i`` of a node joins room ``room-<i%100>``.

Measured: memory per idle socket (RSS growth of each node / sockets), then from node 0,
one operation at a time (ours and Node's clusters are up together and take turns, each
operation once per turn): ``fetch_sockets()`` of every socket, ``fetch_sockets`` of one
room (1 % of the sockets), and a broadcast with acknowledgements to every socket
(``mgr.timeout(60).emit_with_ack``): wall time per operation and CPU seconds per node.
Beside them (full runs): ``ours-gc-frozen``, our nodes calling ``gc.freeze()`` once their
sockets are connected (CPython's collector otherwise walks every socket object in each full
collection); ``floor``, python-socketio alone on one node (its own manager, no broker) doing
the emit with acks to its sockets that every node of a cluster does; and, on our node 0, the
stages of a ``fetch_sockets()`` answer timed in-process (describe, encode, decode, build).
The garbage collector's seconds per operation are reported for every Python node.

Prints one JSON event ``{"event": "result", "result": {...}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.procs import Child, ChildError, node_child, python_child, stop_all
from tests.support.services import free_port, port_open

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


class PrivateRedis:
    """A throwaway redis-server on a free port: no persistence, nobody else's traffic."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):
            if port_open(self.port):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("the private redis-server did not start")

    def net_bytes(self) -> int:
        with redis.Redis.from_url(self.url) as client:
            info = client.info("stats")
        return int(info["total_net_input_bytes"]) + int(info["total_net_output_bytes"])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


async def collector_seconds(nodes: list[Child]) -> list[float] | None:
    """Seconds each Python node's garbage collector has run so far (None for Node's)."""
    seconds = []
    for node in nodes:
        await node.send(cmd="gc")
        seconds.append(sum((await node.expect("gc", 30))["gc_s"]))
    return seconds


async def timed_op(
    nodes: list[Child],
    command: dict[str, Any],
    event: str,
    timeout: float,
    server: PrivateRedis,
    python: bool,
) -> tuple[dict[str, Any], list[float], int, list[float] | None]:
    gc_before = await collector_seconds(nodes) if python else None
    before = [node.cpu_seconds() for node in nodes]
    bytes_before = server.net_bytes()
    await nodes[0].send(**command)
    reply = await nodes[0].expect(event, timeout)
    cpu = [round(node.cpu_seconds() - b, 2) for node, b in zip(nodes, before, strict=True)]
    wire = server.net_bytes() - bytes_before
    collected = None
    if gc_before is not None:
        gc_after = await collector_seconds(nodes)
        assert gc_after is not None
        collected = [after - b for after, b in zip(gc_after, gc_before, strict=True)]
    return reply, cpu, wire, collected


def _node(system: str, index: int, key: str, url: str, log_dir: Path) -> Child:
    if system == "node":
        args = ["--adapter", "streams", "--port", "0", "--key", key, "--redis-url", url]
        return node_child(f"scale-node-{index}", "node_server.mjs", args, log_dir)
    args = ["--manager", "ours-redis", "--stack", "none", "--key", key, "--redis-url", url]
    return python_child(f"scale-ours-{index}", "bench.pynode", args, log_dir)


#: The operations, run from node 0: name, command, the reply's event and its count field.
OPERATIONS: list[tuple[str, dict[str, Any], str, str]] = [
    ("fetch_sockets_all", {"cmd": "fetch"}, "fetch", "sockets"),
    ("fetch_sockets_room", {"cmd": "fetch", "room": "room-7"}, "fetch", "sockets"),
    ("broadcast_with_ack_all", {"cmd": "ack", "timeout": 60}, "ack", "replies"),
]


class Cluster:
    """One system's nodes on their private Redis, each with ``sockets`` loopback sockets."""

    def __init__(self, system: str, log_dir: Path) -> None:
        self.system = system
        self.python = system != "node"
        self.server = PrivateRedis()
        key = f"bench-scale-{secrets.token_hex(3)}"
        self.nodes = [
            _node("ours" if self.python else system, i, key, self.server.url, log_dir)
            for i in range(NODES)
        ]

    async def start(self, sockets: int) -> dict[str, Any]:
        """Start the nodes and connect their sockets; what was measured doing so."""
        self.server.start()
        nodes = self.nodes
        await asyncio.gather(*(node.start() for node in nodes))
        for node in nodes:
            await node.send(cmd="await_nodes", count=NODES, timeout=30)
            await node.expect("nodes", 40)
        rss_before = [node.rss() for node in nodes]
        for node in nodes:
            await node.send(cmd="loopback", count=sockets, rooms=ROOMS)
        connect = [await node.expect("loopback", 600) for node in nodes]
        growth = [node.rss() - before for node, before in zip(nodes, rss_before, strict=True)]
        if self.system == "ours-gc-frozen":
            for node in nodes:
                await node.send(cmd="gc_freeze")
                await node.expect("gc_frozen", 60)
        return {
            "system": self.system,
            "nodes": NODES,
            "sockets_per_node": sockets,
            "sockets": NODES * sockets,
            "sockets_are": (
                "Engine.IO connection objects without a network, handed to socket.io"
                if self.system == "node"
                else "loopback clients registered through python-socketio's connect path"
            ),
            "connect_s_per_node": [round(float(c["seconds"]), 2) for c in connect],
            "rss_per_socket_kb": round(statistics.mean(growth) / sockets / 1024, 2),
            "rss_growth_mb": [round(g / 2**20, 1) for g in growth],
        }

    async def once(self, command: dict[str, Any], event: str) -> dict[str, Any]:
        """One operation, timed: its reply, CPU seconds per node, bytes on the wire and
        (Python nodes) the collector's seconds per node."""
        reply, cpu, wire, collected = await timed_op(
            self.nodes, {**command, "repeat": 1}, event, 120, self.server, self.python
        )
        return {"reply": reply, "cpu": cpu, "wire": wire, "gc": collected}

    async def stop(self) -> None:
        await stop_all(self.nodes)
        self.server.stop()


def _per_node_mean(rows: list[list[float]]) -> list[float]:
    """The mean of each column of ``rows`` (one row per run, one column per node)."""
    return [round(sum(column) / len(rows), 3) for column in zip(*rows, strict=True)]


def _per_op(runs: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """The figures of one operation from its runs: CPU, collector and wire per run."""
    measured: dict[str, Any] = {
        **summary([t for run in runs for t in run["reply"]["times_s"]]),
        field: runs[-1]["reply"][field],
        "cpu_s_per_op": _per_node_mean([run["cpu"] for run in runs]),
        "wire_bytes_per_op": round(sum(run["wire"] for run in runs) / len(runs)),
    }
    if runs[0]["gc"] is not None:
        measured["gc_s_per_op"] = _per_node_mean([run["gc"] for run in runs])
    return measured


async def run(
    sockets: int, repeat: int, log_dir: Path, systems: tuple[str, ...] = ("ours",)
) -> dict[str, dict[str, Any]]:
    """Each of ``systems`` (``ours``, ``node``, ``ours-gc-frozen``: ours, each node calling
    ``gc.freeze()`` once its sockets are connected) as its own cluster, all up at once; each
    operation is run ``repeat`` times, the systems taking turns, so that a slower spell of
    the machine falls on all of them alike. Figures per system."""
    clusters = [Cluster(system, log_dir) for system in systems]
    results: dict[str, dict[str, Any]] = {}
    try:
        for cluster in clusters:
            try:
                results[cluster.system] = await cluster.start(sockets)
            except ChildError as exc:
                results[cluster.system] = {"system": cluster.system, "error": str(exc)}
        running = [c for c in clusters if "error" not in results[c.system]]
        for name, command, event, field in OPERATIONS:
            runs: dict[str, list[dict[str, Any]]] = {c.system: [] for c in running}
            failed: dict[str, str] = {}
            for _ in range(repeat):
                for cluster in running:
                    if cluster.system in failed:
                        continue
                    try:
                        runs[cluster.system].append(await cluster.once(command, event))
                    except ChildError as exc:
                        failed[cluster.system] = str(exc).splitlines()[0]
            for cluster in running:
                error = failed.get(cluster.system)
                results[cluster.system][name] = (
                    {"error": error} if error else _per_op(runs[cluster.system], field)
                )
        ours = next((c for c in running if c.system == "ours"), None)
        if ours is not None:
            await ours.nodes[0].send(cmd="fetch_stages", repeat=repeat)
            stages = await ours.nodes[0].expect("fetch_stages", 120 * repeat)
            results["ours"]["fetch_stages"] = {
                "sockets": stages["sockets"],
                "bytes": stages["bytes"],
                "median_ms": {
                    name: round(statistics.median(values) * 1000, 1)
                    for name, values in stages["stages_s"].items()
                },
            }
        return results
    finally:
        for cluster in clusters:
            await cluster.stop()


async def run_floor(sockets: int, repeat: int, log_dir: Path) -> dict[str, Any]:
    """python-socketio alone (its own manager, no broker, no other node) with the same
    loopback sockets: an emit with a callback to every socket until each answered. Every
    node of a cluster does at least this for its own sockets in a broadcast with acks."""
    args = ["--manager", "pysio-local", "--stack", "none"]
    node = python_child("scale-floor", "bench.pynode", args, log_dir)
    try:
        await node.start()
        await node.send(cmd="loopback", count=sockets, rooms=ROOMS)
        await node.expect("loopback", 600)
        await node.send(cmd="ack_local", repeat=repeat)
        reply = await node.expect("ack_local", 120 * repeat)
        return {
            "system": "python-socketio AsyncManager, one node",
            "sockets": sockets,
            "ack_local": {
                **summary(reply["times_s"]),
                "replies": reply["replies"],
                "cpu_s": round(statistics.median(reply["cpu_s"]), 3),
                "gc_s": round(statistics.median(reply["gc_s"]), 3),
            },
        }
    finally:
        await stop_all([node])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000, help="sockets per node")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--systems",
        default="ours,node,ours-gc-frozen,floor",
        help="comma-separated: ours, node, ours-gc-frozen, floor (python-socketio alone)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.stdout.write(json.dumps({"event": "ready"}) + "\n")
    sys.stdout.flush()
    log_dir = Path(tempfile.mkdtemp(prefix="socketio-cloud-bench-scale-"))
    repeat = 2 if args.quick else 5
    systems = args.systems.split(",")
    if args.quick:
        systems = [system for system in systems if system in ("ours", "node")]
    # ours and Node's side by side, taking turns; the others each on their own
    together = tuple(system for system in ("ours", "node") if system in systems)
    groups = [together] if together else []
    groups += [(system,) for system in systems if system not in together]
    result: dict[str, Any] = {}
    for group in groups:
        try:
            if group == ("floor",):
                measured = {"floor": asyncio.run(run_floor(args.sockets, repeat, log_dir))}
            else:
                measured = asyncio.run(run(args.sockets, repeat, log_dir, group))
        except Exception as exc:
            logger.exception("scale measurement of %s failed", ", ".join(group))
            measured = {system: {"system": system, "error": repr(exc)} for system in group}
        for system, figures in measured.items():
            if system == "ours":
                result.update(figures)  # the figures of ours stay where the report reads them
            else:
                result[system] = figures
    logger.warning("node logs are in %s", log_dir)
    sys.stdout.write(json.dumps({"event": "result", "result": result}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
