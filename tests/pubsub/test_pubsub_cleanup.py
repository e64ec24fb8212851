"""The cleanup of dead nodes' subscriptions: library function, CLI and Cloud Function,
on the emulator. Only subscriptions whose name, topic and labels prove they are node
subscriptions of the cluster, with a stale alive mark, are deleted."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from socketio_cloud import cli
from socketio_cloud.brokers import pubsub as facts
from socketio_cloud.cleanup.gcp import cleanup, judge_subscription
from socketio_cloud.transports import pubsub as pubsub_transport
from tests.backends.pubsub import PubSubBackend, Received, admin_clients

pytestmark = pytest.mark.pubsub

DEAD, LIVE, GONE = "dddddddddddddddd", "aaaaaaaaaaaaaaaa", "cccccccccccccccc"
TWO_DAYS = 2 * 86_400
REPO = Path(__file__).resolve().parents[2]


def make_subscription(cluster: PubSubBackend, subscription_id: str, labels: dict[str, str]) -> str:
    _, subscriber = admin_clients()
    name = f"projects/{cluster.project}/subscriptions/{subscription_id}"
    subscriber.create_subscription(
        request={"name": name, "topic": cluster.topic_path, "labels": labels}
    )
    return name


class Scene:
    """A cluster with a dead node, a live node, a closed node, and foreign subscriptions."""

    def __init__(self, cluster: PubSubBackend) -> None:
        self.cluster = cluster
        self.live: Any = None
        self.dead_name = ""
        self.kept: list[str] = []

    async def build(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cluster = self.cluster
        # a node that died two days ago: its mark was last refreshed then
        with monkeypatch.context() as patch:
            old = facts.alive_mark(time.time() - TWO_DAYS)
            patch.setattr(pubsub_transport, "alive_mark", lambda now=None: old)
            dead = cluster.make_transport()
            await dead.start(DEAD, Received())
            await dead.abort()
        self.dead_name = dead.subscription
        self.live = cluster.make_transport()
        await self.live.start(LIVE, Received())
        closed = cluster.make_transport()
        await closed.start(GONE, Received())
        await closed.close()
        prefix = cluster.subscription_prefix
        stale = facts.alive_mark(time.time() - TWO_DAYS)
        topic_label = facts.label_value(cluster.topic)

        def foreign() -> list[str]:
            return [
                # someone else's subscription of the same topic
                make_subscription(cluster, f"{prefix}-analytics", {}),
                # another cluster's prefix
                make_subscription(
                    cluster,
                    f"other-{prefix}-{'e' * 16}",
                    {facts.LABEL_NODE: "e" * 16, facts.LABEL_ALIVE: stale},
                ),
                # the right name but no mark (left to the expiration policy)
                make_subscription(cluster, f"{prefix}-{'f' * 16}", {}),
                # the right name and a stale mark, but a node label naming another uid
                make_subscription(
                    cluster,
                    f"{prefix}-{'1' * 16}",
                    {
                        facts.LABEL_NODE: "2" * 16,
                        facts.LABEL_TOPIC: topic_label,
                        facts.LABEL_ALIVE: stale,
                    },
                ),
            ]

        self.kept = [self.live.subscription, *await asyncio.to_thread(foreign)]

    def remaining(self) -> set[str]:
        return set(self.cluster.subscriptions())

    def run(self, **options: Any) -> Any:
        publisher, subscriber = admin_clients()
        return cleanup(
            publisher,
            subscriber,
            project=self.cluster.project,
            topic=self.cluster.topic,
            subscription_prefix=self.cluster.subscription_prefix,
            **options,
        )


@pytest.fixture
async def scene(pubsub_cluster: PubSubBackend, monkeypatch: pytest.MonkeyPatch) -> Any:
    built = Scene(pubsub_cluster)
    await built.build(monkeypatch)
    yield built
    await built.live.close()


async def test_a_killed_node_is_swept_and_nothing_else(scene: Scene) -> None:
    before = await asyncio.to_thread(scene.remaining)
    assert before == {scene.dead_name, *scene.kept}

    dry = await asyncio.to_thread(scene.run, dry_run=True)
    assert [d.name for d in dry.deleted] == [scene.dead_name]
    assert await asyncio.to_thread(scene.remaining) == before

    report = await asyncio.to_thread(scene.run)
    assert report.ok
    assert [d.name for d in report.deleted] == [scene.dead_name]
    assert "stale" in report.deleted[0].reason
    assert {d.name for d in report.kept} == set(scene.kept)
    assert await asyncio.to_thread(scene.remaining) == set(scene.kept)


async def test_cli(scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = scene.cluster
    base = [
        "cleanup",
        "gcp",
        "--project",
        cluster.project,
        "--topic",
        cluster.topic,
        "--prefix",
        cluster.subscription_prefix,
        "--emulator-host",
        cluster.emulator.host,
    ]
    assert await asyncio.to_thread(cli.main, [*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Would delete subscriptions: 1" in out and scene.dead_name in out
    assert scene.dead_name in await asyncio.to_thread(scene.remaining)

    assert await asyncio.to_thread(cli.main, [*base, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in report["deleted"]] == [scene.dead_name]
    assert await asyncio.to_thread(scene.remaining) == set(scene.kept)


def load_function() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gcp_cleanup_main", REPO / "functions" / "gcp_cleanup" / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_function_entry_point(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    cluster = scene.cluster
    monkeypatch.setenv("SIO_GCP_PROJECT", cluster.project)
    monkeypatch.setenv("SIO_PUBSUB_TOPIC", cluster.topic)
    monkeypatch.setenv("SIO_SUBSCRIPTION_PREFIX", cluster.subscription_prefix)
    main = load_function()

    def call(body: Any) -> tuple[str, int, dict[str, str]]:
        request = Request(EnvironBuilder(method="POST", json=body).get_environ())
        return main.cleanup(request)  # type: ignore[no-any-return]

    text, status, headers = await asyncio.to_thread(call, {"dry_run": True})
    assert status == 200 and headers["Content-Type"] == "application/json"
    dry = json.loads(text)
    assert dry["dry_run"] and [d["name"] for d in dry["deleted"]] == [scene.dead_name]

    text, status, _ = await asyncio.to_thread(call, None)
    assert status == 200
    assert [d["name"] for d in json.loads(text)["deleted"]] == [scene.dead_name]
    assert await asyncio.to_thread(scene.remaining) == set(scene.kept)

    monkeypatch.delenv("SIO_PUBSUB_TOPIC")
    _, status, _ = await asyncio.to_thread(call, None)
    assert status == 400


def test_judge_subscription() -> None:
    topic = "projects/p-123456/topics/chat"
    uid = "0123456789abcdef"
    labels = {facts.LABEL_NODE: uid, facts.LABEL_TOPIC: "chat", facts.LABEL_ALIVE: "1000"}
    name = f"projects/p-123456/subscriptions/socket.io-{uid}"

    def judge(**overrides: Any) -> bool:
        options: dict[str, Any] = {
            "name": name,
            "topic": topic,
            "labels": labels,
            "cluster_topic": topic,
            "subscription_prefix": "socket.io",
            "now": 1000 + 901,
            **overrides,
        }
        return judge_subscription(
            options.pop("name"), options.pop("topic"), options.pop("labels"), **options
        ).stale

    assert judge()
    assert not judge(now=1000 + 899)
    assert not judge(topic="projects/p-123456/topics/other")
    assert not judge(labels={**labels, facts.LABEL_NODE: "f" * 16})
    assert not judge(labels={**labels, facts.LABEL_TOPIC: "other"})
    assert not judge(labels={**labels, facts.LABEL_ALIVE: "soon"})
    assert not judge(subscription_prefix="socket")
    assert not judge(name="projects/p-123456/subscriptions/socket.io-analytics")
