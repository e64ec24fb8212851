"""Turns one run's results into ``RESULTS.md``, ``results/latest.json`` and the latency plot.

Every figure written here comes from the run's results; the only constants are the
published AWS prices, stated in the text they produce, and the cost model of API calls
(ours and the Node SQS adapter's design, PROTOCOL.md §2, §3.1) of
:mod:`socketio_cloud.brokers.aws`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from socketio_cloud.brokers.aws import DEFAULT_LIVENESS_INTERVAL, node_design_costs, our_costs

# Published AWS prices, us-east-1 (standard topics and queues), USD per request.
SNS_PUBLISH_PRICE = 0.50 / 1e6  # per 64 KB chunk of published payload
SQS_REQUEST_PRICE = 0.40 / 1e6  # per 64 KB chunk, after the free tier
HOURS_PER_MONTH = 730
QUIET_LOAD = 1.5

# Targets from the project brief (receiving node, 200 websocket clients, 2 cores).
TARGET_BURST_US = 15.0
TARGET_STEADY_US = 60.0
TARGET_P99_MS = 30.0
BRIEF_REFERENCE = {
    "pysio-redis": {"burst_us": 77, "steady_us": 101, "p50_ms": 19, "p99_ms": 69},
    "node": {"burst_us": 7, "steady_us": "20-24", "p50_ms": 11, "p99_ms": 21},
}


def node_design(nodes: int, batch: float = 1.0) -> dict[str, float]:
    """API calls of the Node SQS adapter's design for a cluster of ``nodes``
    (:func:`socketio_cloud.brokers.aws.node_design_costs`).

    ``batch``: messages returned per ReceiveMessage (1 when traffic is light, up to 10).
    """
    costs = node_design_costs(nodes, batch=batch)
    return {
        "per_broadcast": costs.per_broadcast,
        "per_request": costs.per_request,
        "per_idle_node_hour": costs.per_idle_node_hour,
        "publish_per_idle_node_hour": costs.idle_publish,
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _by(results: list[dict[str, Any]], scenario: str, regime: str) -> dict[str, Any] | None:
    for result in results:
        if result.get("scenario") == scenario and result.get("regime") == regime:
            return result
    return None


def _ok(result: dict[str, Any] | None) -> bool:
    return result is not None and "error" not in result


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------------------- sections


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    run = results["run"]
    py = m["python_packages"]
    npm = m["node_packages"]
    lines = [
        "## Machine and software",
        "",
        f"- {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}",
        f"- Python {m['python']}, Node {m['node']}, Redis {m['redis_server']}, "
        f"RabbitMQ {m['rabbitmq'] or 'unknown'}",
        "- Python packages: " + ", ".join(f"{k} {v}" for k, v in py.items() if v),
        "- npm packages: " + ", ".join(f"{k} {v}" for k, v in npm.items() if v),
        f"- load average (1, 5, 15 min) before the run: {run['load_before']}, after: "
        f"{run.get('load_after')}; waited {run.get('waited_for_quiet_s', 0)} s for a quiet "
        "machine",
    ]
    if run["load_before"][0] >= QUIET_LOAD:
        lines.append(
            f"- **The machine was not quiet** (1-min load {run['load_before'][0]} ≥ "
            f"{QUIET_LOAD}): other work shared the 2 cores, so CPU per delivery and latencies "
            "are pessimistic."
        )
    return lines


def _broadcast_rows(results: list[dict[str, Any]], regime: str) -> list[list[str]]:
    rows = []
    for result in results:
        if result.get("regime") != regime:
            continue
        label = f"`{result['scenario']}`"
        if "error" in result:
            rows.append([label, f"error: {result['error'][:120]}"] + [""] * 10)
            continue
        latency = result["latency_ms"]
        cpu = result["cpu_s"]
        rows.append(
            [
                label,
                _fmt(result["events_per_s"]),
                _fmt(result["deliveries_per_s"]),
                _fmt(result["send_events_per_s"]),
                _fmt(latency["p50"]),
                _fmt(latency["p90"]),
                _fmt(latency["p99"]),
                f"{result['lost']} / {result['duplicates']}",
                _fmt(cpu.get("receiver"), 2),
                _fmt(cpu.get("sender"), 2),
                _fmt(cpu.get("clients"), 2),
                f"**{_fmt(result['cpu_us_per_delivery'])}**",
            ]
        )
    return rows


STACK_NAMES = {
    "uvicorn": "uvicorn, permessage-deflate off",
    "uvicorn-deflate": "uvicorn, permessage-deflate on (uvicorn's default)",
    "aiohttp": "aiohttp (compresses whenever the client offers it)",
}

BROADCAST_HEADER = [
    "system",
    "events/s",
    "deliveries/s",
    "sent/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "lost / dup",
    "recv CPU s",
    "send CPU s",
    "clients CPU s",
    "µs CPU / delivery",
]


def _broadcast(results: dict[str, Any]) -> list[str]:
    run = results["run"]
    rows = results["broadcast"]
    lines = [
        "## Broadcast: one node sends, another delivers to its websocket clients",
        "",
        f"{run['clients']} Node `socket.io-client` websocket clients in {run['client_procs']} "
        "processes, all on the receiving node; the sending node has none. Each node is its own "
        "process. An event carries its sequence number and send time (epoch ms); clients "
        "compute receive - send on the same clock, and count lost and duplicated sequence "
        "numbers exactly. *events/s*: events every client received per second, from the "
        "first send to the last receipt; *sent/s*: the sender's own rate; CPU seconds from "
        "psutil over the phase; *µs CPU / delivery* = receiving-node CPU / deliveries. "
        "Raw-broker rows have one subscriber, so a delivery is one message.",
        "",
        f"### Steady: {run['steady']['events']} events at {run['steady']['rate']:g} events/s",
        "",
        *_table(BROADCAST_HEADER, _broadcast_rows(rows, "steady")),
        "",
        f"### Burst: {run['burst']['events']} events at full rate",
        "",
        "The sender emits as fast as it can (Python: awaiting each emit; Node: without "
        "waiting). Latency then includes the queue built up behind the slowest stage.",
        "",
        *_table(BROADCAST_HEADER, _broadcast_rows(rows, "burst")),
        "",
    ]
    notes = sorted({f"`{r['scenario']}`: {r['note']}" for r in rows if r.get("note")})
    if notes:
        lines += ["Notes: " + "; ".join(notes) + ".", ""]
    rss = [
        f"`{r['scenario']}` {r['rss_per_client_kb']} KiB"
        for r in rows
        if r.get("regime") == "steady" and r.get("rss_per_client_kb") is not None
    ]
    if rss:
        lines += [
            "Receiving-node memory per websocket client (RSS growth while the clients "
            "connected / clients): " + ", ".join(rss) + ".",
            "",
        ]
    lines += _fanout(results) + _stacks(results) + _observations(rows) + _overhead(rows)
    lines += ["![latency](results/latency.png)", ""]
    return lines


FANOUT_ROWS = (
    (
        "ours-redis-streams-uvicorn-tasks",
        "ours, `tasks`: python-socketio's fan-out, one task per client",
    ),
    (
        "ours-redis-streams-uvicorn-queue",
        "ours, `queue`: one encoded packet into each Engine.IO queue (previous default)",
    ),
    (
        "ours-redis-streams-uvicorn",
        "ours, `auto` (default): one prebuilt frame written to idle connections",
    ),
    ("pysio-redis", "python-socketio `AsyncRedisManager`"),
    ("pysio-aiopika", "python-socketio `AsyncAioPikaManager`"),
    ("node-redis-streams", "Node + `@socket.io/redis-streams-adapter`"),
    ("node-redis-adapter", "Node + `@socket.io/redis-adapter`"),
)
FANOUT_BASELINE = "ours-redis-streams-uvicorn-tasks"


def _fanout(results: dict[str, Any]) -> list[str]:
    """Before/after of the local fan-out on one stack, next to the peers."""
    rows = results["broadcast"]
    if not any(_ok(_by(rows, name, "steady")) for name, _ in FANOUT_ROWS[:3]):
        return []
    run = results["run"]
    lines = [
        "### Fan-out, before and after",
        "",
        "Our `RedisStreamsManager` on uvicorn + uvloop (permessage-deflate off), the same "
        "node with each of `ClusterManager`'s fan-outs, next to the peers (python-socketio "
        f"peers on {run.get('preferred_stack', 'uvicorn')}). *vs tasks*: µs CPU per delivery "
        "relative to python-socketio's own fan-out in our manager; *user / system*: the "
        "receiving node's CPU seconds in Python and in the kernel (socket writes, and on "
        "loopback the wake-ups of the clients reading them); *direct frames*: share of "
        "deliveries written as one prebuilt websocket frame (`auto` only; the rest went "
        "through Engine.IO's queue).",
        "",
    ]
    for regime, title in (
        ("steady", f"steady, {run['steady']['rate']:g} events/s"),
        ("burst", f"burst, {run['burst']['events']} events at full rate"),
    ):
        base = _by(rows, FANOUT_BASELINE, regime)
        base_us = base["cpu_us_per_delivery"] if _ok(base) else None  # type: ignore[index]
        table = []
        for name, label in FANOUT_ROWS:
            result = _by(rows, name, regime)
            if result is None:
                continue
            if not _ok(result):
                table.append([label, f"error: {result['error'][:80]}"] + [""] * 7)
                continue
            us = result["cpu_us_per_delivery"]
            direct = result.get("direct_frames")
            share = (
                f"{100 * direct / result['deliveries']:.0f} %"
                if direct is not None and result["deliveries"]
                else "-"
            )
            relative = f"{us / base_us:.2f}x" if us and base_us and name.startswith("ours") else ""
            cpu = result["cpu_s"]
            split = "-"
            if cpu.get("receiver_user") is not None:
                split = f"{_fmt(cpu['receiver_user'], 2)} / {_fmt(cpu['receiver_system'], 2)}"
            table.append(
                [
                    label,
                    f"**{_fmt(us)}**",
                    relative,
                    split,
                    _fmt(cpu.get("clients"), 2),
                    _fmt(result["latency_ms"]["p50"]),
                    _fmt(result["latency_ms"]["p99"]),
                    _fmt(result["events_per_s"]),
                    share if name.startswith("ours") else "",
                ]
            )
        lines += [
            f"**{title}**",
            "",
            *_table(
                [
                    "system",
                    "µs CPU / delivery",
                    "vs tasks",
                    "recv CPU s user / system",
                    "clients CPU s",
                    "p50 ms",
                    "p99 ms",
                    "events/s",
                    "direct frames",
                ],
                table,
            ),
            "",
        ]
    return lines + _fanout_comparison(rows)


def _fanout_comparison(rows: list[dict[str, Any]]) -> list[str]:
    """One line per regime: the default fan-out against the previous one, from the run."""
    lines = []
    for regime in ("steady", "burst"):
        auto = _by(rows, "ours-redis-streams-uvicorn", regime)
        queue = _by(rows, "ours-redis-streams-uvicorn-queue", regime)
        if not (_ok(auto) and _ok(queue)):
            continue
        assert auto is not None and queue is not None
        a_us, q_us = auto["cpu_us_per_delivery"], queue["cpu_us_per_delivery"]
        if not (a_us and q_us):
            continue
        verdict = "cheaper" if a_us < q_us else "dearer"
        text = (
            f"- {regime}: `auto` is {verdict} than `queue`, {_fmt(a_us)} vs {_fmt(q_us)} µs "
            f"per delivery ({(a_us / q_us - 1) * 100:+.0f} %)"
        )
        a_cpu, q_cpu = auto["cpu_s"], queue["cpu_s"]
        if a_cpu.get("receiver_system") is not None and q_cpu.get("receiver_system"):
            text += (
                f"; receiving node user {_fmt(a_cpu['receiver_user'], 2)} vs "
                f"{_fmt(q_cpu['receiver_user'], 2)} s, system "
                f"{_fmt(a_cpu['receiver_system'], 2)} vs {_fmt(q_cpu['receiver_system'], 2)} s; "
                f"clients {_fmt(a_cpu.get('clients'), 2)} vs {_fmt(q_cpu.get('clients'), 2)} s"
            )
        lines.append(text + ".")
    return [*lines, ""] if lines else []


def _stacks(results: dict[str, Any]) -> list[str]:
    rows = results["broadcast"]
    out = []
    for stack in ("uvicorn", "uvicorn-deflate", "aiohttp"):
        steady = _by(rows, f"ours-redis-streams-{stack}", "steady")
        burst = _by(rows, f"ours-redis-streams-{stack}", "burst")
        if _ok(steady) and _ok(burst):
            assert steady is not None and burst is not None
            out.append(
                [
                    f"{STACK_NAMES.get(stack, stack)} + uvloop",
                    _fmt(steady["cpu_us_per_delivery"]),
                    _fmt(burst["cpu_us_per_delivery"]),
                    _fmt(steady["rss_per_client_kb"]),
                ]
            )
    if not out:
        return []
    preferred = results["run"].get("preferred_stack", "uvicorn")
    return [
        "### Server stack for our manager",
        "",
        *_table(["stack", "steady µs/delivery", "burst µs/delivery", "KiB/client"], out),
        "",
        f"Our manager with its default fan-out (`auto`; on the stacks with "
        "permessage-deflate it cannot share a frame and uses Engine.IO's queue). Cheaper per "
        f"delivery (sum of both regimes): **{preferred}**; the python-socketio peers and the "
        "AWS scenario ran on it.",
        "",
    ]


def _observations(rows: list[dict[str, Any]]) -> list[str]:
    """Figures that explain the tables: compression, and where a burst queued up."""
    lines = []
    for regime in ("steady", "burst"):
        plain = _by(rows, "ours-redis-streams-uvicorn", regime)
        deflate = _by(rows, "ours-redis-streams-uvicorn-deflate", regime)
        if _ok(plain) and _ok(deflate):
            assert plain is not None and deflate is not None
            lines.append(
                f"- websocket compression ({regime}): permessage-deflate costs the receiving "
                f"node {_fmt(deflate['cpu_us_per_delivery'])} instead of "
                f"{_fmt(plain['cpu_us_per_delivery'])} µs per delivery, and the clients "
                f"{_fmt(deflate['cpu_s'].get('clients'), 2)} instead of "
                f"{_fmt(plain['cpu_s'].get('clients'), 2)} CPU s (browsers offer it; Node's "
                "socket.io server declines it by default)."
            )
    for result in rows:
        if result.get("regime") != "burst" or not _ok(result) or result["clients"] < 2:
            continue
        sent, got = result["send_events_per_s"], result["events_per_s"]
        if sent and got and sent > 1.5 * got:
            lines.append(
                f"- `{result['scenario']}` burst: sent {_fmt(sent)} events/s, delivered "
                f"{_fmt(got)}/s: the receiving side (node and clients share 2 cores) is the "
                "bottleneck."
            )
        elif sent and got:
            lines.append(
                f"- `{result['scenario']}` burst: the sender ({_fmt(sent)} events/s) set the pace."
            )
    if not lines:
        return []
    return ["### Observations", "", *lines, ""]


def _overhead(rows: list[dict[str, Any]]) -> list[str]:
    pairs = [
        ("ours-redis-streams-uvicorn", "raw-redis-streams"),
        ("ours-redis-streams-aiohttp", "raw-redis-streams"),
        ("node-redis-streams", "raw-redis-streams"),
        ("pysio-redis", "raw-redis-pubsub"),
        ("node-redis-adapter", "raw-redis-pubsub"),
    ]
    table = []
    for system, raw in pairs:
        steady, raw_steady = _by(rows, system, "steady"), _by(rows, raw, "steady")
        burst, raw_burst = _by(rows, system, "burst"), _by(rows, raw, "burst")
        if not all(_ok(x) for x in (steady, raw_steady, burst, raw_burst)):
            continue
        assert steady and raw_steady and burst and raw_burst

        def ratio(a: float | None, b: float | None) -> str:
            return f"{a / b:.1f}x" if a and b else "-"

        table.append(
            [
                f"`{system}` / `{raw}`",
                ratio(steady["latency_ms"]["p50"], raw_steady["latency_ms"]["p50"]),
                ratio(steady["latency_ms"]["p99"], raw_steady["latency_ms"]["p99"]),
                ratio(raw_burst["events_per_s"], burst["events_per_s"]),
                ratio(burst["cpu_s"]["receiver"], raw_burst["cpu_s"]["receiver"]),
            ]
        )
    if not table:
        return []
    return [
        "### Adapter overhead, as a ratio to the raw broker",
        "",
        "Same event count and payload through the broker alone (Node redis client, one "
        "subscriber). Latency ratios are adapter / raw; the burst rate ratio is raw / "
        "adapter (how many times faster the bare broker path drains the same burst); the "
        "CPU ratio compares the receiving node (which also writes to every websocket) with "
        "the raw subscriber.",
        "",
        *_table(
            [
                "pair",
                "steady p50",
                "steady p99",
                "burst events/s (raw faster by)",
                "burst recv CPU",
            ],
            table,
        ),
        "",
    ]


def _targets(results: dict[str, Any]) -> list[str]:
    rows = results["broadcast"]
    preferred = results["run"].get("preferred_stack", "uvicorn")
    ours_name = f"ours-redis-streams-{preferred}"
    ours_burst, ours_steady = _by(rows, ours_name, "burst"), _by(rows, ours_name, "steady")
    node_burst, node_steady = (
        _by(rows, "node-redis-streams", "burst"),
        _by(rows, "node-redis-streams", "steady"),
    )
    py_burst, py_steady = _by(rows, "pysio-redis", "burst"), _by(rows, "pysio-redis", "steady")

    def us(result: dict[str, Any] | None) -> float | None:
        return result["cpu_us_per_delivery"] if _ok(result) else None  # type: ignore[index]

    def p(result: dict[str, Any] | None, q: str) -> float | None:
        return result["latency_ms"][q] if _ok(result) else None  # type: ignore[index]

    def verdict(value: float | None, limit: float | None) -> str:
        if value is None or limit is None:
            return "not measured"
        return "**met**" if value <= limit else "**not met**"

    lines = [
        "## Targets",
        "",
        f"Ours = `{ours_name}` (the preferred stack). Brief's reference figures on this kind "
        "of machine: python-socketio's Redis manager ~77 µs (burst) / ~101 µs (steady), p50 "
        "19 ms, p99 69 ms; Node's adapters ~7 / ~20-24 µs, p50 11 ms, p99 21 ms.",
        "",
    ]
    table = [
        [
            "burst µs CPU / delivery ≤ 15",
            _fmt(us(ours_burst)),
            verdict(us(ours_burst), TARGET_BURST_US),
        ],
        [
            "steady (20/s) µs CPU / delivery ≤ 60",
            _fmt(us(ours_steady)),
            verdict(us(ours_steady), TARGET_STEADY_US),
        ],
        [
            "steady p99 ≤ 30 ms",
            _fmt(p(ours_steady, "p99")),
            verdict(p(ours_steady, "p99"), TARGET_P99_MS),
        ],
        [
            "Node parity, burst µs (Node streams adapter measured)",
            f"{_fmt(us(ours_burst))} vs {_fmt(us(node_burst))}",
            verdict(us(ours_burst), us(node_burst)),
        ],
        [
            "Node parity, steady µs",
            f"{_fmt(us(ours_steady))} vs {_fmt(us(node_steady))}",
            verdict(us(ours_steady), us(node_steady)),
        ],
        [
            "Node parity, steady p50 / p99 ms",
            f"{_fmt(p(ours_steady, 'p50'))} / {_fmt(p(ours_steady, 'p99'))} vs "
            f"{_fmt(p(node_steady, 'p50'))} / {_fmt(p(node_steady, 'p99'))}",
            verdict(p(ours_steady, "p99"), p(node_steady, "p99")),
        ],
        [
            "reference: python-socketio Redis manager here (burst / steady µs, p50 / p99 ms)",
            f"{_fmt(us(py_burst))} / {_fmt(us(py_steady))}, "
            f"{_fmt(p(py_steady, 'p50'))} / {_fmt(p(py_steady, 'p99'))}",
            "",
        ],
    ]
    for measured in _cost_runs(results):
        nodes = measured["nodes"]
        design = node_design(nodes)
        steady = measured.get("broadcast_steady")
        if steady:
            ours_b = steady["calls_per"] / 1000
            table.append(
                [
                    f"AWS calls per broadcast ≤ ½ Node design ({nodes} nodes, light traffic)",
                    f"{ours_b:.2f} vs {design['per_broadcast']:.0f}",
                    verdict(ours_b, design["per_broadcast"] / 2),
                ]
            )
        ours_idle = _ours_idle_per_node_hour(measured)
        table.append(
            [
                f"AWS calls per idle node-hour ≤ ½ Node design ({nodes} nodes)",
                f"{ours_idle:,.0f} vs {design['per_idle_node_hour']:,.0f}",
                verdict(ours_idle, design["per_idle_node_hour"] / 2),
            ]
        )
    lines += _table(["target", "measured", "status"], table)
    lines.append("")
    return lines


def _sending_targets(results: dict[str, Any]) -> list[str]:
    """The targets of the sending side, first delivery, AWS publishing and scale (one run)."""
    rows = results.get("broadcast") or []
    ours, queued = "ours-redis-streams-uvicorn", "ours-redis-streams-uvicorn-queued"
    before, node, pysio = "ours-redis-streams-uvicorn-before", "node-redis-streams", "pysio-redis"

    def get(scenario: str, regime: str, *path: str) -> float | None:
        value: Any = _by(rows, scenario, regime)
        if not _ok(value):
            return None
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return float(value) if isinstance(value, int | float) else None

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("**met**" if ok else "**not met**")

    def at_least(value: float | None, limit: float | None) -> bool | None:
        return None if value is None or limit is None else value >= limit

    def at_most(value: float | None, limit: float | None) -> bool | None:
        return None if value is None or limit is None else value <= limit

    sent_q = get(queued, "burst", "send_events_per_s")
    flushed_q = get(queued, "burst", "flushed_events_per_s")
    sent_node = get(node, "burst", "send_events_per_s")
    cpu_q, cpu_node = get(queued, "burst", "cpu_us_per_sent"), get(node, "burst", "cpu_us_per_sent")
    # like with like: the default sender awaits each emit, as "before" did; a queued
    # sender hands the receiver its burst ten times faster
    recv_b, recv_before = (
        get(ours, "burst", "cpu_us_per_delivery"),
        get(before, "burst", "cpu_us_per_delivery"),
    )
    recv_s, recv_s_before = (
        get(ours, "steady", "cpu_us_per_delivery"),
        get(before, "steady", "cpu_us_per_delivery"),
    )
    first, first_node = (
        get(ours, "steady", "first_latency_ms", "p50"),
        get(node, "steady", "first_latency_ms", "p50"),
    )
    table = [
        [
            "burst send rate ≥ Node's (queued_emits: emits returned / at Redis)",
            f"{_fmt(sent_q, 0)} / {_fmt(flushed_q, 0)} vs Node {_fmt(sent_node, 0)} "
            f"(before {_fmt(get(before, 'burst', 'send_events_per_s'), 0)}, awaited emits "
            f"{_fmt(get(ours, 'burst', 'send_events_per_s'), 0)})",
            verdict(at_least(sent_q, sent_node)),
        ],
        [
            "sender CPU per published event ≤ Node's (µs)",
            f"{_fmt(cpu_q, 0)} vs Node {_fmt(cpu_node, 0)} "
            f"(before {_fmt(get(before, 'burst', 'cpu_us_per_sent'), 0)}, awaited emits "
            f"{_fmt(get(ours, 'burst', 'cpu_us_per_sent'), 0)})",
            verdict(at_most(cpu_q, cpu_node)),
        ],
        [
            "receiving node no worse (µs CPU per delivery, burst / steady; within 10 %)",
            f"{_fmt(recv_b)} / {_fmt(recv_s)} vs before {_fmt(recv_before)} / "
            f"{_fmt(recv_s_before)} (behind the queued sender: "
            f"{_fmt(get(queued, 'burst', 'cpu_us_per_delivery'))} / "
            f"{_fmt(get(queued, 'steady', 'cpu_us_per_delivery'))})",
            verdict(
                None
                if recv_before is None or recv_s_before is None
                else bool(
                    at_most(recv_b, recv_before * 1.1) and at_most(recv_s, recv_s_before * 1.1)
                )
            ),
        ],
        [
            "first delivery p50 at 20/s ≤ Node's (ms)",
            f"{_fmt(first, 2)} vs Node {_fmt(first_node, 2)} (before "
            f"{_fmt(get(before, 'steady', 'first_latency_ms', 'p50'), 2)}, raw XADD→XREAD: "
            f"Node client {_fmt(get('raw-redis-streams', 'steady', 'first_latency_ms', 'p50'), 2)}"
            ", redis-py "
            f"{_fmt(get('raw-redis-streams-python', 'steady', 'first_latency_ms', 'p50'), 2)}; "
            f"python-socketio {_fmt(get(pysio, 'steady', 'first_latency_ms', 'p50'), 2)})"
            + _paired_first_delivery(results, ours, node),
            *_first_delivery_verdict(results, ours, node, first, first_node, get, verdict),
        ],
    ]
    latency = (results.get("aws_latency") or {}).get("settings") or []
    if len(latency) >= 2:
        old, new = latency[0], latency[-1]
        table += [
            [
                f"AWS, {results['aws_latency']['delay_ms']:g} ms per request: handler emit "
                "loop (events/s)",
                f"{_fmt(old['handler_loop_events_per_s'])} → "
                f"{_fmt(new['handler_loop_events_per_s'])}",
                "",
            ],
            [
                "AWS: burst, events/s at SNS",
                f"{_fmt(old['burst_flushed_events_per_s'])} → "
                f"{_fmt(new['burst_flushed_events_per_s'])}",
                "",
            ],
            [
                "AWS: SNS publish calls per 1,000 bursty broadcasts",
                f"{_fmt(old['publish_calls_per_1000'], 0)} → "
                f"{_fmt(new['publish_calls_per_1000'], 0)}",
                "",
            ],
        ]
    scale = results.get("scale") or {}
    node_scale = scale.get("node") or {}

    def median(measured: dict[str, Any], key: str) -> float | None:
        value = (measured.get(key) or {}).get("median_s")
        return float(value) if isinstance(value, int | float) else None

    fetch_all, fetch_all_node = (
        median(scale, "fetch_sockets_all"),
        median(node_scale, "fetch_sockets_all"),
    )
    room = median(scale, "fetch_sockets_room")
    ack, ack_node = (
        median(scale, "broadcast_with_ack_all"),
        median(node_scale, "broadcast_with_ack_all"),
    )
    ack_frozen = median(scale.get("ours-gc-frozen") or {}, "broadcast_with_ack_all")
    floor = ((scale.get("floor") or {}).get("ack_local") or {}).get("median_s")
    cores = (results.get("machine") or {}).get("nproc") or 1
    # every node does at least python-socketio's own work for its sockets: on this machine's
    # cores, the nodes' floors cannot all run at once
    floor_cluster = None if floor is None else floor * max(1.0, scale.get("nodes", 3) / cores)
    if scale and "error" not in scale:
        table += [
            [
                "scale: fetch_sockets() of all ≤ Node's and < 0.5 s",
                f"{_fmt(fetch_all, 3)} s vs Node {_fmt(fetch_all_node, 3)} s",
                verdict(
                    None
                    if fetch_all is None
                    else (fetch_all < 0.5 and (at_most(fetch_all, fetch_all_node) is not False))
                ),
            ],
            [
                "scale: fetch_sockets(room of 1 %) < 20 ms",
                f"{_fmt(None if room is None else room * 1000, 1)} ms vs Node "
                f"{_fmt(None if median(node_scale, 'fetch_sockets_room') is None else median(node_scale, 'fetch_sockets_room') * 1000, 1)} ms",  # noqa: E501
                verdict(None if room is None else room < 0.020),
            ],
            [
                "scale: emit_with_ack to all ≤ Node's",
                f"{_fmt(ack, 3)} s vs Node {_fmt(ack_node, 3)} s"
                + ("" if ack_frozen is None else f" (with `gc.freeze()` {ack_frozen:.3f} s)")
                + (
                    ""
                    if floor is None or floor_cluster is None
                    else f"; floor: python-socketio alone takes {floor:.3f} s for one node's "
                    f"sockets, {floor_cluster:.3f} s for {scale.get('nodes', 3)} nodes on "
                    f"{cores} cores"
                ),
                verdict(at_most(ack, ack_node))
                + (
                    " (Node's time is below python-socketio's floor; ours is "
                    f"{(ack or 0.0) / (floor_cluster or 1.0):.2f} times the floor)"
                    if floor_cluster is not None
                    and ack_node is not None
                    and floor_cluster > ack_node
                    and not at_most(ack, ack_node)
                    else ""
                ),
            ],
        ]
    return [
        "## Targets: the sending node, first delivery, AWS publishing, scale",
        "",
        "Measured in this run, beside the peers. *before*: our node with the sending-side "
        "levers taken away (`ours-redis-streams-uvicorn-before`: redis-py's pure-Python "
        "reply parser, own entries decoded, one awaited XADD per emit). The transport parses "
        "replies with hiredis only where redis-py itself would, so with redis-py's Python "
        "parser the `-before` node's stream readers go through redis-py's reading path as "
        "the first release's did: *receiving node no worse* compares today's receiving "
        "path with that one (the note on the previous code, at the end, compares the code "
        "itself). With "
        "`queued_emits=True` an emit returns once the message is queued in order for the "
        "broker, as Node's `io.emit()` does; the default keeps `await sio.emit()` waiting "
        "for Redis (see *Sending node* below).",
        "",
        *_table(["target", "measured", "status"], table),
        "",
        *_first_delivery(results),
    ]


def _pairs_of(results: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The interleaved first-delivery runs by their systems (those that ran)."""
    paired = results.get("first_delivery_paired") or {}
    return {
        tuple(pair.get("systems") or ()): pair
        for pair in paired.get("pairs") or []
        if "error" not in pair and pair.get("first_p50_ms")
    }


def _paired_p50s(pair: dict[str, Any] | None) -> tuple[float | None, float | None]:
    if not pair:
        return None, None
    first, second = pair["systems"]
    values = pair["first_p50_ms"]
    return values.get(first), values.get(second)


_RAW_PAIR = ("raw-redis-streams-python", "raw-redis-streams")


def _paired_first_delivery(results: dict[str, Any], ours: str, node: str) -> str:
    pairs = _pairs_of(results)
    pair = pairs.get((ours, node))
    mine, theirs = _paired_p50s(pair)
    if pair is None or mine is None or theirs is None:
        return ""

    def per_round(name: str) -> str:
        return ", ".join(
            f"{(r.get(name) or {}).get('first_p50_ms', 0):.2f}" for r in pair.get("rounds") or []
        )

    text = (
        f". Interleaved in one run ({len(pair.get('rounds') or [])} rounds of "
        f"{pair.get('events')} events each, the two systems' events taking turns): "
        f"{mine:.2f} vs Node {theirs:.2f} (per round: ours {per_round(ours)}; Node "
        f"{per_round(node)}); per event, ours minus Node: median "
        f"{pair.get('median_difference_ms', 0):+.2f} ms, ours first in "
        f"{100 * (pair.get('first_faster_share') or 0):.0f} % of {pair.get('paired_events')}"
    )
    raw_python, raw_node = _paired_p50s(pairs.get(_RAW_PAIR))
    if raw_python is not None and raw_node is not None:
        text += (
            f"; raw XADD→XREAD interleaved the same way: redis-py {raw_python:.2f} vs Node "
            f"client {raw_node:.2f}"
        )
    return text


def _first_delivery_verdict(
    results: dict[str, Any],
    ours: str,
    node: str,
    first: float | None,
    first_node: float | None,
    get: Callable[..., float | None],
    verdict: Callable[[bool | None], str],
) -> list[str]:
    """The status: on the interleaved run when the run has one (one run after the other
    moves by as much as the two differ), else on the single runs."""
    pairs = _pairs_of(results)
    mine, theirs = _paired_p50s(pairs.get((ours, node)))
    if mine is not None and theirs is not None:
        raw_python, raw_node = _paired_p50s(pairs.get(_RAW_PAIR))
        floor = (
            ""
            if raw_node is None or raw_python is None or mine <= theirs
            else " (the gap is within the raw XADD→XREAD difference between the two clients)"
            if mine - theirs <= raw_python - raw_node
            else " (the gap is more than the raw XADD→XREAD difference, "
            f"{raw_python - raw_node:.2f} ms)"
        )
        return [verdict(mine <= theirs) + " (on the interleaved run)" + floor]
    ok = None if first is None or first_node is None else first <= first_node
    return [verdict(ok) + _within_client_floor(first, first_node, get)]


def _within_client_floor(
    first: float | None, first_node: float | None, get: Callable[..., float | None]
) -> str:
    """Whether what our first delivery lacks to Node's is no more than what the broker hop
    alone costs more from Python (redis-py) than from Node's client, measured in the run."""
    raw_node = get("raw-redis-streams", "steady", "first_latency_ms", "p50")
    raw_python = get("raw-redis-streams-python", "steady", "first_latency_ms", "p50")
    if None in (first, first_node, raw_node, raw_python):
        return ""
    assert first is not None and first_node is not None
    assert raw_node is not None and raw_python is not None
    if first <= first_node or first - first_node > raw_python - raw_node:
        return ""
    return " (the gap is within the raw XADD→XREAD difference between the two clients)"


def _first_delivery(results: dict[str, Any]) -> list[str]:
    stages = results.get("first_delivery")
    if not stages or "error" in stages:
        return []
    return [
        "Where a first delivery's time goes (`python -m bench.first_delivery`: two of our "
        f"nodes in one process, one loopback client, {stages['events']} events at "
        f"{stages['rate']:g}/s; p50 / p90 ms): `emit` until Redis answered the XADD "
        f"{stages['publish_ms']['p50']} / {stages['publish_ms']['p90']}; `emit` until the "
        "receiving node's reader handed the entry to the core (XADD, XREAD wake-up, "
        f"decoding) {stages['emit_to_received_ms']['p50']} / "
        f"{stages['emit_to_received_ms']['p90']}; from there to the client's queue (the "
        f"fan-out turn) {stages['received_to_client_queue_ms']['p50']} / "
        f"{stages['received_to_client_queue_ms']['p90']}."
        + (
            f" Alone on the loop, our transport's publish takes "
            f"{stages['publish_alone_ms']['p50']} ms (p50) against "
            f"{stages['xadd_alone_ms']['p50']} ms for redis-py's bare XADD."
            if "publish_alone_ms" in stages
            else ""
        ),
        "",
    ]


def _cost_runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The AWS cost measurements that succeeded, one per cluster size, smallest first."""
    runs = [results.get("cost"), *(results.get("cost_more_nodes") or [])]
    return sorted((r for r in runs if r and "error" not in r), key=lambda r: int(r["nodes"]))


def _ours_idle_per_node_hour(cost: dict[str, Any]) -> float:
    """Measured idle calls per node-hour, with the liveness refresh at its scheduled rate
    (every 5 minutes: rarely inside a 60 s window)."""
    per = dict(cost["idle"]["per_node_hour"])
    per.pop("sqs:TagQueue", None)
    per.pop("sns:GetSubscriptionAttributes", None)
    return float(sum(per.values()) + cost["idle"]["liveness_per_node_hour"])


def ours_idle_formula(nodes: int, settings: dict[str, Any], liveness: float) -> dict[str, float]:
    """Our idle calls per node-hour for a cluster of ``nodes`` with the run's transport
    settings (:func:`socketio_cloud.brokers.aws.our_costs`), the liveness calls as measured.
    """
    costs = our_costs(
        nodes,
        heartbeat_interval=settings["heartbeat_interval_s"],
        wait_time=settings["wait_time_s"],
        delete_delay=settings["delete_delay_s"],
        idle_coalesce=settings.get("idle_coalesce_s") or 0.0,
        liveness_interval=settings.get("liveness_interval_s") or DEFAULT_LIVENESS_INTERVAL,
    )
    publish, receive, delete = costs.idle_publish, costs.idle_receive, costs.idle_delete
    return {
        "publish": publish,
        "receive": receive,
        "delete": delete,
        "liveness": liveness,
        # TagQueue is an SQS request, GetSubscriptionAttributes an SNS one
        "sqs": receive + delete + liveness / 2,
        "sns": publish + liveness / 2,
        "total": publish + receive + delete + liveness,
    }


def _cost(results: dict[str, Any]) -> list[str]:
    cost = results.get("cost")
    if not cost:
        return []
    if "error" in cost:
        return ["## AWS cost", "", f"Not measured: {cost['error']}", ""]
    nodes = cost["nodes"]
    design = node_design(nodes)
    design_batched = node_design(nodes, batch=10)
    settings = cost["settings"]
    checked = results["run"]["started"].split(" ")[0]

    def ops(calls: dict[str, int]) -> str:
        return ", ".join(f"{op.split(':')[1]} {n}" for op, n in sorted(calls.items()))

    phases: list[tuple[dict[str, Any], str, str, float, float | None]] = []
    for measured in _cost_runs(results):
        n = measured["nodes"]
        steady_phase = measured.get("broadcast_steady")
        if steady_phase:
            phases.append(
                (
                    steady_phase,
                    f"1,000 broadcasts at {steady_phase['rate']:g}/s, {n} nodes",
                    "broadcast",
                    node_design(n)["per_broadcast"] * 1000,
                    None,
                )
            )
    for key, label, node_value, node_batched in (
        (
            "broadcast_burst",
            f"1,000 broadcasts at full rate, {nodes} nodes",
            design["per_broadcast"] * 1000,
            design_batched["per_broadcast"] * 1000,
        ),
        ("fetch_sockets", f"one fetch_sockets, {nodes} nodes", design["per_request"], None),
        (
            "server_side_emit_with_ack",
            f"one server_side_emit_with_ack, {nodes} nodes",
            design["per_request"],
            None,
        ),
    ):
        if cost.get(key):
            phases.append((cost[key], label, key, node_value, node_batched))
    measured_rows = []
    for phase, label, _, node_value, node_batched in phases:
        node_text = _fmt(float(node_value))
        if node_batched is not None:
            node_text += f" (≥ {_fmt(float(node_batched))} if every receive got 10)"
        measured_rows.append(
            [
                label,
                f"**{_fmt(float(phase['calls_per']))}**",
                node_text,
                f"{phase['count']} in {phase['seconds']} s: {ops(phase['calls'])}",
            ]
        )
    idle_rows = []
    for measured in _cost_runs(results):
        n = measured["nodes"]
        idle = measured["idle"]
        per = idle["per_node_hour"]
        formula = ours_idle_formula(n, measured["settings"], idle["liveness_per_node_hour"])
        ours_idle = _ours_idle_per_node_hour(measured)
        node_idle = node_design(n)["per_idle_node_hour"]
        idle_rows.append(
            [
                str(n),
                _fmt(per.get("sns:Publish", 0.0)),
                _fmt(per.get("sqs:ReceiveMessage", 0.0)),
                _fmt(per.get("sqs:DeleteMessageBatch", 0.0)),
                _fmt(idle["liveness_per_node_hour"]),
                f"**{_fmt(ours_idle)}**",
                _fmt(formula["total"]),
                _fmt(node_idle),
                f"{node_idle / ours_idle:.1f}x",
            ]
        )
    sizes = ", ".join(str(m["nodes"]) for m in _cost_runs(results))
    lines = [
        "## AWS cost: API calls (our transport on moto vs the Node SQS adapter's design)",
        "",
        f"Clusters of {sizes} `AwsSqsManager` nodes, each cluster in one process on moto, "
        f"production settings: heartbeat every {settings['heartbeat_interval_s']:g} s on a "
        f"shared clock tick, long polls of {settings['wait_time_s']} s, deletes batched by 10 "
        f"or {settings['delete_delay_s']:g} s, idle heartbeats coalesced "
        f"(`idle_coalesce={settings.get('idle_coalesce_s', 0):g}`, "
        f"`idle_after={settings.get('idle_after_s', 0):g}`), SNS filter policy "
        f"{'on' if settings['filter_policy'] else 'OFF'}. Counted by the transports' `stats`; "
        f"the {nodes}-node cluster runs every phase, larger ones the idle and steady phases; "
        "traffic phases are net of the idle rate over their duration (raw counts in "
        "`results/latest.json`).",
        "",
        *_table(["per", "ours (measured)", "Node design", "measured calls"], measured_rows),
        "",
        "### Idle cluster: calls per node-hour",
        "",
        f"Measured over a {cost['idle']['window_s']:g} s window once the queues count as idle, "
        "scaled to a node-hour; the liveness refresh (every "
        f"{settings['liveness_interval_s'] / 60:g} min) is added at its schedule.",
        "",
        *_table(
            [
                "nodes",
                "Publish",
                "ReceiveMessage",
                "DeleteMessageBatch",
                "liveness",
                "ours (measured)",
                "ours (formula)",
                "Node design",
                "Node / ours",
            ],
            idle_rows,
        ),
        "",
        "Node SQS adapter design (PROTOCOL.md §3.1, §2): every message goes to every queue, "
        "the sender's own included (no filter policy); one `ReceiveMessage` (5 s long poll, "
        "up to 10 messages) and one `DeleteMessageBatch` per received batch; heartbeats every "
        "5 s. With N nodes and b messages per receive (1 under light traffic):",
        "",
        "- per broadcast: 1 Publish + N·(1/b ReceiveMessage + 1/b DeleteMessageBatch) = "
        f"1 + 2N/b (N={nodes}, b=1: {design['per_broadcast']:.0f})",
        "- per request with responses (fetch_sockets, server_side_emit with ack): the "
        "request plus N-1 responses, each delivered to all N queues = N·(1 + 2N/b) "
        f"(N={nodes}: {design['per_request']:.0f})",
        "- per idle node-hour: 720 heartbeats published, and 720·N received and deleted "
        f"one by one = 720·(1 + 2N) (N={nodes}: {design['per_idle_node_hour']:,.0f})",
        "",
        "Ours, per idle node-hour: 720 Publish + 720·min(N-1, 2) ReceiveMessage + "
        "~max(120, 72·(N-1)) DeleteMessageBatch + 24 liveness calls. The SNS filter keeps a "
        "node's own heartbeats out of its queue; every node heartbeats on the same clock "
        "tick, and an idle queue waits 0.25 s after the first heartbeat of a tick so that a "
        "second receive takes all the others (for N ≤ 3 that is one receive per other "
        "node, as before); deletes go in batches of 10 messages or every 30 s; TagQueue "
        "and GetSubscriptionAttributes refresh the liveness mark every 5 min. Traffic ends "
        "the coalescing at once, so it never delays a broadcast.",
        "",
    ]
    lines += _money(cost, checked)
    return lines


def _money(cost: dict[str, Any], checked: str) -> list[str]:
    rows = []
    steady = cost["broadcast_steady"]
    measured_nodes = cost["nodes"]
    # ours per broadcast: 1 Publish + per receiving node what was measured per receiver
    publish_share = steady["calls"].get("sns:Publish", 0) / max(1, steady["total"])
    per_broadcast = steady["calls_per"] / 1000
    per_receiver = (per_broadcast * (1 - publish_share)) / (measured_nodes - 1)
    for nodes in (3, 5, 10, 50):
        design = node_design(nodes)
        node_idle = (
            nodes
            * HOURS_PER_MONTH
            * (
                design["publish_per_idle_node_hour"] * SNS_PUBLISH_PRICE
                + (design["per_idle_node_hour"] - design["publish_per_idle_node_hour"])
                * SQS_REQUEST_PRICE
            )
        )
        ours = ours_idle_formula(nodes, cost["settings"], cost["idle"]["liveness_per_node_hour"])
        ours_idle = (
            nodes
            * HOURS_PER_MONTH
            * (ours["sns"] * SNS_PUBLISH_PRICE + ours["sqs"] * SQS_REQUEST_PRICE)
        )
        node_million = 1e6 * (SNS_PUBLISH_PRICE + 2 * nodes * SQS_REQUEST_PRICE)
        ours_million = 1e6 * (SNS_PUBLISH_PRICE + per_receiver * (nodes - 1) * SQS_REQUEST_PRICE)
        rows.append(
            [
                str(nodes),
                f"{design['per_idle_node_hour']:,.0f}",
                f"{ours['total']:,.0f}",
                f"${node_idle:,.2f}",
                f"**${ours_idle:,.2f}**",
                f"${node_million:,.2f}",
                f"**${ours_million:,.2f}**",
            ]
        )
    return [
        "### Dollars per month",
        "",
        "Prices as published by AWS for us-east-1 (standard SNS topic and SQS queue), as "
        f"stated in the project brief; this machine has no Internet access, so they were not "
        f"re-checked on {checked}: SNS Publish $0.50 per million requests (each 64 KB chunk "
        "is a request), SQS $0.40 per million requests after the free tier (first million "
        "per month free; ignored here), SNS→SQS deliveries free. 730 hours per month; "
        "cluster messages are far below 64 KB. Idle = heartbeats, polls, deletes and "
        "liveness, from the formulas above (checked against the measured clusters); per "
        "million broadcasts = light traffic (one message per receive), ours scaled from "
        f"the {measured_nodes}-node {steady['rate']:g}/s measurement.",
        "",
        *_table(
            [
                "nodes",
                "Node design calls / idle node-h",
                "ours calls / idle node-h",
                "Node design idle $/month",
                "ours idle $/month",
                "Node design $ / 1M broadcasts",
                "ours $ / 1M broadcasts",
            ],
            rows,
        ),
        "",
    ]


SENDER_ROWS = (
    (
        "ours-redis-streams-uvicorn-before",
        "before: pure-Python parser, own entries decoded, one XADD per emit",
    ),
    ("ours-redis-streams-uvicorn-hiredis", "+ hiredis"),
    ("ours-redis-streams-uvicorn-own-skip", "+ own entries skipped before decoding"),
    ("ours-redis-streams-uvicorn", "+ pipelined publishing (default: awaited emits)"),
    ("ours-redis-streams-uvicorn-queued", "+ queued_emits=True"),
    ("node-redis-streams", "Node socket.io + redis-streams-adapter"),
    ("pysio-redis", "python-socketio AsyncRedisManager"),
    ("raw-redis-streams", "raw XADD -> XREAD, Node client (the broker's floor)"),
    ("raw-redis-streams-python", "raw XADD -> XREAD, redis-py (the broker's floor from Python)"),
)


def _sender(results: dict[str, Any]) -> list[str]:
    """The sending node, lever by lever, beside the peers (one run)."""
    rows = []
    broadcast = results.get("broadcast") or []
    for scenario, label in SENDER_ROWS:
        burst = _by(broadcast, scenario, "burst")
        steady = _by(broadcast, scenario, "steady")
        if not _ok(burst) and not _ok(steady):
            continue
        burst = burst if _ok(burst) else {}
        steady = steady if _ok(steady) else {}
        rows.append(
            [
                f"`{scenario}`: {label}",
                _fmt(burst.get("send_events_per_s"), 0),
                _fmt(burst.get("flushed_events_per_s"), 0),
                _fmt(burst.get("cpu_us_per_sent"), 0),
                _fmt(burst.get("cpu_us_per_delivery")),
                _fmt((steady.get("first_latency_ms") or {}).get("p50"), 2),
                _fmt((steady.get("latency_ms") or {}).get("p50"), 2),
                _fmt((burst.get("latency_ms") or {}).get("p50"), 0),
            ]
        )
    if not rows:
        return []
    return [
        "## Sending node (Redis Streams): lever by lever, beside the peers",
        "",
        "Same two-node harness as below (200 websocket clients on the receiving node). "
        "*sent/s*: the sender's loop of `await sio.emit()` over the burst; with "
        "`queued_emits` an emit returns once queued, so *at broker/s* (after `await "
        "mgr.flush()`) is the rate at which Redis had every event. *CPU us/event*: the "
        "sending process's CPU over the burst per event (psutil, 10 ms resolution). "
        "*first p50*: per event, the first client to get it, at 20 events/s.",
        "",
        *_table(
            [
                "sender",
                "burst sent/s",
                "at broker/s",
                "sender CPU us/event",
                "receiver CPU us/delivery",
                "20/s first delivery p50 ms",
                "20/s p50 ms",
                "burst p50 ms",
            ],
            rows,
        ),
        "",
        "![send rate](results/send_rate.png)",
        "",
    ]


def _aws_latency(results: dict[str, Any]) -> list[str]:
    part = results.get("aws_latency")
    if not part:
        return []
    if "error" in part:
        return ["## AWS publishing behind a delay", "", f"Not measured: {part['error']}", ""]
    rows = [
        [
            row["setting"],
            _fmt(row["handler_loop_events_per_s"]),
            _fmt(row["burst_returned_events_per_s"], 0),
            _fmt(row["burst_flushed_events_per_s"], 0),
            _fmt(row["publish_calls_per_1000"], 0),
        ]
        for row in part.get("settings", [])
    ]
    return [
        f"## AWS publishing behind a {part['delay_ms']:g} ms delay "
        "(moto behind `bench/latency_proxy.py`)",
        "",
        "One AwsSqsManager node; every request to moto is held "
        f"{part['delay_ms']:g} ms by a TCP proxy, as a distant SNS would answer. *handler loop*: "
        "`for ...: await sio.emit(...)` until SNS has every event (`flush()` included); "
        "*burst*: emits as fast as the loop goes, the rate at which `emit` returned and the "
        "rate at which SNS had them all; SNS `Publish`/`PublishBatch` calls per 1,000 "
        "broadcasts from the transport's `stats`.",
        "",
        *_table(
            [
                "setting",
                "handler loop events/s",
                "burst: emit returned/s",
                "burst: at SNS/s",
                "SNS calls per 1,000",
            ],
            rows,
        ),
        "",
    ]


def _scale(results: dict[str, Any]) -> list[str]:
    scale = results.get("scale")
    if not scale:
        return []
    if "error" in scale:
        return ["## Scale", "", f"Not measured: {scale['error']}", ""]
    rows = []
    for key, label in (
        ("fetch_sockets_all", "fetch_sockets() of every socket"),
        ("fetch_sockets_room", "fetch_sockets(to=one room, 1 %)"),
        ("broadcast_with_ack_all", "emit_with_ack to every socket"),
    ):
        for system, measured in (
            ("ours", scale),
            ("ours, `gc.freeze()`", scale.get("ours-gc-frozen") or {}),
            ("Node", scale.get("node") or {}),
        ):
            op = measured.get(key) or {}
            if not op:
                continue
            if "error" in op:
                rows.append([label, system, f"error: {op['error'][:140]}", "", "", "", ""])
                continue
            found = op.get("sockets", op.get("replies"))
            wire = op.get("wire_bytes_per_op")
            collected = op.get("gc_s_per_op")
            rows.append(
                [
                    label,
                    system,
                    f"**{op['median_s']:.3f}** ({op['min_s']:.3f} to {op['max_s']:.3f}, "
                    f"{op['runs']} runs)",
                    _fmt(found),
                    " / ".join(f"{c:.2f}" for c in op["cpu_s_per_op"]),
                    " / ".join(f"{c:.2f}" for c in collected) if collected else "",
                    f"{wire / 1e6:.2f} MB" if isinstance(wire, int | float) else "",
                ]
            )
    return [
        f"## Scale: {scale['nodes']} nodes x {scale['sockets_per_node']:,} sockets "
        "(Redis Streams: ours and Node's adapter)",
        "",
        "Sockets are loopback clients registered through python-socketio's own connect path "
        "(`bench/loopback.py`): real python-socketio and Engine.IO socket objects without a "
        "network connection, answering every acknowledgement at once, through one reader "
        "task as a websocket connection's reader does (python-socketio handles a received "
        "acknowledgement inline), not a task per answer. Each joined one of "
        "100 rooms. Node's nodes (`bench/node_server.mjs`, redis-streams-adapter) get the same "
        "sockets as Engine.IO connection objects without a network, answering "
        "acknowledgements the same way. Operations run one at a time from node 0; ours and "
        "Node's clusters are up together and take turns, each operation once per turn, so "
        "that a slower spell of the machine falls on both (the `gc.freeze()` row runs on its "
        "own afterwards). Each "
        "system has a private redis-server; *wire* is the bytes Redis counted in and out "
        "during the operation. In a broadcast with acks, our answering nodes send the client "
        "replies of one loop turn to our asking node in one message (it asks for batches: "
        "PROTOCOL.md, section 2); Node's send one message per reply.",
        "",
        f"- memory per idle socket: **{scale['rss_per_socket_kb']} KiB** (RSS growth per node "
        f"{scale['rss_growth_mb']} MB); registering {scale['sockets_per_node']:,} sockets took "
        f"{scale['connect_s_per_node']} s per node",
        "",
        *_table(
            [
                "operation",
                "system",
                "seconds: median (min to max)",
                "sockets / replies",
                "CPU s per op, node 0 / 1 / 2",
                "of which garbage collector",
                "wire per op",
            ],
            rows,
        ),
        "",
        *_scale_floors(scale),
        "![scale operations](results/scale.png)",
        "",
    ]


def _scale_floors(scale: dict[str, Any]) -> list[str]:
    """What a Python node cannot do faster, measured in the same run."""
    lines = []
    floor = (scale.get("floor") or {}).get("ack_local")
    if floor and "error" not in floor:
        lines += [
            f"- **Floor of a broadcast with acks**: python-socketio alone (its own "
            f"`AsyncManager`, no broker, one node) emitting with a callback to "
            f"{floor['replies']:,} of the same loopback sockets until each answered takes "
            f"**{floor['median_s']:.3f} s** (median of {floor['runs']}), "
            f"{floor['cpu_s']:.3f} s of CPU of which {floor['gc_s']:.3f} s in CPython's "
            "garbage collector. That is python-socketio's own path (a task per client, a "
            "packet encoded per client); our manager sends its sockets the event without "
            "either, so compare the CPU of our answering nodes 1 and 2 above with it.",
        ]
    stages = scale.get("fetch_stages")
    if stages:
        ms = stages["median_ms"]
        lines += [
            f"- **Stages of a `fetch_sockets()` answer** ({stages['sockets']:,} sockets, "
            f"{stages['bytes'] / 1e6:.1f} MB of msgpack; medians, in one process): describing "
            f"the sockets {ms['describe']} ms and encoding the answer {ms['encode']} ms (each "
            f"answering node), decoding it {ms['decode']} ms and building the "
            f"`RemoteSocket` objects {ms['build']} ms (the asking node, per answer).",
        ]
    if lines:
        lines.append("")
    return lines


def _errors(results: dict[str, Any]) -> list[str]:
    errors = [r for r in results["broadcast"] if "error" in r]
    if not errors:
        return []
    return [
        "## Scenarios that could not run",
        "",
        *[f"- `{r['scenario']}` ({r['regime']}): {r['error']}" for r in errors],
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    run = results["run"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `scripts/bench` ({run['mode']} run) on {run['started']}, "
        f"{run.get('duration_s', 0) / 60:.1f} minutes. Every figure below comes from that run; "
        "the raw data is `bench/results/latest.json`. Re-run with `scripts/bench` "
        "(see `bench/README.md`).",
        "",
    ]
    if run.get("note"):
        lines += [f"**Note on this run:** {run['note']}", ""]
    lines += _sending_targets(results)
    lines += _targets(results)
    lines += _sender(results)
    lines += _broadcast(results)
    lines += _cost(results)
    lines += _aws_latency(results)
    lines += _scale(results)
    lines += _errors(results)
    lines += _machine(results)
    return "\n".join(lines).rstrip() + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Latency percentiles per system, steady and burst side by side (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.broadcast import scenarios

    # the order scenarios are defined in: the fan-out variants next to their main row
    order = {scenario.name: index for index, scenario in enumerate(scenarios())}
    names = sorted(
        dict.fromkeys(r["scenario"] for r in results["broadcast"]),
        key=lambda name: order.get(name, len(order)),
    )
    # three bars per system: keep them readable however many systems ran
    fig, axes = plt.subplots(1, 2, figsize=(14, max(6.0, 1.6 + 0.55 * len(names))), sharey=True)
    for axis, regime in zip(axes, ("steady", "burst"), strict=True):
        for offset, (quantile, color) in enumerate(
            (("p50", "#4c72b0"), ("p90", "#dd8452"), ("p99", "#c44e52"))
        ):
            values = []
            for name in names:
                result = _by(results["broadcast"], name, regime)
                values.append(result["latency_ms"][quantile] if _ok(result) else 0)  # type: ignore[index]
            positions = [i + (offset - 1) * 0.27 for i in range(len(names))]
            axis.barh(positions, values, height=0.26, color=color, label=quantile)
        axis.set_xscale("log")
        axis.set_title(
            f"{regime}: "
            + (
                f"{results['run']['steady']['rate']:g} events/s"
                if regime == "steady"
                else "full rate"
            )
        )
        axis.set_xlabel("latency, ms (log scale)")
        axis.grid(axis="x", which="both", alpha=0.3)
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels(names)
    axes[0].invert_yaxis()
    axes[1].legend(loc="upper right")
    fig.suptitle(
        f"End-to-end latency, {results['run']['clients']} websocket clients "
        "(raw rows: one subscriber; ours-aws-moto: moto's latency)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_send_rates(results: dict[str, Any], path: Path) -> bool:
    """Burst send rate and sender CPU per event of each sender (ours lever by lever, peers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for scenario, _label in SENDER_ROWS:
        burst = _by(results.get("broadcast") or [], scenario, "burst")
        if _ok(burst) and burst is not None and burst.get("send_events_per_s"):
            rate = burst.get("flushed_events_per_s") or burst["send_events_per_s"]
            rows.append((scenario, float(rate), float(burst.get("cpu_us_per_sent") or 0)))
    if not rows:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(14, 1.6 + 0.55 * len(rows)), sharey=True)
    names = [row[0] for row in rows]
    axes[0].barh(range(len(rows)), [row[1] for row in rows], color="#4c72b0")
    axes[0].set_xlabel("burst: events/s at the broker (higher is better)")
    axes[1].barh(range(len(rows)), [row[2] for row in rows], color="#dd8452")
    axes[1].set_xlabel("sender CPU, us per event (lower is better)")
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels(names)
    axes[0].invert_yaxis()
    for axis in axes:
        axis.grid(axis="x", alpha=0.3)
    fig.suptitle("Sending node on Redis Streams, burst of broadcasts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_scale(results: dict[str, Any], path: Path) -> bool:
    """Median seconds per cluster-wide operation, ours beside Node's (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = results.get("scale") or {}
    if not scale or "error" in scale:
        return False
    keys = ("fetch_sockets_all", "fetch_sockets_room", "broadcast_with_ack_all")
    labels = ("fetch_sockets() all", "fetch_sockets(1 % room)", "emit_with_ack all")
    fig, axis = plt.subplots(figsize=(9, 4.5))
    for offset, (system, measured, color) in enumerate(
        (("ours", scale, "#4c72b0"), ("Node", scale.get("node") or {}, "#dd8452"))
    ):
        values = [float((measured.get(key) or {}).get("median_s") or 0) for key in keys]
        positions = [i + (offset - 0.5) * 0.38 for i in range(len(keys))]
        axis.bar(positions, values, width=0.36, color=color, label=system)
    axis.set_xticks(range(len(keys)))
    axis.set_xticklabels(labels)
    axis.set_yscale("log")
    axis.set_ylabel("seconds, median (log scale)")
    axis.legend()
    axis.grid(axis="y", which="both", alpha=0.3)
    fig.suptitle(
        f"{scale.get('nodes', 3)} nodes x {scale.get('sockets_per_node', 0):,} sockets, "
        "Redis Streams"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(results: dict[str, Any], out: Path) -> list[Path]:
    """Write ``results/latest.json``, ``results/latency.png`` and ``RESULTS.md`` in ``out``."""
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    data = results_dir / "latest.json"
    data.write_text(json.dumps(results, indent=1) + "\n")
    image = results_dir / "latency.png"
    plot(results, image)
    written = [data, image]
    for name, draw in (("send_rate.png", plot_send_rates), ("scale.png", plot_scale)):
        if draw(results, results_dir / name):
            written.append(results_dir / name)
    text = out / "RESULTS.md"
    text.write_text(markdown(results) + measured_separately())
    return [*written, text]


#: Measurements taken by their own runs (a before/after of a refactor, a broker pair the
#: full run does not cover), kept across regenerations of RESULTS.md: one Markdown file each.
NOTES_DIR = Path(__file__).parent / "notes"


def measured_separately(notes_dir: Path = NOTES_DIR) -> str:
    """The notes of ``notes_dir``, in file-name order, as a final section of RESULTS.md."""
    notes = sorted(notes_dir.glob("*.md")) if notes_dir.is_dir() else []
    if not notes:
        return ""
    parts = ["", "## Measured separately", ""]
    parts += [note.read_text().strip() + "\n" for note in notes]
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    source = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results/latest.json"
    )
    loaded = json.loads(source.read_text())
    loaded["run"].setdefault("started", time.strftime("%Y-%m-%d %H:%M:%S"))
    for written in write(loaded, Path(__file__).parent):
        print(written)
