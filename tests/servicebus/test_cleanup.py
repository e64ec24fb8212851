"""Cleanup of dead nodes' subscriptions on the double: the library, the command line and the
Azure Functions body; a killed node's subscription goes, nothing else does."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from socketio_cloud import cli
from socketio_cloud.brokers.servicebus import node_subscription_name
from socketio_cloud.cleanup.azure import cleanup
from tests.backends.servicebus import ServiceBusBackend
from tests.support.services import wait_until

from .conftest import StartNode

pytestmark = pytest.mark.servicebus

# Node subscriptions here outlive the double's scaled auto-delete-on-idle.
LONG_IDLE = 86_400.0
UID_PATTERN_NAME = "0123456789abcdef"


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(list(args))
    return code, capsys.readouterr().out


async def add_subscription(backend: ServiceBusBackend, topic: str, name: str) -> None:
    async with backend.admin() as admin:
        try:
            await admin.get_topic(topic)
        except Exception:
            await admin.create_topic(topic)
        await admin.create_subscription(
            topic, name, auto_delete_on_idle=timedelta(seconds=LONG_IDLE)
        )


async def live_and_killed(start_node: StartNode) -> tuple[Any, Any]:
    live, _ = await start_node(auto_delete_on_idle=LONG_IDLE)
    killed, _ = await start_node(auto_delete_on_idle=LONG_IDLE)
    await killed.abort()
    return live, killed


async def test_a_killed_nodes_subscription_is_deleted_and_a_live_one_kept(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    live, killed = await live_and_killed(start_node)
    killed_at = time.monotonic()
    # the live node receives every second (max_wait_time), which Service Bus records
    await wait_until(lambda: time.monotonic() - killed_at > 4, timeout=10, message="4 s")
    async with sb_cluster.admin() as admin:
        report = await cleanup(
            admin,
            topic_name=sb_cluster.topic_name,
            subscription_prefix=sb_cluster.subscription_prefix,
            stale_after=3,
        )
    assert report.ok, report.errors
    assert [d.name for d in report.deleted] == [killed.subscription_name]
    assert [d.name for d in report.kept] == [live.subscription_name]
    assert await sb_cluster.node_resources(killed._uid) == []
    assert await sb_cluster.node_resources(live._uid) == [live.subscription_name]


async def test_only_this_topic_and_this_prefix_are_touched(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    _, killed = await live_and_killed(start_node)
    prefix = sb_cluster.subscription_prefix
    other_cluster = node_subscription_name(f"{prefix}-eu", UID_PATTERN_NAME)
    not_a_node = f"{prefix}-reporting"
    other_topic = f"{sb_cluster.topic_name}-other"
    same_name_elsewhere = node_subscription_name(prefix, UID_PATTERN_NAME)
    await add_subscription(sb_cluster, sb_cluster.topic_name, other_cluster)
    await add_subscription(sb_cluster, sb_cluster.topic_name, not_a_node)
    await add_subscription(sb_cluster, other_topic, same_name_elsewhere)
    try:
        future = datetime.now(timezone.utc) + timedelta(hours=1)
        async with sb_cluster.admin() as admin:
            report = await cleanup(
                admin,
                topic_name=sb_cluster.topic_name,
                subscription_prefix=prefix,
                now=future,
            )
        # an hour from now every node subscription of the cluster is stale, the live one too
        assert killed.subscription_name in [d.name for d in report.deleted]
        topics = sb_cluster.double.topics()
        assert other_cluster in topics[sb_cluster.topic_name]
        assert not_a_node in topics[sb_cluster.topic_name]
        assert topics[other_topic] == [same_name_elsewhere]
    finally:
        async with sb_cluster.admin() as admin:
            await admin.delete_topic(other_topic)


async def test_dry_run_deletes_nothing(
    start_node: StartNode, sb_cluster: ServiceBusBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    _, killed = await live_and_killed(start_node)
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    async with sb_cluster.admin() as admin:
        report = await cleanup(
            admin,
            topic_name=sb_cluster.topic_name,
            subscription_prefix=sb_cluster.subscription_prefix,
            dry_run=True,
            now=future,
        )
    assert killed.subscription_name in [d.name for d in report.deleted]
    assert await sb_cluster.node_resources(killed._uid) == [killed.subscription_name]


async def test_a_missing_topic_is_an_error_in_the_report(sb_cluster: ServiceBusBackend) -> None:
    async with sb_cluster.admin() as admin:
        report = await cleanup(admin, topic_name="no-such-topic-here")
    assert not report.ok and "not found" in report.errors[0]


# ---------------------------------------------------------------------------- command line


def cli_args(backend: ServiceBusBackend, *extra: str) -> list[str]:
    return [
        "cleanup",
        "azure",
        "--topic",
        backend.topic_name,
        "--prefix",
        backend.subscription_prefix,
        "--connection-string",
        backend.double.admin_connection_string,
        "--ca-file",
        backend.double.ca_file,
        *extra,
    ]


async def test_the_cli_reports_a_dry_run_as_json(
    start_node: StartNode, sb_cluster: ServiceBusBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    live, _ = await start_node()
    # cli.main runs its own event loop: run it in a thread, away from the test's loop
    import asyncio

    code = await asyncio.to_thread(cli.main, cli_args(sb_cluster, "--dry-run", "--json"))
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["dry_run"] is True
    assert [entry["name"] for entry in report["kept"]] == [live.subscription_name]
    assert report["deleted"] == []


async def test_the_cli_deletes_and_tells_people(
    start_node: StartNode, sb_cluster: ServiceBusBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    _, killed = await live_and_killed(start_node)
    code = await asyncio.to_thread(cli.main, cli_args(sb_cluster, "--stale-after", "60"))
    out = capsys.readouterr().out
    assert code == 0
    assert "Deleted: 0" in out and "Kept: 2" in out  # nobody has been idle for a minute
    assert killed.subscription_name in out


def test_the_cli_refuses_a_short_stale_after(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["cleanup", "azure", "--topic", "t", "--connection-string", "x", "--stale-after", "5"]
    )
    assert code == 2
    assert "at least 60" in capsys.readouterr().err


def test_the_cli_needs_credentials(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVICEBUS_CONNECTION_STRING", raising=False)
    assert cli.main(["cleanup", "azure", "--topic", "t"]) == 2


# ---------------------------------------------------------------------------- function


async def test_the_function_body_deletes_the_killed_nodes_subscription(
    start_node: StartNode, sb_cluster: ServiceBusBackend
) -> None:
    pytest.importorskip("azure.functions")
    from functions.azure_cleanup.function_app import run_cleanup

    _, killed = await live_and_killed(start_node)
    foreign = node_subscription_name(f"{sb_cluster.subscription_prefix}-eu", UID_PATTERN_NAME)
    await add_subscription(sb_cluster, sb_cluster.topic_name, foreign)
    settings = {
        "SERVICEBUS_CONNECTION_STRING": sb_cluster.double.admin_connection_string,
        "SERVICEBUS_TOPIC": sb_cluster.topic_name,
        "SUBSCRIPTION_PREFIX": sb_cluster.subscription_prefix,
        "STALE_AFTER_SECONDS": "600",
    }
    result = await run_cleanup(
        settings,
        admin_options=sb_cluster.admin_options(),
        now=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    assert result["errors"] == []
    assert killed.subscription_name in [entry["name"] for entry in result["deleted"]]
    assert await sb_cluster.node_resources(killed._uid) == []
    assert foreign in sb_cluster.double.topics()[sb_cluster.topic_name]


async def test_the_function_refuses_a_short_stale_after() -> None:
    pytest.importorskip("azure.functions")
    from functions.azure_cleanup.function_app import run_cleanup

    with pytest.raises(ValueError, match="at least 60"):
        await run_cleanup({"SERVICEBUS_CONNECTION_STRING": "x", "STALE_AFTER_SECONDS": "5"})


def test_the_function_app_registers_a_timer_trigger() -> None:
    pytest.importorskip("azure.functions")
    from functions.azure_cleanup.function_app import app

    functions = app.get_functions()
    assert [f.get_function_name() for f in functions] == ["cleanup_subscriptions"]
    bindings = functions[0].get_bindings()
    assert [b.type for b in bindings] == ["timerTrigger"]
