"""Broadcast scenarios: two server nodes on one broker, clients on one, events from the other.

A scenario starts a receiving node and a sending node (each its own process), connects the
clients to the receiving node from several client processes, checks the path end to end
with a warm-up, then runs each regime (steady at a bounded rate, burst at full rate):
the clients are told the phase, the sender sends ``count`` events stamped with their send
time, and the phase ends when every client has every event (or at a deadline). CPU seconds
of each server process are read before and after; the clients report what they received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import (
    Child,
    ChildError,
    cpu_of,
    find_broker_process,
    node_child,
    python_child,
    stop_all,
)
from tests.support.services import free_port, port_open

logger = logging.getLogger("bench.broadcast")

REDIS_PORT = 6379
STACK_CANDIDATES = "ours-redis-streams-"
AMQP_PORT = 5672
POSTGRES_PORT = 5432


@dataclass(frozen=True)
class Scenario:
    """One system under test."""

    name: str
    label: str
    kind: str  # "python", "node" or "raw"
    variant: str  # pynode manager, Node adapter, or raw mode
    broker: str  # "redis", "rabbitmq", "moto", "postgres" or "pubsub-emulator"
    stack: str | None = None
    note: str = ""
    fanout: str = "auto"  # our managers' local delivery (ClusterManager's ``fanout``)
    options: tuple[str, ...] = ()  # extra bench.pynode arguments (both nodes)


@dataclass
class Regime:
    name: str  # "steady" or "burst"
    count: int
    rate: float  # events per second, 0 = full rate
    timeout: float  # bound of the whole phase, seconds


@dataclass
class Settings:
    clients: int
    client_procs: int
    steady: Regime
    burst: Regime
    log_dir: Path
    padding: int = 100
    aws_endpoint: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: which of the two regimes to run
    regimes: tuple[str, ...] = ("steady", "burst")


def scenarios(preferred_stack: str = "uvicorn") -> list[Scenario]:
    """Every scenario, ours first; the peers' Python nodes run on ``preferred_stack``.

    ``ours-redis-streams-<stack>`` rows use the default fan-out (``auto``); the ``-queue`` and
    ``-tasks`` rows are the same node with the earlier fan-outs, for before/after figures."""
    return [
        Scenario(
            "ours-redis-streams-uvicorn",
            "socketio-cloud RedisStreamsManager (uvicorn+uvloop, permessage-deflate off)",
            "python",
            "ours-redis",
            "redis",
            "uvicorn",
        ),
        *sender_scenarios(),
        Scenario(
            "ours-redis-streams-uvicorn-queue",
            "socketio-cloud RedisStreamsManager, fanout=queue (uvicorn+uvloop, deflate off)",
            "python",
            "ours-redis",
            "redis",
            "uvicorn",
            note="the previous fan-out: one encoded packet in each client's Engine.IO queue",
            fanout="queue",
        ),
        Scenario(
            "ours-redis-streams-uvicorn-tasks",
            "socketio-cloud RedisStreamsManager, fanout=tasks (uvicorn+uvloop, deflate off)",
            "python",
            "ours-redis",
            "redis",
            "uvicorn",
            note="python-socketio's own fan-out (one task per client) inside our manager",
            fanout="tasks",
        ),
        Scenario(
            "ours-redis-streams-uvicorn-deflate",
            "socketio-cloud RedisStreamsManager (uvicorn+uvloop, permessage-deflate on)",
            "python",
            "ours-redis",
            "redis",
            "uvicorn-deflate",
        ),
        Scenario(
            "ours-redis-streams-aiohttp",
            "socketio-cloud RedisStreamsManager (aiohttp+uvloop, permessage-deflate on)",
            "python",
            "ours-redis",
            "redis",
            "aiohttp",
        ),
        Scenario(
            "pysio-redis",
            f"python-socketio AsyncRedisManager ({preferred_stack}+uvloop)",
            "python",
            "pysio-redis",
            "redis",
            preferred_stack,
        ),
        Scenario(
            "pysio-aiopika",
            f"python-socketio AsyncAioPikaManager, RabbitMQ ({preferred_stack}+uvloop)",
            "python",
            "pysio-aiopika",
            "rabbitmq",
            preferred_stack,
        ),
        Scenario(
            "node-redis-streams",
            "Node socket.io + @socket.io/redis-streams-adapter",
            "node",
            "streams",
            "redis",
        ),
        Scenario(
            "node-redis-adapter",
            "Node socket.io + @socket.io/redis-adapter",
            "node",
            "redis",
            "redis",
        ),
        Scenario(
            "raw-redis-pubsub",
            "Redis PUBLISH -> SUBSCRIBE, no Socket.IO (Node redis client)",
            "raw",
            "pubsub",
            "redis",
            note="one subscriber: deliveries = messages",
        ),
        Scenario(
            "raw-redis-streams",
            "Redis XADD -> XREAD, no Socket.IO (Node redis client)",
            "raw",
            "streams",
            "redis",
            note="one reader: deliveries = messages",
        ),
        Scenario(
            "raw-redis-streams-python",
            "Redis XADD -> XREAD, no Socket.IO (redis-py with hiredis, uvloop)",
            "raw",
            "python-streams",
            "redis",
            note="one reader: deliveries = messages",
        ),
        Scenario(
            "ours-postgres",
            f"socketio-cloud PostgresManager ({preferred_stack}+uvloop)",
            "python",
            "ours-postgres",
            "postgres",
            preferred_stack,
        ),
        Scenario(
            "node-postgres",
            "Node socket.io + @socket.io/postgres-adapter",
            "node",
            "postgres",
            "postgres",
        ),
        Scenario(
            "ours-pubsub-emulator",
            f"socketio-cloud PubSubManager on the Pub/Sub emulator ({preferred_stack}+uvloop)",
            "python",
            "ours-pubsub",
            "pubsub-emulator",
            preferred_stack,
            note="latency is the emulator's (a local Java process), not Google's",
        ),
        Scenario(
            "ours-aws-moto",
            f"socketio-cloud AwsSqsManager on moto ({preferred_stack}+uvloop)",
            "python",
            "ours-aws",
            "moto",
            preferred_stack,
            note="latency is moto's (a local Python emulator), not AWS's",
        ),
    ]


def sender_scenarios() -> list[Scenario]:
    """Our default node with the sending-side levers taken away one by one (before/after)."""
    label = "socketio-cloud RedisStreamsManager (uvicorn+uvloop, deflate off)"
    before = ("--parser", "python", "--decode-own", "--one-xadd-per-emit")
    rows = [
        (
            "before",
            before,
            "as before: redis-py's pure-Python reply parser and its own reading path "
            "(readers, writer and the emit's XADD), own entries decoded, one XADD per emit",
        ),
        ("hiredis", before[2:], "+ hiredis; own entries decoded, one XADD per emit"),
        ("own-skip", before[3:], "+ hiredis + own entries skipped unread; one XADD per emit"),
        (
            "queued",
            ("--queued-emits",),
            "default levers + queued_emits=True (flushed before 'sent')",
        ),
    ]
    return [
        Scenario(
            f"ours-redis-streams-uvicorn-{suffix}",
            f"{label}, {suffix}",
            "python",
            "ours-redis",
            "redis",
            "uvicorn",
            note=note,
            options=options,
        )
        for suffix, options, note in rows
    ]


def is_stack_candidate(scenario: Scenario) -> bool:
    """Whether the scenario is our manager, default fan-out, on one of the server stacks:
    those rows decide the stack the other Python nodes run on."""
    return (
        scenario.name.startswith(STACK_CANDIDATES)
        and scenario.fanout == "auto"
        and not scenario.options
    )


def broker_missing(scenario: Scenario, settings: Settings) -> str | None:
    """Why the scenario cannot run here, or None."""
    if scenario.broker == "redis" and not port_open(REDIS_PORT):
        return f"no Redis on 127.0.0.1:{REDIS_PORT}"
    if scenario.broker == "rabbitmq":
        if not port_open(AMQP_PORT):
            return f"no RabbitMQ on 127.0.0.1:{AMQP_PORT}"
        try:
            import aio_pika  # noqa: F401
        except ImportError:
            return "aio-pika is not installed (pip install aio-pika)"
    if scenario.broker == "moto" and not settings.aws_endpoint:
        return "moto server not available"
    if scenario.broker == "postgres" and not port_open(POSTGRES_PORT):
        return f"no PostgreSQL on 127.0.0.1:{POSTGRES_PORT}"
    if scenario.broker == "pubsub-emulator" and "PUBSUB_EMULATOR_HOST" not in settings.env:
        return "Pub/Sub emulator not available"
    if scenario.kind in ("node", "raw") and not (Path(__file__).parent / "node_modules").is_dir():
        return "npm packages missing: run npm install in bench/"
    return None


def _server_child(scenario: Scenario, role: str, key: str, settings: Settings) -> Child:
    """The receiving or sending node of a scenario."""
    name = f"{scenario.name}-{role}"
    if scenario.kind == "python":
        args = [
            "--manager",
            scenario.variant,
            "--stack",
            scenario.stack or "uvicorn",
            "--port",
            str(free_port()),
            "--key",
            key,
            "--padding",
            str(settings.padding),
        ]
        if scenario.fanout != "auto":
            args += ["--fanout", scenario.fanout]
        args += list(scenario.options)
        if settings.aws_endpoint:
            args += ["--aws-endpoint", settings.aws_endpoint]
        return python_child(name, "bench.pynode", args, settings.log_dir, env=settings.env)
    if scenario.kind == "node":
        args = ["--adapter", scenario.variant, "--port", str(free_port()), "--key", key]
        args += ["--padding", str(settings.padding)]
        return node_child(name, "node_server.mjs", args, settings.log_dir)
    raw_role = "sub" if role == "receiver" else "pub"
    if scenario.variant == "python-streams":
        args = ["--role", raw_role, "--key", key, "--padding", str(settings.padding)]
        return python_child(name, "bench.raw_broker", args, settings.log_dir)
    args = ["--mode", scenario.variant, "--role", raw_role, "--key", key]
    args += ["--padding", str(settings.padding)]
    return node_child(name, "raw_broker.mjs", args, settings.log_dir)


def _client_children(scenario: Scenario, port: int, settings: Settings) -> list[Child]:
    procs = max(1, min(settings.client_procs, settings.clients))
    sizes = [
        settings.clients // procs + (1 if i < settings.clients % procs else 0) for i in range(procs)
    ]
    return [
        node_child(
            f"{scenario.name}-clients-{i}",
            "clients.mjs",
            ["--url", f"http://127.0.0.1:{port}", "--count", str(size)],
            settings.log_dir,
        )
        for i, size in enumerate(sizes)
        if size
    ]


@dataclass
class Running:
    """A scenario's processes, started and checked end to end by a warm-up."""

    scenario: Scenario
    receiver: Child
    sender: Child
    #: the processes whose clients count what they receive (the receiver itself when raw)
    receivers: list[Child]
    clients: int
    rss_per_client: float | None
    broker: Any

    @property
    def ours(self) -> bool:
        return self.scenario.variant.startswith("ours-")


@contextlib.asynccontextmanager
async def running(scenario: Scenario, settings: Settings) -> AsyncIterator[Running]:
    """Start a scenario's nodes and clients and warm the path up; stop them all on exit.

    Raises :class:`ChildError` when a process does not start or the warm-up fails."""
    key = f"bench-{scenario.name}-{secrets.token_hex(3)}"
    receiver = _server_child(scenario, "receiver", key, settings)
    sender = _server_child(scenario, "sender", key, settings)
    children = [receiver, sender]
    try:
        ready = await receiver.start()
        await sender.start()
        if scenario.kind == "raw":
            receivers = [receiver]
            clients = 1
            rss_per_client = None
        else:
            rss_before = receiver.rss()
            receivers = _client_children(scenario, int(ready["port"]), settings)
            children += receivers
            await asyncio.gather(*(child.start(timeout=120) for child in receivers))
            clients = settings.clients
            rss_per_client = (receiver.rss() - rss_before) / clients
        await _warm_up(sender, receivers)
        broker = find_broker_process("redis-server") if scenario.broker == "redis" else None
        yield Running(scenario, receiver, sender, receivers, clients, rss_per_client, broker)
    finally:
        await stop_all(children)


def _base(scenario: Scenario) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scenario": scenario.name,
        "label": scenario.label,
        "stack": scenario.stack,
    }
    if scenario.variant.startswith("ours-"):
        base["fanout"] = scenario.fanout
    if scenario.options:
        base["options"] = list(scenario.options)
    if scenario.note:
        base["note"] = scenario.note
    return base


async def run_scenario(scenario: Scenario, settings: Settings) -> list[dict[str, Any]]:
    """Both regimes of one scenario: one result dict per regime (with ``error`` on failure)."""
    base = _base(scenario)
    regimes = [r for r in (settings.steady, settings.burst) if r.name in settings.regimes]
    missing = broker_missing(scenario, settings)
    if missing:
        return [{**base, "regime": r.name, "error": missing} for r in regimes]
    results: list[dict[str, Any]] = []
    failure = "scenario failed before this regime (see the logs)"
    try:
        async with running(scenario, settings) as run:
            for regime in regimes:
                try:
                    result = await _run_regime(regime, run)
                except ChildError as exc:
                    result = {"error": str(exc)}
                result = {**base, "regime": regime.name, **result}
                if run.rss_per_client is not None:
                    result["rss_per_client_kb"] = round(run.rss_per_client / 1024, 1)
                results.append(result)
                if "error" in result:
                    break
    except ChildError as exc:
        logger.warning("%s failed: %s", scenario.name, exc)
        failure = f"scenario failed: {str(exc).splitlines()[0]}"
    done = {r["regime"] for r in results}
    error = failure
    if results and "error" in results[-1]:
        error = f"not run after an error in {results[-1]['regime']}"
    results += [{**base, "regime": r.name, "error": error} for r in regimes if r.name not in done]
    return results


async def run_interleaved(
    scenarios: Sequence[Scenario], settings: Settings, regime: Regime, rounds: int
) -> dict[str, Any]:
    """First delivery of several systems measured in the same time window.

    Every system runs at the same time, each with its own nodes, clients and stream, and
    their senders take turns: at ``regime.rate`` events/s each, system ``i`` of ``n`` sends
    ``i/n`` of a period after the first. A system's event thus meets the others idle, and
    whatever the machine does over the minute (its load, its clock speed) falls on every
    system alike: the comparison is paired, event by event. The order of the turns
    rotates from round to round.
    """
    if regime.rate <= 0:
        raise ValueError("interleaved runs need a bounded rate")
    names = [scenario.name for scenario in scenarios]
    result: dict[str, Any] = {
        "systems": names,
        "events": regime.count,
        "rate": regime.rate,
        "rounds": [],
    }
    for scenario in scenarios:
        missing = broker_missing(scenario, settings)
        if missing:
            return {**result, "error": f"{scenario.name}: {missing}"}
    period_ms = 1000.0 / regime.rate
    firsts: dict[str, dict[str, float]] = {name: {} for name in names}
    try:
        async with contextlib.AsyncExitStack() as stack:
            runs = [await stack.enter_async_context(running(s, settings)) for s in scenarios]
            for index in range(rounds):
                phase = f"{regime.name}-{index}"
                order = runs[index % len(runs) :] + runs[: index % len(runs)]
                direct_before = {}
                for run in runs:
                    if run.ours:
                        direct_before[run.scenario.name] = await _direct_frames(run.receiver)
                    for child in run.receivers:
                        await child.send(cmd="phase", phase=phase, expected=regime.count)
                        await child.expect("phase", 10, phase=phase)
                start_ms = time.time() * 1000 + 500  # every sender has its command by then
                for turn, run in enumerate(order):
                    await run.sender.send(
                        cmd="send",
                        phase=phase,
                        count=regime.count,
                        rate=regime.rate,
                        start_ms=start_ms + turn * period_ms / len(order),
                    )
                measured: dict[str, Any] = {}
                for run in runs:
                    await run.sender.expect("sent", regime.timeout, phase=phase)
                    incomplete = 0
                    for child in run.receivers:
                        try:
                            await child.expect("complete", regime.timeout, phase=phase)
                        except ChildError:
                            incomplete += 1  # the report below says what was lost
                    reports = []
                    for child in run.receivers:
                        await child.send(cmd="report")
                        reports.append(await child.expect("report", 60))
                    first = first_latencies(reports)
                    lost = sum(int(report["lost"]) for report in reports)
                    measured[run.scenario.name] = {
                        "first_p50_ms": _round(percentile(sorted(first.values()), 0.5)),
                        "lost": lost,
                    }
                    if incomplete:
                        measured[run.scenario.name]["incomplete_client_groups"] = incomplete
                    before = direct_before.get(run.scenario.name)
                    if before is not None:
                        after = await _direct_frames(run.receiver)
                        if after is not None:
                            measured[run.scenario.name]["direct_frames"] = after - before
                    firsts[run.scenario.name].update(
                        {f"{index}:{seq}": value for seq, value in first.items()}
                    )
                result["rounds"].append({"order": [run.scenario.name for run in order], **measured})
    except ChildError as exc:
        logger.warning("interleaved run of %s failed: %s", names, exc)
        return {**result, "error": f"failed: {str(exc).splitlines()[0]}"}
    result["first_p50_ms"] = {
        name: _round(percentile(sorted(values.values()), 0.5)) for name, values in firsts.items()
    }
    result["first_p90_ms"] = {
        name: _round(percentile(sorted(values.values()), 0.9)) for name, values in firsts.items()
    }
    if len(names) == 2:
        mine, theirs = firsts[names[0]], firsts[names[1]]
        diffs = sorted(mine[key] - theirs[key] for key in mine.keys() & theirs.keys())
        result["paired_events"] = len(diffs)
        result["median_difference_ms"] = _round(percentile(diffs, 0.5))
        result["first_faster_share"] = _round(
            sum(1 for diff in diffs if diff < 0) / len(diffs) if diffs else None
        )
    return result


def first_latencies(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Per event (its sequence number), the lowest latency over every client."""
    firsts: dict[str, float] = {}
    for report in reports:
        for seq, value in (report.get("first_latencies_ms") or {}).items():
            firsts[seq] = min(value, firsts.get(seq, value))
    return firsts


async def _warm_up(sender: Child, receivers: list[Child], timeout: float = 30.0) -> None:
    """Send a trickle of events until every client got one: the path works end to end."""
    for child in receivers:
        await child.send(cmd="phase", phase="warmup", expected=1)
        await child.expect("phase", 10, phase="warmup")
    await sender.send(cmd="send", phase="warmup", count=int(timeout * 10), rate=10)
    try:
        await asyncio.gather(*(c.expect("complete", timeout, phase="warmup") for c in receivers))
    finally:
        await sender.send(cmd="stop")
        await sender.expect("sent", timeout + 10, phase="warmup")


async def _run_regime(regime: Regime, run: Running) -> dict[str, Any]:
    sender, receiver, receivers = run.sender, run.receiver, run.receivers
    broker, clients, ours = run.broker, run.clients, run.ours
    direct_before = await _direct_frames(receiver) if ours else None
    for child in receivers:
        await child.send(cmd="phase", phase=regime.name, expected=regime.count)
        await child.expect("phase", 10, phase=regime.name)
    started = time.monotonic()
    clients_are_children = receivers != [receiver]
    split_receiver = receiver.cpu_split()
    cpu_receiver, cpu_sender, cpu_broker = (
        sum(split_receiver),
        sender.cpu_seconds(),
        cpu_of(broker),
    )
    cpu_clients = sum(child.cpu_seconds() for child in receivers) if clients_are_children else 0.0
    await sender.send(cmd="send", phase=regime.name, count=regime.count, rate=regime.rate)
    sent = await sender.expect("sent", regime.timeout, phase=regime.name)
    remaining = max(5.0, regime.timeout - (time.monotonic() - started))
    pending = [
        asyncio.ensure_future(c.expect("complete", remaining, phase=regime.name)) for c in receivers
    ]
    await asyncio.wait(pending)
    incomplete = sum(1 for task in pending if task.exception() is not None)
    split_end = receiver.cpu_split()
    cpu_receiver = sum(split_end) - cpu_receiver
    cpu_sender = sender.cpu_seconds() - cpu_sender
    broker_end = cpu_of(broker)
    if clients_are_children:
        cpu_clients = sum(child.cpu_seconds() for child in receivers) - cpu_clients
    window = time.monotonic() - started
    reports = []
    for child in receivers:
        await child.send(cmd="report")
        reports.append(await child.expect("report", 60))
    result = _summarize(
        regime,
        sent,
        reports,
        clients,
        cpu_receiver,
        cpu_sender,
        cpu_broker,
        broker_end,
        window,
        incomplete,
    )
    result["cpu_s"]["receiver_user"] = _round(split_end[0] - split_receiver[0])
    result["cpu_s"]["receiver_system"] = _round(split_end[1] - split_receiver[1])
    if clients_are_children:
        result["cpu_s"]["clients"] = _round(cpu_clients)
    direct_after = await _direct_frames(receiver) if ours else None
    if direct_before is not None and direct_after is not None:
        result["direct_frames"] = direct_after - direct_before
    return result


async def _direct_frames(receiver: Child) -> int | None:
    """How many deliveries our receiving node has written as prebuilt websocket frames."""
    await receiver.send(cmd="stats")
    stats = await receiver.expect("stats", 10)
    value = stats.get("direct_frames")
    return value if isinstance(value, int) else None


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _summarize(
    regime: Regime,
    sent: dict[str, Any],
    reports: list[dict[str, Any]],
    clients: int,
    cpu_receiver: float,
    cpu_sender: float,
    cpu_broker_start: float | None,
    cpu_broker_end: float | None,
    window: float,
    incomplete: int,
) -> dict[str, Any]:
    latencies = sorted(x for report in reports for x in report["latencies_ms"])
    firsts = sorted(first_latencies(reports).values())
    received = sum(int(report["received"]) for report in reports)
    lost = sum(int(report["lost"]) for report in reports)
    duplicates = sum(int(report["duplicates"]) for report in reports)
    lasts = [report["last_ms"] for report in reports if report.get("last_ms") is not None]
    count = int(sent["count"])
    span_s = (max(lasts) - float(sent["start_ms"])) / 1000 if lasts else None
    send_s = (float(sent["end_ms"]) - float(sent["start_ms"])) / 1000
    result: dict[str, Any] = {
        "rate": regime.rate or "max",
        "events": count,
        "clients": clients,
        "deliveries": received,
        "lost": lost,
        "duplicates": duplicates,
        "events_per_s": _round(received / clients / span_s) if span_s else None,
        "deliveries_per_s": _round(received / span_s) if span_s else None,
        "send_events_per_s": _round(count / send_s) if send_s > 0 else None,
        "flushed_events_per_s": (
            _round(count / ((float(sent["flushed_ms"]) - float(sent["start_ms"])) / 1000))
            if sent.get("flushed_ms") and float(sent["flushed_ms"]) > float(sent["start_ms"])
            else None
        ),
        "latency_ms": {
            "p50": _round(percentile(latencies, 0.50)),
            "p90": _round(percentile(latencies, 0.90)),
            "p99": _round(percentile(latencies, 0.99)),
            "max": _round(latencies[-1]) if latencies else None,
        },
        "first_latency_ms": {
            "p50": _round(percentile(firsts, 0.50)),
            "p90": _round(percentile(firsts, 0.90)),
        },
        "cpu_s": {"receiver": _round(cpu_receiver), "sender": _round(cpu_sender)},
        "cpu_us_per_sent": _round(cpu_sender / count * 1e6) if count else None,
        "cpu_us_per_delivery": _round(cpu_receiver / received * 1e6) if received else None,
        "window_s": _round(window),
    }
    if cpu_broker_start is not None and cpu_broker_end is not None:
        result["cpu_s"]["broker"] = _round(cpu_broker_end - cpu_broker_start)
    if incomplete:
        result["incomplete_client_groups"] = incomplete
    return result


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None:
        return None
    return round(float(value), digits) if abs(value) < 100 else round(float(value), 1)
