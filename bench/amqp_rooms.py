"""Room-routed delivery on RabbitMQ: what a node without members of a room saves.

    python -m bench.amqp_rooms [--quick] [--amqp-url URL]

Three nodes, each with its own event loop in its own thread; every room's members are on
node A (in-process loopback clients, bench.loopback), node B sends broadcasts to those
rooms, node C serves clients of its own but none in those rooms. The same run measures:

- ``ours, routed``: :class:`~socketio_cloud.AmqpManager` (C's queue is not bound to the rooms);
- ``ours, to all``: the same manager with ``max_room_bindings=0`` (every node receives every
  broadcast, as the peers below do);
- ``python-socketio``: python-socketio's ``AsyncAioPikaManager`` (fanout to every node).

Printed per variant: broker deliveries to each node's queue while the broadcasts ran, and
the CPU time (thread CPU time of the node's event loop) of the member node A and of the
bystander C. Without ``--amqp-url`` a private RabbitMQ node is started for the run (the
test suite's helper) and stopped at the end. Numbers, not assertions: see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import socketio

from bench.loopback import LoopbackClients

T = TypeVar("T")


class CountingAioPikaManager(socketio.AsyncAioPikaManager):  # type: ignore[misc]
    """python-socketio's manager, counting the messages its queue delivers."""

    received = 0

    async def _listen(self) -> Any:
        async for message in super()._listen():
            self.received += 1
            yield message


class NodeThread:
    """One Socket.IO server with its own event loop in its own thread."""

    def __init__(self, name: str, make_manager: Callable[[], Any]) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self.manager: Any = self.call(self._make(make_manager))
        self.sio: socketio.AsyncServer = self.manager.server
        self.clients = LoopbackClients(self.sio)

    @staticmethod
    async def _make(make_manager: Callable[[], Any]) -> Any:
        manager = make_manager()
        socketio.AsyncServer(async_mode="asgi", client_manager=manager)
        return manager

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def cpu(self) -> float:
        async def thread_time() -> float:
            return time.thread_time()

        return self.call(thread_time())

    def deliveries(self) -> int:
        manager = self.manager
        if isinstance(manager, CountingAioPikaManager):
            return manager.received
        return int(manager.transport.stats["received"])

    def stop(self) -> None:
        async def close() -> None:
            manager = self.manager
            if hasattr(manager, "close"):
                await manager.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(close(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


@dataclass
class Result:
    variant: str
    broadcasts: int
    deliveries: list[int]
    cpu_member: float
    cpu_bystander: float
    seconds: float


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def run_variant(
    variant: str, make_manager: Callable[[], Any], *, clients: int, rooms: int, broadcasts: int
) -> Result:
    names = ("A", "B", "C")
    nodes = [NodeThread(f"{variant}-{n}", make_manager) for n in names]
    member, sender, bystander = nodes
    try:
        for node in nodes:
            if hasattr(node.manager, "ready"):
                node.call(node.manager.ready())
        room_names = [f"room-{i}" for i in range(rooms)]
        member.call(member.clients.connect(clients, lambda i: [room_names[i % rooms]]))
        bystander.call(bystander.clients.connect(clients))
        sender.call(sender.clients.connect(1))

        # every node hears the others before counting starts (python-socketio's manager
        # has no readiness to await: probe until a broadcast gets through both ways)
        def probe() -> bool:
            sender.call(sender.sio.emit("probe", 0))
            time.sleep(0.1)
            return member.clients.events > 0 and bystander.clients.events > 0

        wait(probe, 60, "the nodes to hear each other")
        time.sleep(0.5)  # let the probes drain before the counters are read
        before = [node.deliveries() for node in nodes]
        member.clients.events = bystander.clients.events = 0
        cpu_member, cpu_bystander = member.cpu(), bystander.cpu()
        start = time.perf_counter()

        async def send() -> None:
            for i in range(broadcasts):
                await sender.sio.emit("tick", i, to=room_names[i % rooms])
            # a marker to everyone: the bystander has handled the broadcasts once it arrives
            await sender.sio.emit("marker", 0)

        sender.call(send())
        per_room = clients // rooms
        wait(
            lambda: member.clients.events >= broadcasts * per_room + clients,
            300,
            "the members' events",
        )
        wait(lambda: bystander.clients.events >= clients, 300, "the bystander's marker")
        seconds = time.perf_counter() - start
        cpu_member = member.cpu() - cpu_member
        cpu_bystander = bystander.cpu() - cpu_bystander
        deliveries = [node.deliveries() - b for node, b in zip(nodes, before, strict=True)]
        return Result(variant, broadcasts, deliveries, cpu_member, cpu_bystander, seconds)
    finally:
        for node in nodes:
            node.stop()


def print_table(results: list[Result], clients: int, rooms: int) -> None:
    out = sys.stdout
    out.write(
        f"\n3 nodes; {clients} clients in {rooms} rooms on node A, {clients} clients in no "
        f"room on node C; node B broadcasts to the rooms\n\n"
    )
    out.write(
        "| variant | broadcasts | deliveries A / B / C | CPU A (ms) | CPU C (ms) | "
        "CPU C per 1k broadcasts (ms) | wall (s) |\n"
    )
    out.write("|---|---:|---:|---:|---:|---:|---:|\n")
    for r in results:
        a, b, c = r.deliveries
        out.write(
            f"| {r.variant} | {r.broadcasts} | {a} / {b} / {c} | {r.cpu_member * 1000:.0f} | "
            f"{r.cpu_bystander * 1000:.0f} | {r.cpu_bystander * 1e6 / r.broadcasts:.1f} | "
            f"{r.seconds:.2f} |\n"
        )
    out.write(
        "\nDeliveries include the final marker broadcast to everyone (one per node) and any "
        "heartbeat in the window. The sender B gets its own broadcasts back only when its "
        "queue is bound to their key (to all: every one, dropped unread; python-socketio: "
        "every one, counted until the run ended).\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds)")
    parser.add_argument("--amqp-url", help="an existing RabbitMQ (default: start one)")
    parser.add_argument("--broadcasts", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--rooms", type=int, default=10)
    args = parser.parse_args(argv)
    broadcasts = args.broadcasts or (300 if args.quick else 3000)
    clients = args.clients or (20 if args.quick else 100)
    rooms = args.rooms

    server = None
    scratch = tempfile.TemporaryDirectory(prefix="bench-rabbitmq-")
    url = args.amqp_url
    if url is None:
        from tests.amqp.rabbitmq_server import RabbitMQServer

        server = RabbitMQServer(Path(scratch.name))
        server.start()
        url = server.url
    try:
        from socketio_cloud.transports.amqp import AmqpManager

        tag = secrets.token_hex(4)
        variants: list[tuple[str, Callable[[], Any]]] = [
            (
                "ours, routed",
                lambda: AmqpManager(url=url, exchange=f"bench-routed-{tag}"),
            ),
            (
                "ours, to all",
                lambda: AmqpManager(url=url, exchange=f"bench-all-{tag}", max_room_bindings=0),
            ),
            (
                "python-socketio AsyncAioPikaManager",
                lambda: CountingAioPikaManager(url, channel=f"bench-pysio-{tag}"),
            ),
        ]
        results = []
        for name, make in variants:
            sys.stderr.write(f"running {name} ...\n")
            results.append(
                run_variant(name, make, clients=clients, rooms=rooms, broadcasts=broadcasts)
            )
        print_table(results, clients, rooms)
    finally:
        if server is not None:
            server.stop()
        scratch.cleanup()


if __name__ == "__main__":
    main()
