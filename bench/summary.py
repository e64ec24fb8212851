"""One screen of figures from a run: ours beside Node's redis-streams adapter and
python-socketio's Redis manager, with ratios (printed at the end of ``--quick`` runs).

    python -m bench.summary [results.json]     # the table of a saved run
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OURS = "ours-redis-streams-uvicorn"
OURS_QUEUED = "ours-redis-streams-uvicorn-queued"
OURS_BEFORE = "ours-redis-streams-uvicorn-before"
NODE = "node-redis-streams"
PYSIO = "pysio-redis"

__all__ = ["table"]


def _row(results: list[dict[str, Any]], scenario: str, regime: str) -> dict[str, Any] | None:
    for result in results:
        if result.get("scenario") == scenario and result.get("regime") == regime:
            return None if "error" in result else result
    return None


def _get(row: dict[str, Any] | None, path: str) -> float | None:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _ratio(ours: float | None, peer: float | None, higher_is_better: bool) -> str:
    if ours is None or peer is None or ours == 0 or peer == 0:
        return "-"
    ratio = ours / peer
    better = ratio >= 1 if higher_is_better else ratio <= 1
    return f"{ratio:.2f}x{'' if better else ' (worse)'}"


def table(results: dict[str, Any]) -> str:
    """The one-screen table of a run's results (as bench.run collects them)."""
    rows: list[tuple[str, float | None, float | None, float | None, float | None, bool]] = []
    broadcast = results.get("broadcast") or []

    def add(label: str, regime: str, path: str, higher: bool, ours: str = OURS) -> None:
        rows.append(
            (
                label,
                _get(_row(broadcast, OURS_BEFORE, regime), path),
                _get(_row(broadcast, ours, regime), path),
                _get(_row(broadcast, NODE, regime), path),
                _get(_row(broadcast, PYSIO, regime), path),
                higher,
            )
        )

    add("burst: sent events/s (awaited emits)", "burst", "send_events_per_s", True)
    add("burst: sent events/s (queued_emits)", "burst", "send_events_per_s", True, OURS_QUEUED)
    add(
        "burst: at broker events/s (queued_emits)",
        "burst",
        "flushed_events_per_s",
        True,
        OURS_QUEUED,
    )
    add("burst: sender CPU us per event (queued)", "burst", "cpu_us_per_sent", False, OURS_QUEUED)
    add("burst: receiver CPU us per delivery", "burst", "cpu_us_per_delivery", False)
    add("20/s: first delivery p50 ms", "steady", "first_latency_ms.p50", False)
    add("20/s: every delivery p50 ms", "steady", "latency_ms.p50", False)

    scale = results.get("scale") or {}
    node_scale = scale.get("node") or {}
    for label, key in (
        ("scale: fetch_sockets() all, s", "fetch_sockets_all"),
        ("scale: fetch_sockets(1 % room), s", "fetch_sockets_room"),
        ("scale: emit_with_ack all, s", "broadcast_with_ack_all"),
    ):
        rows.append(
            (
                label,
                None,
                _get(scale.get(key), "median_s"),
                _get(node_scale.get(key), "median_s"),
                None,
                False,
            )
        )

    header = ("figure", "before", "ours", "Node", "ours/Node", "pysio", "ours/pysio")
    lines = [header]
    for label, before, ours, node, pysio, higher in rows:
        lines.append(
            (
                label,
                _fmt(before),
                _fmt(ours),
                _fmt(node),
                _ratio(ours, node, higher),
                _fmt(pysio),
                _ratio(ours, pysio, higher),
            )
        )
    latency = (results.get("aws_latency") or {}).get("settings") or []
    aws_lines = []
    if latency:
        first, last = latency[0], latency[-1]
        pick: Callable[[dict[str, Any], str], str] = lambda row, key: _fmt(row.get(key))  # noqa: E731
        for label, key in (
            ("AWS +20 ms: handler emit loop, events/s", "handler_loop_events_per_s"),
            ("AWS +20 ms: burst at SNS, events/s", "burst_flushed_events_per_s"),
            ("AWS: SNS calls per 1,000 broadcasts", "publish_calls_per_1000"),
        ):
            aws_lines.append(f"{label:44} before {pick(first, key):>8}  after {pick(last, key):>8}")
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        )
        for line in lines
    ]
    text.insert(1, "-" * len(text[0]))
    note = (
        "before: our sender as in the previous release (pure-Python parser, own entries "
        "decoded, one XADD per emit); ratios: > 1 is better for rates, < 1 for costs/times"
    )
    return "\n".join([*text, *aws_lines, note])


def main() -> None:
    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).parent / "results" / "latest.json"
    )
    print(table(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
