"""What the benchmark concludes from its figures: the stack it picks, the idle AWS formula, and
the before/after fan-out table. Synthetic results, no services: the figures are made up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report
from bench.run import pick_stack

AWS_SETTINGS = {
    "heartbeat_interval_s": 5.0,
    "wait_time_s": 20,
    "delete_delay_s": 30.0,
    "liveness_interval_s": 300.0,
    "idle_coalesce_s": 0.25,
    "idle_after_s": 10.0,
    "filter_policy": True,
}


def broadcast_row(scenario: str, regime: str, us: float, stack: str = "uvicorn") -> dict[str, Any]:
    fanout = {"-queue": "queue", "-tasks": "tasks"}.get(scenario[-6:], "auto")
    return {
        "scenario": scenario,
        "label": scenario,
        "stack": stack,
        "fanout": fanout,
        "regime": regime,
        "rate": 20.0 if regime == "steady" else "max",
        "events": 10,
        "clients": 20,
        "deliveries": 200,
        "lost": 0,
        "duplicates": 0,
        "events_per_s": 20.0,
        "deliveries_per_s": 400.0,
        "send_events_per_s": 20.0,
        "latency_ms": {"p50": 5.0, "p90": 9.0, "p99": 12.0, "max": 15.0},
        "cpu_s": {"receiver": us * 200 / 1e6, "sender": 0.01, "clients": 0.02},
        "cpu_us_per_delivery": us,
        "window_s": 1.0,
        "rss_per_client_kb": 40.0,
        "direct_frames": 150 if fanout == "auto" else None,
    }


def both_regimes(scenario: str, us: float, stack: str = "uvicorn") -> list[dict[str, Any]]:
    return [broadcast_row(scenario, regime, us, stack) for regime in ("steady", "burst")]


def results_with(broadcast: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "run": {
            "mode": "quick",
            "started": "2026-01-01 00:00:00 UTC",
            "load_before": [0.5, 0.5, 0.5],
            "load_after": [0.5, 0.5, 0.5],
            "clients": 20,
            "client_procs": 2,
            "steady": {"events": 10, "rate": 20.0},
            "burst": {"events": 10},
            "preferred_stack": "uvicorn",
            "duration_s": 60.0,
        },
        "broadcast": broadcast,
        "cost": None,
        "cost_more_nodes": [],
        "scale": None,
        "machine": {
            "nproc": 2,
            "cpu_model": "test",
            "ram_gib": 1.0,
            "kernel": "test",
            "python": "3.11",
            "node": "v20",
            "redis_server": "7",
            "rabbitmq": None,
            "python_packages": {},
            "node_packages": {},
        },
    }


def test_stack_choice_compares_only_the_default_fanout() -> None:
    results = (
        both_regimes("ours-redis-streams-uvicorn", 30.0)
        + both_regimes("ours-redis-streams-aiohttp", 20.0, stack="aiohttp")
        + both_regimes("ours-redis-streams-uvicorn-queue", 1.0)
        + both_regimes("ours-redis-streams-uvicorn-tasks", 1.0)
    )

    assert pick_stack(results) == "aiohttp"


def test_stack_choice_ignores_a_stack_measured_in_one_regime_only() -> None:
    aiohttp_steady = broadcast_row("ours-redis-streams-aiohttp", "steady", 1.0, stack="aiohttp")
    results = [*both_regimes("ours-redis-streams-uvicorn", 30.0), aiohttp_steady]

    assert pick_stack(results) == "uvicorn"


def test_idle_formula_matches_the_transports_documented_figures() -> None:
    totals = {
        nodes: report.ours_idle_formula(nodes, AWS_SETTINGS, liveness=24.0)["total"]
        for nodes in (2, 4, 10)
    }

    assert totals == {2: 1584, 4: 2400, 10: 2832}


def test_idle_formula_receives_once_per_other_node_without_coalescing() -> None:
    settings = {**AWS_SETTINGS, "idle_coalesce_s": 0.0}

    formula = report.ours_idle_formula(5, settings, liveness=24.0)

    assert formula["receive"] == 720 * 4


def test_fanout_table_shows_tasks_queue_auto_in_order_in_both_regimes() -> None:
    broadcast = (
        both_regimes("ours-redis-streams-uvicorn", 10.0)
        + both_regimes("ours-redis-streams-uvicorn-queue", 20.0)
        + both_regimes("ours-redis-streams-uvicorn-tasks", 40.0)
        + both_regimes("node-redis-streams", 5.0, stack="")
    )

    text = report.markdown(results_with(broadcast))

    section = text[text.index("### Fan-out, before and after") :]
    section = section[: section.index("### Server stack")]
    for regime in ("steady", "burst"):
        table = section[section.index(f"**{regime}") :].split("\n\n")[1]
        rows = [line for line in table.splitlines() if line.startswith("| ours")]
        assert [row.split("`")[1] for row in rows] == ["tasks", "queue", "auto"]
        tasks, queue, auto = rows
        assert "| 1.00x |" in tasks
        assert "| 0.50x |" in queue
        assert "| 0.25x |" in auto
        assert auto.endswith("| 75 % |")  # 150 of 200 deliveries as direct frames
        assert "redis-streams-adapter" in table


def test_notes_measured_separately_close_the_results(tmp_path: Path) -> None:
    from bench.report import measured_separately

    assert measured_separately(tmp_path / "none") == ""
    (tmp_path / "20-b.md").write_text("### B\n\nsecond\n")
    (tmp_path / "10-a.md").write_text("### A\n\nfirst\n")
    text = measured_separately(tmp_path)
    assert text.index("## Measured separately") < text.index("### A") < text.index("### B")


def _scale_op(seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "median_s": seconds,
        "min_s": seconds,
        "max_s": seconds,
        "runs": 5,
        "replies": 30000,
        "cpu_s_per_op": [0.5, 0.5, 0.5],
        "wire_bytes_per_op": 1000,
        **extra,
    }


def test_an_ack_target_under_the_measured_floor_says_so() -> None:
    results = results_with([])
    results["machine"] = {"nproc": 2}
    results["scale"] = {
        "nodes": 3,
        "sockets_per_node": 10000,
        "rss_per_socket_kb": 5.0,
        "rss_growth_mb": [50.0, 50.0, 50.0],
        "connect_s_per_node": [1.0, 1.0, 1.0],
        "broadcast_with_ack_all": _scale_op(1.0, gc_s_per_op=[0.1, 0.3, 0.3]),
        "ours-gc-frozen": {"broadcast_with_ack_all": _scale_op(0.8)},
        "node": {"broadcast_with_ack_all": _scale_op(0.3)},
        "floor": {
            "ack_local": {**_scale_op(0.4), "replies": 10000, "cpu_s": 0.4, "gc_s": 0.2},
        },
        "fetch_stages": {
            "sockets": 10000,
            "bytes": 4_000_000,
            "median_ms": {"describe": 36.0, "encode": 18.0, "decode": 45.0, "build": 20.0},
        },
    }
    text = "\n".join(report._sending_targets(results))
    row = next(line for line in text.splitlines() if "emit_with_ack to all" in line)
    # 0.4 s per node, 3 nodes on 2 cores: 0.6 s, more than Node's 0.3 s
    assert "with `gc.freeze()` 0.800 s" in row
    assert "0.400 s for one node's sockets, 0.600 s for 3 nodes on 2 cores" in row
    assert row.endswith(
        "**not met** (Node's time is below python-socketio's floor; ours is 1.67 times the floor) |"
    )
    section = "\n".join(report._scale(results))
    assert "| emit_with_ack to every socket | ours, `gc.freeze()` | **0.800**" in section
    assert "0.10 / 0.30 / 0.30" in section
    assert "takes **0.400 s**" in section and "0.200 s in CPython's garbage collector" in section
    assert "decoding it 45.0 ms" in section


def _first_delivery_row(results: dict[str, Any]) -> str:
    text = "\n".join(report._sending_targets(results))
    return next(line for line in text.splitlines() if "first delivery p50" in line)


def _pair(systems: tuple[str, str], p50s: list[tuple[float, float]]) -> dict[str, Any]:
    first, second = systems
    return {
        "systems": list(systems),
        "events": 400,
        "rate": 20.0,
        "rounds": [
            {"order": list(systems), first: {"first_p50_ms": a}, second: {"first_p50_ms": b}}
            for a, b in p50s
        ],
        "first_p50_ms": {
            first: sorted(a for a, _ in p50s)[1],
            second: sorted(b for _, b in p50s)[1],
        },
        "paired_events": 1200,
        "median_difference_ms": -0.05,
        "first_faster_share": 0.6,
    }


def test_first_delivery_is_judged_on_the_interleaved_run() -> None:
    ours, node = "ours-redis-streams-uvicorn", "node-redis-streams"
    rows = [broadcast_row(ours, "steady", 10.0), broadcast_row(node, "steady", 10.0)]
    rows[0]["first_latency_ms"] = {"p50": 1.10, "p90": 1.4}
    rows[1]["first_latency_ms"] = {"p50": 1.00, "p90": 1.3}
    results = results_with(rows)
    # one run each: ours is behind
    assert "**not met**" in _first_delivery_row(results)
    pair = _pair((ours, node), [(0.8, 1.0), (1.1, 0.9), (0.9, 1.2)])
    results["first_delivery_paired"] = {"rounds": 3, "pairs": [pair]}
    row = _first_delivery_row(results)
    assert "Interleaved in one run (3 rounds of 400 events each" in row
    assert "0.90 vs Node 1.00 (per round: ours 0.80, 1.10, 0.90; Node 1.00, 0.90, 1.20)" in row
    assert "median -0.05 ms, ours first in 60 % of 1200" in row
    assert row.endswith("**met** (on the interleaved run) |")
    pair["first_p50_ms"] = {ours: 1.05, node: 1.0}
    assert _first_delivery_row(results).endswith("**not met** (on the interleaved run) |")
    # beside the raw broker hops, interleaved the same way
    raw_python, raw_node = "raw-redis-streams-python", "raw-redis-streams"
    results["first_delivery_paired"]["pairs"].append(
        _pair((raw_python, raw_node), [(0.6, 0.5), (0.62, 0.55), (0.7, 0.6)])
    )
    row = _first_delivery_row(results)
    assert "raw XADD→XREAD interleaved the same way: redis-py 0.62 vs Node client 0.55" in row
    assert row.endswith(
        "**not met** (on the interleaved run) (the gap is within the raw "
        "XADD→XREAD difference between the two clients) |"
    )
    pair["first_p50_ms"][ours] = 1.2
    assert _first_delivery_row(results).endswith("difference, 0.07 ms) |")
    # a pair that failed is not judged on
    pair["error"] = "failed: clients did not connect"
    assert "(on the interleaved run)" not in _first_delivery_row(results)
