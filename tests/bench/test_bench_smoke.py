"""The benchmark harness in its quickest mode, on our Redis Streams manager: it runs to the
end by itself and prints well-formed results with no event lost or duplicated. No timing
is asserted: the figures are the benchmark's business."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import port_open, require_service

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "ours-redis-streams-uvicorn"

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def run_bench(module: str, *args: str) -> list[dict[str, Any]]:
    """Run a bench module to its end; the JSON lines it printed."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_quick_run_prints_one_complete_result_per_regime() -> None:
    require_service(port_open(6379), "no Redis on 127.0.0.1:6379")
    require_service(shutil.which("node") is not None, "node is not installed")
    require_service(
        (REPO / "bench" / "node_modules" / "socket.io-client").is_dir(),
        "bench/node_modules missing (scripts/bootstrap installs them)",
    )
    results = run_bench(
        "bench.run",
        "--quick",
        "--only",
        SCENARIO,
        "--skip",
        "first-delivery,cost,aws-latency,scale",
        "--clients",
        "10",
        "--client-procs",
        "2",
        "--steady-events",
        "20",
        "--burst-events",
        "50",
    )
    assert [(r["scenario"], r["regime"]) for r in results] == [
        (SCENARIO, "steady"),
        (SCENARIO, "burst"),
    ]
    for result, events in zip(results, (20, 50), strict=True):
        assert "error" not in result, result["error"]
        assert result["events"] == events
        assert result["clients"] == 10
        assert result["deliveries"] == events * 10
        assert result["lost"] == 0
        assert result["duplicates"] == 0
        assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
        assert {"receiver", "sender", "clients"} <= set(result["cpu_s"])
        assert isinstance(result["cpu_us_per_delivery"], float)
        assert isinstance(result["events_per_s"], float)


def test_scale_side_by_side_floor_and_frozen_collector_runs_complete() -> None:
    require_service(shutil.which("redis-server") is not None, "redis-server is not installed")
    require_service(shutil.which("node") is not None, "node is not installed")
    require_service(
        (REPO / "bench" / "node_modules" / "@socket.io" / "redis-streams-adapter").is_dir(),
        "bench/node_modules missing (scripts/bootstrap installs them)",
    )
    events = run_bench(
        "bench.scale", "--sockets", "40", "--systems", "ours-gc-frozen,floor,node,ours"
    )
    result = events[-1]["result"]
    for measured in (result, result["ours-gc-frozen"], result["node"]):
        assert "error" not in measured, measured.get("error")
        ack = measured["broadcast_with_ack_all"]
        assert ack["replies"] == 3 * 40 and ack["runs"] == 5
        assert len(ack["cpu_s_per_op"]) == 3
        assert measured["fetch_sockets_all"]["sockets"] == 3 * 40
        assert measured["fetch_sockets_room"]["sockets"] == 3  # socket 7 of each node
    for measured in (result, result["ours-gc-frozen"]):
        assert len(measured["broadcast_with_ack_all"]["gc_s_per_op"]) == 3
    assert "gc_s_per_op" not in result["node"]["broadcast_with_ack_all"]
    floor = result["floor"]["ack_local"]
    assert floor["replies"] == 40 and floor["runs"] == 5
    assert floor["gc_s"] <= floor["cpu_s"] + 0.01
    stages = result["fetch_stages"]
    assert stages["sockets"] == 40 and stages["bytes"] > 40 * 100
    assert set(stages["median_ms"]) == {"describe", "encode", "decode", "build"}


def test_interleaved_first_delivery_pairs_every_event(tmp_path: Path) -> None:
    require_service(port_open(6379), "no Redis on 127.0.0.1:6379")
    require_service(shutil.which("node") is not None, "node is not installed")
    require_service(
        (REPO / "bench" / "node_modules" / "socket.io-client").is_dir(),
        "bench/node_modules missing (scripts/bootstrap installs them)",
    )
    systems = [
        (SCENARIO, "node-redis-streams"),
        ("raw-redis-streams-python", "raw-redis-streams"),
    ]
    results = run_bench(
        "bench.run",
        "--only",
        ",".join(name for pair in systems for name in pair),
        "--skip",
        "broadcast,first-delivery,cost,aws-latency,scale",
        "--clients",
        "6",
        "--client-procs",
        "2",
        "--steady-events",
        "10",
        "--out",
        str(tmp_path),
    )
    [paired] = [r for r in results if r.get("part") == "first-delivery-paired"]
    assert [tuple(pair["systems"]) for pair in paired["pairs"]] == systems
    for pair in paired["pairs"]:
        assert "error" not in pair, pair["error"]
        first, second = pair["systems"]
        # the order of the turns rotates from round to round
        assert [r["order"] for r in pair["rounds"]] == [
            [first, second],
            [second, first],
            [first, second],
        ]
        for measured in pair["rounds"]:
            assert measured[first]["lost"] == measured[second]["lost"] == 0
        assert pair["paired_events"] == 3 * 10
        assert set(pair["first_p50_ms"]) == {first, second}
    assert "Interleaved in one run" in (tmp_path / "RESULTS.md").read_text()
