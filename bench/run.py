"""The benchmark: every scenario, the AWS cost figures and the scale figures, in one run.

    python -m bench.run            # full run (~15 min on 2 cores), rewrites bench/RESULTS.md
    python -m bench.run --quick    # smoke run: few clients and events, writes nothing
    python -m bench.run --quick --only ours-redis-streams-uvicorn --skip cost,scale

Prints one JSON line per scenario and regime (and one for cost, one for scale) on stdout;
progress goes to stderr. ``scripts/bench`` bootstraps, waits for a quiet machine and runs
this. Every phase is bounded in time and count: the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import broadcast, machine
from bench.broadcast import Regime, Settings
from bench.procs import BENCH, Child, ChildError, python_child

logger = logging.getLogger("bench.run")

PARTS = ("broadcast", "first-delivery", "first-delivery-paired", "cost", "aws-latency", "scale")
# what --quick runs unless told otherwise: our node (before, default, queued emits) beside
# the peers, the AWS publishing behind a delay, and the scale operations at 2,000 sockets
QUICK_SCENARIOS = (
    "ours-redis-streams-uvicorn",
    "ours-redis-streams-uvicorn-before",
    "ours-redis-streams-uvicorn-queued",
    "node-redis-streams",
    "pysio-redis",
)


def emit_line(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: few clients/events")
    parser.add_argument("--clients", type=int, help="clients on the receiving node (200)")
    parser.add_argument("--client-procs", type=int, default=4, help="client processes (4)")
    parser.add_argument("--steady-events", type=int, help="events at 20/s (400)")
    parser.add_argument("--burst-events", type=int, help="events at full rate (1000)")
    parser.add_argument("--rate", type=float, default=20.0, help="steady rate, events/s (20)")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--skip", default="", help=f"comma-separated parts to skip: {PARTS}")
    parser.add_argument("--sockets", type=int, help="scale: sockets per node (10000)")
    parser.add_argument("--idle-seconds", type=float, help="cost: idle window (60)")
    parser.add_argument(
        "--cost-nodes",
        help="cost: comma-separated cluster sizes (full: 3,5; quick: 3); the first gets every "
        "phase, the others the idle and steady-broadcast phases",
    )
    parser.add_argument(
        "--out", type=Path, help="write results JSON, plot and RESULTS.md here (full run: bench/)"
    )
    parser.add_argument(
        "--wait-for-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the 1-min load average to drop below 1.5",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    quick = args.quick
    args.clients = args.clients or (20 if quick else 200)
    args.steady_events = args.steady_events or (40 if quick else 400)
    args.burst_events = args.burst_events or (300 if quick else 1000)
    args.sockets = args.sockets or (2000 if quick else 10_000)
    args.idle_seconds = args.idle_seconds or (10.0 if quick else 60.0)
    try:
        args.cost_nodes = [
            int(n) for n in (args.cost_nodes or ("3" if quick else "3,5")).split(",")
        ]
    except ValueError:
        parser.error("--cost-nodes takes comma-separated integers")
    if any(n < 2 for n in args.cost_nodes):
        parser.error("--cost-nodes: a cluster has at least 2 nodes")
    if args.out is None and not quick:
        args.out = BENCH
    if quick and args.only is None:
        args.only = ",".join(QUICK_SCENARIOS)
        args.skip = args.skip or "cost"
    args.skip = {part for part in args.skip.split(",") if part}
    unknown = args.skip - set(PARTS)
    if unknown:
        parser.error(f"unknown parts to skip: {sorted(unknown)}")
    return args


async def wait_for_quiet(limit: float, threshold: float = 1.5) -> tuple[float, float]:
    """Wait up to ``limit`` seconds for a quiet machine; returns (load, seconds waited)."""
    started = time.monotonic()
    load = os.getloadavg()[0]
    while load >= threshold and time.monotonic() - started < limit:
        logger.info("load average %.2f >= %.1f: waiting for a quiet machine", load, threshold)
        await asyncio.sleep(min(30.0, limit))
        load = os.getloadavg()[0]
    return load, time.monotonic() - started


class MotoProcess:
    """moto's server in a process of its own, so its CPU is nobody else's."""

    def __init__(self, log_dir: Path) -> None:
        self.child = python_child("moto", "bench.moto_server", [], log_dir)
        self.endpoint: str | None = None
        self.error: str | None = None

    async def start(self) -> None:
        try:
            ready = await self.child.start(timeout=60)
            self.endpoint = str(ready["endpoint"])
        except ChildError as exc:
            self.error = f"moto server did not start: {exc}"

    async def stop(self) -> None:
        await self.child.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="socketio-cloud-bench-"))
    logger.info("child process logs in %s", log_dir)
    load_before, waited = await wait_for_quiet(args.wait_for_quiet)
    started = time.time()
    run_info: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "waited_for_quiet_s": round(waited, 1),
        "clients": args.clients,
        "client_procs": args.client_procs,
        "steady": {"events": args.steady_events, "rate": args.rate},
        "burst": {"events": args.burst_events},
    }
    del load_before
    moto = MotoProcess(log_dir)
    selected = set(args.only.split(",")) if args.only else None
    wants_moto = (
        "cost" not in args.skip
        or "aws-latency" not in args.skip
        or selected is None
        or "ours-aws-moto" in selected
    )
    if wants_moto:
        await moto.start()
    aws_env = _aws_env(moto.endpoint) if moto.endpoint else {}
    results: dict[str, Any] = {
        "run": run_info,
        "broadcast": [],
        "cost": None,
        "cost_more_nodes": [],
        "first_delivery": None,
        "first_delivery_paired": None,
        "aws_latency": None,
        "scale": None,
    }
    try:
        if "broadcast" not in args.skip:
            results["broadcast"], run_info["preferred_stack"] = await run_broadcasts(
                args, selected, log_dir, moto.endpoint, aws_env
            )
        if "first-delivery-paired" not in args.skip and not args.quick:
            results["first_delivery_paired"] = await pair_first_delivery(args, selected, log_dir)
        if "first-delivery" not in args.skip:
            results["first_delivery"] = await run_part(
                "first-delivery",
                "bench.first_delivery",
                ["--events", "60" if args.quick else "200", "--rate", str(args.rate)],
                log_dir,
                {},
                None,
                timeout=120,
            )
        if "cost" not in args.skip:
            for index, nodes in enumerate(args.cost_nodes):
                # the first cluster size gets every phase; the others, what changes with N
                phases = [] if index == 0 else ["--phases", "idle,steady"]
                result = await run_part(
                    "cost",
                    "bench.aws_cost",
                    ["--endpoint", moto.endpoint or "", "--nodes", str(nodes)]
                    + ["--idle-seconds", str(args.idle_seconds), *phases]
                    + (["--quick"] if args.quick else []),
                    log_dir,
                    aws_env,
                    moto.error,
                    timeout=600,
                )
                if index == 0:
                    results["cost"] = result
                else:
                    results["cost_more_nodes"].append({"nodes": nodes, **result})
        if "aws-latency" not in args.skip:
            results["aws_latency"] = await run_part(
                "aws-latency",
                "bench.aws_latency",
                ["--endpoint", moto.endpoint or "", "--delay-ms", "20"]
                + (["--quick"] if args.quick else []),
                log_dir,
                aws_env,
                moto.error,
                timeout=600,
            )
        if "scale" not in args.skip:
            results["scale"] = await run_part(
                "scale",
                "bench.scale",
                ["--sockets", str(args.sockets)] + (["--quick"] if args.quick else []),
                log_dir,
                {},
                None,
                timeout=600,
            )
    finally:
        await moto.stop()
    run_info["duration_s"] = round(time.time() - started, 1)
    run_info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    logger.info("child process logs are in %s", log_dir)
    return results


#: The systems whose first deliveries the target compares, ours first, then the broker hop
#: alone from each side's client (the floor a gap is weighed against), redis-py's first.
PAIRED = (
    ("ours-redis-streams-uvicorn", "node-redis-streams"),
    ("raw-redis-streams-python", "raw-redis-streams"),
)
#: rounds of an interleaved run (each ``--steady-events`` events per system)
PAIRED_ROUNDS = 3


async def pair_first_delivery(
    args: argparse.Namespace, selected: set[str] | None, log_dir: Path
) -> dict[str, Any] | None:
    """Ours and Node's adapter at 20 events/s in the same minute, their events taking
    turns (:func:`bench.broadcast.run_interleaved`); then the two raw hops the same way.

    The first-delivery p50 of one run moves by a few tenths of a millisecond from run to
    run of the same code on this machine, more than the two systems differ, so runs one
    after the other cannot order them; events that alternate within one run can.
    """
    if selected is not None and not set(PAIRED[0]) <= selected:
        return None
    settings = Settings(
        clients=args.clients,
        client_procs=args.client_procs,
        steady=Regime("steady", args.steady_events, args.rate, args.steady_events / args.rate + 60),
        burst=Regime("burst", 0, 0.0, 0.0),
        log_dir=log_dir,
    )
    by_name = {scenario.name: scenario for scenario in broadcast.scenarios()}
    pairs = []
    for names in PAIRED:
        if selected is not None and not set(names) <= selected:
            continue
        logger.info("first delivery, interleaved: %s", " and ".join(names))
        pairs.append(
            await broadcast.run_interleaved(
                [by_name[name] for name in names], settings, settings.steady, PAIRED_ROUNDS
            )
        )
    result = {"part": "first-delivery-paired", "rounds": PAIRED_ROUNDS, "pairs": pairs}
    emit_line(result)
    return result


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


async def run_broadcasts(
    args: argparse.Namespace,
    selected: set[str] | None,
    log_dir: Path,
    aws_endpoint: str | None,
    aws_env: dict[str, str],
) -> tuple[list[dict[str, Any]], str]:
    """Every selected broadcast scenario; ours on both stacks first, to pick the stack the
    peers' Python nodes then run on."""
    steady_timeout = args.steady_events / args.rate + 60
    burst_timeout = 180.0
    settings = Settings(
        clients=args.clients,
        client_procs=args.client_procs,
        steady=Regime("steady", args.steady_events, args.rate, steady_timeout),
        burst=Regime("burst", args.burst_events, 0.0, burst_timeout),
        log_dir=log_dir,
        aws_endpoint=aws_endpoint,
        env=aws_env,
    )
    aws_settings = Settings(
        **{
            **settings.__dict__,
            "steady": Regime("steady", min(args.steady_events, 200), args.rate, steady_timeout),
            "burst": Regime("burst", min(args.burst_events, 300), 0.0, burst_timeout),
        }
    )
    results: list[dict[str, Any]] = []
    names = [s.name for s in broadcast.scenarios()]
    if selected is not None and selected - set(names):
        raise SystemExit(f"unknown scenarios {sorted(selected - set(names))}; known: {names}")
    # the Pub/Sub emulator (a Java process) takes fewer events, as moto does
    emulator = await _start_pubsub_emulator(selected)
    pubsub_settings = Settings(
        **{
            **aws_settings.__dict__,
            "env": {"PUBSUB_EMULATOR_HOST": emulator.host} if emulator else {},
        }
    )

    async def run_one(scenario: broadcast.Scenario) -> None:
        if selected is not None and scenario.name not in selected:
            return
        logger.info("scenario %s", scenario.name)
        chosen = {"moto": aws_settings, "pubsub-emulator": pubsub_settings}.get(
            scenario.broker, settings
        )
        for result in await broadcast.run_scenario(scenario, chosen):
            emit_line(result)
            results.append(result)

    # our manager (default fan-out) on each stack first: the cheaper stack is the one the
    # others then run on
    for scenario in broadcast.scenarios():
        if broadcast.is_stack_candidate(scenario):
            await run_one(scenario)
    preferred = pick_stack(results)
    try:
        for scenario in broadcast.scenarios(preferred):
            if not broadcast.is_stack_candidate(scenario):
                await run_one(scenario)
    finally:
        if emulator is not None:
            await asyncio.to_thread(emulator.stop)
    return results, preferred


async def _start_pubsub_emulator(selected: set[str] | None) -> Any:
    """The Pub/Sub emulator for ``ours-pubsub-emulator`` (None when it is not selected or
    not installed: the scenario then reports it is unavailable)."""
    if selected is not None and "ours-pubsub-emulator" not in selected:
        return None
    from app.embedded_pubsub import PubSubEmulator, find_emulator

    launcher = find_emulator()
    if launcher is None:
        return None
    emulator = PubSubEmulator(launcher)
    try:
        await asyncio.to_thread(emulator.start)
    except Exception as exc:
        logger.warning("the Pub/Sub emulator did not start: %s", exc)
        return None
    return emulator


def pick_stack(results: list[dict[str, Any]]) -> str:
    """The stack on which our manager, with its default fan-out, used less receiving CPU
    per delivery (summed over both regimes)."""
    candidates = {s.name for s in broadcast.scenarios() if broadcast.is_stack_candidate(s)}
    totals: dict[str, float] = {}
    regimes: dict[str, int] = {}
    for result in results:
        stack, cost = result.get("stack"), result.get("cpu_us_per_delivery")
        if stack and cost is not None and result.get("scenario") in candidates:
            totals[stack] = totals.get(stack, 0.0) + float(cost)
            regimes[stack] = regimes.get(stack, 0) + 1
    complete = {stack: total for stack, total in totals.items() if regimes[stack] == 2}
    if not complete:
        return "uvicorn"
    return min(complete, key=lambda stack: complete[stack])


async def run_part(
    name: str,
    module: str,
    argv: list[str],
    log_dir: Path,
    env: dict[str, str],
    unavailable: str | None,
    timeout: float,
) -> dict[str, Any]:
    """Run a measurement module in its own process; it prints one ``result`` event."""
    if unavailable:
        result = {"part": name, "error": unavailable}
        emit_line(result)
        return result
    logger.info("part %s", name)
    child: Child = python_child(name, module, argv, log_dir, env=env)
    try:
        await child.start(timeout=120)
        event = await child.expect("result", timeout)
        result = {"part": name, **event["result"]}
    except ChildError as exc:
        result = {"part": name, "error": str(exc)}
    finally:
        await child.stop()
    emit_line(result)
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    if args.list:
        for scenario in broadcast.scenarios():
            print(f"{scenario.name:30} {scenario.label}")
        return
    results = asyncio.run(run(args))
    results["machine"] = machine.facts()
    if args.quick:
        from bench import summary

        sys.stderr.write("\n" + summary.table(results) + "\n")
    if args.out is not None:
        from bench import report

        written = report.write(results, args.out)
        for path in written:
            logger.info("wrote %s", path)


if __name__ == "__main__":
    main()
