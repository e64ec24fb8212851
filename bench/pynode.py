"""One Python Socket.IO server node of a benchmark cluster, its own OS process.

    python -m bench.pynode --manager ours-redis --stack uvicorn --port 8001 --key bench-x

Managers: ``ours-redis`` (:class:`RedisStreamsManager`), ``ours-aws``
(:class:`AwsSqsManager`; boto3 credentials and endpoint from the environment),
``pysio-redis`` (python-socketio's ``AsyncRedisManager``) and ``pysio-aiopika``
(``AsyncAioPikaManager``). ``--fanout`` picks how our managers hand events to local
clients (``auto``, ``queue`` or ``tasks``: see :class:`socketio_cloud.ClusterManager`).
Stacks, all on uvloop: ``uvicorn`` (ASGI, websocket compression off), ``uvicorn-deflate``
(uvicorn's default: permessage-deflate on) or ``aiohttp`` (compression on whenever the
client offers it), or ``none`` (no HTTP listener: loopback clients only).

The node reads JSON commands on stdin, one per line, and writes JSON events on stdout:

- ``{"cmd": "send", "phase", "count", "rate"}``: broadcast ``tick`` events carrying
  ``{phase, seq, t, pad}`` (``t`` = send time, epoch ms) at ``rate`` per second, or as fast
  as awaiting each emit allows when ``rate`` is 0; answers ``sent``. ``{"cmd": "stop"}``
  ends a send early.
- ``{"cmd": "loopback", "count", "rooms"}``: connect in-process clients (bench.loopback).
- ``{"cmd": "await_nodes", "count"}``: wait until the cluster has that many nodes.
- ``{"cmd": "fetch", "repeat", "room"}`` / ``{"cmd": "ack", "repeat"}``: time
  ``fetch_sockets`` / broadcasts with acknowledgements (our managers only).
- ``{"cmd": "stats"}``: answers ``stats`` with ``direct_frames``, the events our manager
  has written to clients as prebuilt websocket frames so far (None when it cannot).
- ``{"cmd": "exit"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import socketio

from bench.loopback import LoopbackClients
from bench.pacing import paced_start
from socketio_cloud.local import FANOUT_MODES

MANAGERS = (
    "ours-redis",
    "ours-aws",
    "ours-postgres",
    "ours-pubsub",
    "pysio-redis",
    "pysio-aiopika",
    "pysio-local",
)
# uvicorn: permessage-deflate off, as Node's socket.io server has it by default;
# uvicorn-deflate: uvicorn's default (compresses every frame for clients that offer it, as
# browsers do); aiohttp: python-engineio gives no way to turn its compression off.
STACKS = ("uvicorn", "uvicorn-deflate", "aiohttp", "none")

logger = logging.getLogger("bench.pynode")


class CollectorClock:
    """Seconds the cyclic garbage collector ran, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = int(info["generation"])
            self.seconds[generation] += time.perf_counter() - self._started
            self.collections[generation] += 1

    def snapshot(self) -> dict[str, Any]:
        return {"gc_s": [round(s, 4) for s in self.seconds], "gc_runs": list(self.collections)}


def emit_event(event: str, **fields: Any) -> None:
    """One JSON event line for the orchestrator."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def make_manager(args: argparse.Namespace) -> Any:
    if args.manager == "ours-redis":
        from redis.asyncio import Redis

        from socketio_cloud.transports.redis_streams import RedisStreamsManager

        redis_options: dict[str, Any] = {}
        if args.parser == "python":
            # redis-py's pure-Python reply parser, as without hiredis installed
            from redis._parsers import _AsyncRESP2Parser

            redis_options["parser_class"] = _AsyncRESP2Parser
        manager = RedisStreamsManager(
            redis=Redis.from_url(args.redis_url, **redis_options),
            stream_name=args.key,
            channel_prefix=args.key,
            fanout=args.fanout,
            queued_emits=args.queued_emits,
        )
        if args.one_xadd_per_emit:
            _one_xadd_per_emit(manager.transport)
        return manager
    if args.manager == "ours-aws":
        from socketio_cloud.transports.aws import AwsSqsManager

        return AwsSqsManager(
            topic_name=args.key,
            queue_prefix=args.key,
            endpoint_url=args.aws_endpoint,
            region_name="us-east-1",
            fanout=args.fanout,
            queued_emits=args.queued_emits,
        )
    if args.manager == "ours-postgres":
        from socketio_cloud.transports.postgres import PostgresManager

        return PostgresManager(dsn=args.postgres_dsn, channel_prefix=args.key, fanout=args.fanout)
    if args.manager == "ours-pubsub":
        from socketio_cloud.transports.pubsub import PubSubManager

        # the emulator: PUBSUB_EMULATOR_HOST in the environment
        return PubSubManager(
            project=args.gcp_project,
            topic=args.key,
            subscription_prefix=args.key,
            create_topic=True,
            fanout=args.fanout,
        )
    if args.fanout != "auto":
        raise ValueError(f"--fanout applies to our managers only, not {args.manager}")
    if args.manager == "pysio-redis":
        return socketio.AsyncRedisManager(args.redis_url, channel=args.key)
    if args.manager == "pysio-aiopika":
        return socketio.AsyncAioPikaManager(args.amqp_url, channel=args.key)
    if args.manager == "pysio-local":
        # python-socketio alone, no broker: the floor of what one node does per socket
        return socketio.AsyncManager()
    raise ValueError(f"unknown manager {args.manager}")


def _one_xadd_per_emit(transport: Any) -> None:
    """The publishing of earlier releases, for before/after figures: one XADD round trip
    awaited per publish, nothing pipelined."""
    from socketio_cloud.transports.redis_streams.framing import entry_fields

    original = transport.publish_soon

    def publish_soon(message: Any) -> asyncio.Future[str | None]:
        if message.type != 3 or message.request_id is not None:
            return original(message)  # type: ignore[no-any-return]

        async def xadd() -> str | None:
            entry_id = await transport._redis.xadd(
                transport.stream_for(message.nsp),
                entry_fields(message),
                maxlen=transport.max_len,
                approximate=True,
            )
            return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

        return asyncio.ensure_future(xadd())

    async def publish(message: Any) -> str | None:
        return await publish_soon(message)  # type: ignore[no-any-return]

    transport.publish_soon = publish_soon
    transport.publish = publish


async def serve(sio: socketio.AsyncServer, stack: str, port: int) -> Callable[[], Awaitable[None]]:
    """Listen on 127.0.0.1:port; returns the coroutine function that stops listening."""
    if stack in ("uvicorn", "uvicorn-deflate"):
        import uvicorn

        config = uvicorn.Config(
            socketio.ASGIApp(sio),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ws_per_message_deflate=stack == "uvicorn-deflate",
        )
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve())
        deadline = time.monotonic() + 30
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 30 s")
            await asyncio.sleep(0.02)

        async def stop_uvicorn() -> None:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

        return stop_uvicorn
    if stack == "aiohttp":
        from aiohttp import web

        app = web.Application()
        sio.attach(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner.cleanup

    async def nothing() -> None:
        return None

    return nothing


class Node:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.manager = make_manager(args)
        async_mode = "aiohttp" if args.stack == "aiohttp" else "asgi"
        self.sio = socketio.AsyncServer(
            async_mode=async_mode, client_manager=self.manager, transports=["websocket"]
        )
        self.pad = "x" * args.padding
        self.sending: asyncio.Task[None] | None = None
        self.stopped = False
        self.loopback = LoopbackClients(self.sio)
        self.collector = CollectorClock()

    @property
    def ours(self) -> bool:
        return str(self.args.manager).startswith("ours-")

    async def send(
        self, phase: str, count: int, rate: float, start_ms: float | None = None
    ) -> None:
        sio = self.sio
        self.stopped = False
        loop = asyncio.get_running_loop()
        start, start_ms = await paced_start(start_ms)
        sent = 0
        queued = bool(getattr(self.manager, "queued_emits", False))
        for seq in range(count):
            if self.stopped:
                break
            if rate > 0:
                delay = start + seq / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self.stopped:
                        break
            elif queued and seq % 100 == 0 and seq:
                await asyncio.sleep(0)  # as Node's sender, let the loop run every 100 sends
            payload = {"phase": phase, "seq": seq, "t": time.time() * 1000, "pad": self.pad}
            await sio.emit("tick", payload)
            sent += 1
        end_ms = time.time() * 1000
        flushed: dict[str, float] = {}
        if queued:
            # "sent" is when the emits returned, as Node's sender measures it; "flushed_ms"
            # when the broker had every event
            await self.manager.flush()
            flushed["flushed_ms"] = time.time() * 1000
        emit_event("sent", phase=phase, count=sent, start_ms=start_ms, end_ms=end_ms, **flushed)

    async def command(self, command: dict[str, Any]) -> None:
        cmd = command.get("cmd")
        if cmd == "send":
            self.sending = asyncio.ensure_future(
                self.send(
                    command["phase"],
                    int(command["count"]),
                    float(command["rate"]),
                    command.get("start_ms"),
                )
            )
        elif cmd == "stop":
            self.stopped = True
        elif cmd == "loopback":
            await self.connect_loopback(int(command["count"]), int(command.get("rooms", 0)))
        elif cmd == "await_nodes":
            await self.await_nodes(int(command["count"]), float(command.get("timeout", 30)))
        elif cmd == "fetch":
            await self.time_fetch(int(command["repeat"]), command.get("room"))
        elif cmd == "ack":
            await self.time_ack(int(command["repeat"]), float(command.get("timeout", 60)))
        elif cmd == "stats":
            emit_event("stats", direct_frames=self.direct_frames())
        elif cmd == "gc":
            emit_event("gc", **self.collector.snapshot())
        elif cmd == "gc_freeze":
            gc.collect()
            gc.freeze()
            emit_event("gc_frozen", objects=gc.get_freeze_count())
        elif cmd == "ack_local":
            await self.time_local_ack(int(command["repeat"]))
        elif cmd == "fetch_stages":
            await self.time_fetch_stages(int(command["repeat"]))
        else:
            emit_event("error", error=f"unknown command {cmd!r}")

    def direct_frames(self) -> int | None:
        """Deliveries written as prebuilt websocket frames (fanout="auto"), if known."""
        # the manager's delivery object is not public API: read it defensively
        delivery = getattr(self.manager, "_delivery", None)
        written = getattr(getattr(delivery, "direct", None), "written", None)
        return written if isinstance(written, int) else None

    async def connect_loopback(self, count: int, rooms: int) -> None:
        started = time.perf_counter()

        def room_of(index: int) -> list[str]:
            return [f"room-{index % rooms}"] if rooms else []

        await self.loopback.connect(count, room_of)
        seconds = time.perf_counter() - started
        gc.collect()
        emit_event("loopback", count=count, seconds=seconds)

    async def await_nodes(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            seen = await self.manager.server_count()
            if seen >= count:
                emit_event("nodes", count=seen)
                return
            await asyncio.sleep(0.1)
        emit_event("error", error=f"only {seen} of {count} nodes after {timeout} s")

    async def time_fetch(self, repeat: int, room: str | None) -> None:
        times = []
        found = 0
        for _ in range(repeat):
            started = time.perf_counter()
            sockets = await self.manager.fetch_sockets(to=room, timeout=60)
            times.append(time.perf_counter() - started)
            found = len(sockets)
            # freed here, not by the next call's assignment inside the timed window
            del sockets
        emit_event("fetch", times_s=times, sockets=found, room=room)

    async def time_ack(self, repeat: int, timeout: float) -> None:
        times = []
        replies = 0
        for index in range(repeat):
            started = time.perf_counter()
            answers = await self.manager.timeout(timeout).emit_with_ack("question", index)
            times.append(time.perf_counter() - started)
            replies = len(answers)
        emit_event("ack", times_s=times, replies=replies)

    async def time_local_ack(self, repeat: int) -> None:
        """python-socketio's own emit with a callback to every connected socket, until each
        answered: what any node spends on its sockets in a broadcast with acks."""
        times, cpu, collector = [], [], []
        loop = asyncio.get_running_loop()
        expected = len(self.loopback.eio_sids)
        for index in range(repeat):
            got = 0
            done: asyncio.Future[None] = loop.create_future()

            def answered(*args: Any, done: asyncio.Future[None] = done) -> None:
                nonlocal got
                got += 1
                if got == expected and not done.done():
                    done.set_result(None)

            gc_before = sum(self.collector.seconds)
            cpu_before = time.process_time()
            started = time.perf_counter()
            await self.sio.emit("question", index, callback=answered)
            await asyncio.wait_for(done, 60)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_before)
            collector.append(sum(self.collector.seconds) - gc_before)
        emit_event("ack_local", times_s=times, cpu_s=cpu, gc_s=collector, replies=expected)

    async def time_fetch_stages(self, repeat: int) -> None:
        """The Python work of a ``fetch_sockets()`` on this node's own sockets, stage by
        stage: describing them (what an answering node does), encoding that answer,
        decoding it and building the RemoteSocket objects (what the asking node does)."""
        from socketio_cloud import protocol
        from socketio_cloud.local import BroadcastOptions

        manager = self.manager
        stages: dict[str, list[float]] = {"describe": [], "encode": [], "decode": [], "build": []}
        for _ in range(repeat):
            started = time.perf_counter()
            details = await manager._local_socket_details("/", BroadcastOptions())
            described = time.perf_counter()
            message = protocol.ClusterMessage(
                protocol.MessageType.FETCH_SOCKETS_RESPONSE,
                manager.uid,
                "/",
                {"requestId": "0" * 16, "sockets": details},
            )
            payload = protocol.encode(message)
            encoded = time.perf_counter()
            decoded_message = protocol.decode(payload)
            decoded = time.perf_counter()
            assert decoded_message.data is not None
            sockets = manager._remote_sockets("/", decoded_message.data["sockets"])
            built = time.perf_counter()
            for name, seconds in (
                ("describe", described - started),
                ("encode", encoded - described),
                ("decode", decoded - encoded),
                ("build", built - decoded),
            ):
                stages[name].append(seconds)
            del details, message, decoded_message, sockets
        emit_event(
            "fetch_stages",
            sockets=len(self.loopback.eio_sids),
            bytes=len(payload),
            stages_s=stages,
        )


@contextlib.contextmanager
def profiling_command(cmd: Any) -> Iterator[None]:
    """With ``BENCH_PROFILE_COMMANDS`` (comma-separated command names) and
    ``BENCH_PROFILE_DIR``: a cProfile dump of each such command, taken only while it runs
    (``pynode-<pid>-<cmd>-<n>.prof``), so that connecting the sockets stays out of it."""
    names = os.environ.get("BENCH_PROFILE_COMMANDS", "")
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if not profile_dir or cmd not in names.split(","):
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        _profiled[cmd] = _profiled.get(cmd, 0) + 1
        name = f"pynode-{os.getpid()}-{cmd}-{_profiled[cmd]}.prof"
        profiler.dump_stats(os.path.join(profile_dir, name))


_profiled: dict[str, int] = {}


async def read_commands(node: Node) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return  # the orchestrator is gone
        if not line.strip():
            continue
        command = json.loads(line)
        if command.get("cmd") == "exit":
            return
        try:
            with profiling_command(command.get("cmd")):
                await node.command(command)
        except Exception as exc:
            logger.exception("command %s failed", command.get("cmd"))
            emit_event("error", error=f"{command.get('cmd')}: {exc!r}")


async def main(args: argparse.Namespace) -> None:
    node = Node(args)
    stop = await serve(node.sio, args.stack, args.port)
    if node.ours:
        await node.manager.ready()
        if args.decode_own:
            # an id no entry carries: own entries are decoded, then dropped by the Inbox
            node.manager.transport._uid_bytes = b"-"
    emit_event("ready", port=args.port, stack=args.stack, manager=args.manager)
    try:
        await read_commands(node)
    finally:
        node.stopped = True
        if node.sending is not None:
            await asyncio.gather(node.sending, return_exceptions=True)
        if node.ours:
            await node.manager.close()
        await stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manager", choices=MANAGERS, required=True)
    parser.add_argument("--stack", choices=STACKS, default="uvicorn")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="bench", help="stream/channel/topic name prefix")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--fanout",
        choices=FANOUT_MODES,
        default="auto",
        help="our managers: how events reach local clients (ClusterManager's fanout)",
    )
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--aws-endpoint", default=None)
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--gcp-project", default="socketio-cloud-bench")
    parser.add_argument("--padding", type=int, default=100)
    parser.add_argument(
        "--queued-emits", action="store_true", help="our managers: queued_emits=True"
    )
    parser.add_argument(
        "--parser",
        choices=("default", "python"),
        default="default",
        help="ours-redis: redis-py's reply parser (python: as without hiredis)",
    )
    parser.add_argument(
        "--one-xadd-per-emit",
        action="store_true",
        help="ours-redis: publish as earlier releases did (one awaited XADD per emit)",
    )
    parser.add_argument(
        "--decode-own",
        action="store_true",
        help="ours-redis: decode the node's own entries before dropping them (as before)",
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    return parser.parse_args(argv)


def run() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if profile_dir and not os.environ.get("BENCH_PROFILE_COMMANDS"):
        # where a node's CPU goes: one cProfile dump per node process, written at exit
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            _run(args)
        finally:
            profiler.disable()
            profiler.dump_stats(os.path.join(profile_dir, f"pynode-{os.getpid()}.prof"))
        return
    _run(args)


def _run(args: argparse.Namespace) -> None:
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            args.loop = "asyncio"
        else:
            uvloop.run(main(args))
            return
    asyncio.run(main(args))


if __name__ == "__main__":
    run()
