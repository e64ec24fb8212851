"""Orphan cleanup of SQS node queues and SNS subscriptions, against moto's server."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from socketio_cloud.cleanup.aws import (
    TAG_ALIVE,
    TAG_SUBSCRIPTION,
    cleanup,
    find_stale_queues,
    judge_queue,
    review_queue,
)
from tests.aws import (
    create_node_queue,
    create_topic,
    queue_exists,
    topic_subscriptions,
)
from tests.support.moto import AWS_ACCOUNT_ID, AWS_REGION, MotoServer

pytestmark = pytest.mark.aws

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLER_DIR = REPO_ROOT / "functions" / "aws_cleanup"
PACKAGE_DIR = REPO_ROOT / "adapters" / "socketio_cloud"
# The socketio_cloud files the Lambda code asset carries next to handler.py.
ASSET_PACKAGE_FILES = [
    "__init__.py",
    "py.typed",
    "brokers/__init__.py",
    "brokers/aws.py",
    "cleanup/__init__.py",
    "cleanup/aws.py",
]

STALE_AGE = 2000  # seconds; older than the default stale_after of 900 s
FRESH_AGE = 60
T0 = 1_800_000_000.0  # a fixed clock for pure judgements


def test_stale_queue_is_deleted_with_its_subscription(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    node = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert not queue_exists(sqs, node.name)
    assert node.subscription_arn not in topic_subscriptions(sns, topic_arn)
    assert [queue.name for queue in report.deleted_queues] == [node.name]
    assert [sub.arn for sub in report.removed_subscriptions] == [node.subscription_arn]
    assert report.errors == []


def test_subscription_of_a_stale_queue_without_subscription_tag_is_found_on_its_topic(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    node = create_node_queue(
        sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE, tag_subscription=False
    )

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert not queue_exists(sqs, node.name)
    assert topic_subscriptions(sns, topic_arn) == set()
    assert [sub.arn for sub in report.removed_subscriptions] == [node.subscription_arn]


def test_queue_with_a_fresh_alive_mark_is_kept(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    node = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert queue_exists(sqs, node.name)
    assert topic_subscriptions(sns, topic_arn) == {node.subscription_arn}
    assert [queue.name for queue in report.kept_queues] == [node.name]
    assert report.deleted_queues == [] and report.removed_subscriptions == []


def test_alive_mark_is_judged_against_stale_after(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    node = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - 500)

    kept = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, stale_after=600, now=now)
    assert queue_exists(sqs, node.name) and kept.deleted_queues == []

    deleted = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, stale_after=400, now=now)
    assert not queue_exists(sqs, node.name)
    assert [queue.name for queue in deleted.deleted_queues] == [node.name]


def test_queue_without_alive_mark_is_kept_during_the_grace_period(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    node = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=None)

    report = cleanup(
        sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, grace_period=900, now=time.time() + 100
    )

    assert queue_exists(sqs, node.name)
    assert [queue.name for queue in report.kept_queues] == [node.name]


def test_queue_without_alive_mark_is_deleted_after_the_grace_period(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    node = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=None)

    report = cleanup(
        sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, grace_period=900, now=time.time() + 1000
    )

    assert not queue_exists(sqs, node.name)
    assert topic_subscriptions(sns, topic_arn) == set()
    assert [queue.name for queue in report.deleted_queues] == [node.name]


def test_queues_outside_the_prefix_are_never_touched(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    # All stale by their marks and old by the clock, and all matched by QueueNamePrefix.
    names = [
        f"{prefix}x-0123456789abcdef",
        f"{prefix}-eu-0123456789abcdef",
        f"{prefix}-dead-letters",
        f"{prefix}-0123456789ABCDEF",
        prefix,
    ]
    outsiders = [
        create_node_queue(
            sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE, name=name
        )
        for name in names
    ]
    subscriptions = topic_subscriptions(sns, topic_arn)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=time.time() + 100_000)

    assert all(queue_exists(sqs, queue.name) for queue in outsiders)
    assert topic_subscriptions(sns, topic_arn) == subscriptions
    assert report.deleted_queues == report.kept_queues == report.removed_subscriptions == []


def test_a_queue_of_another_clusters_topic_is_kept_with_its_subscription(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    # another cluster shares the prefix but talks through its own topic
    other_topic = create_topic(sns, f"{prefix}-other")
    theirs = create_node_queue(
        sqs, sns, prefix=prefix, topic_arn=other_topic, alive=now - STALE_AGE
    )

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert queue_exists(sqs, theirs.name)
    assert topic_subscriptions(sns, other_topic) == {theirs.subscription_arn}
    assert report.deleted_queues == [] and report.removed_subscriptions == []
    assert [queue.name for queue in report.kept_queues] == [theirs.name]


def test_a_queue_without_a_topic_tag_is_not_provably_ours_and_is_kept(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    untagged = create_node_queue(sqs, sns, prefix=prefix, topic_arn=None, alive=now - STALE_AGE)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert queue_exists(sqs, untagged.name)
    assert report.deleted_queues == []


def test_a_forged_subscription_tag_never_removes_a_foreign_subscription(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    other_topic = create_topic(sns, f"{prefix}-other")
    bystander = create_node_queue(sqs, sns, prefix=f"{prefix}-by", topic_arn=other_topic, alive=now)
    node = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    # the stale queue's tag names the other topic's subscription
    sqs.tag_queue(QueueUrl=node.url, Tags={TAG_SUBSCRIPTION: bystander.subscription_arn})

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert topic_subscriptions(sns, other_topic) == {bystander.subscription_arn}
    assert not queue_exists(sqs, node.name)
    assert [sub.arn for sub in report.removed_subscriptions] == [node.subscription_arn]


def test_orphan_subscription_whose_queue_is_gone_is_removed(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    orphan = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    sqs.delete_queue(QueueUrl=orphan.url)
    live = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    foreign = sns.subscribe(  # a lost queue outside the prefix: not ours to judge
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{AWS_REGION}:{AWS_ACCOUNT_ID}:{prefix}x-0123456789abcdef",
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert topic_subscriptions(sns, topic_arn) == {live.subscription_arn, foreign}
    assert [(sub.arn, sub.queue_name) for sub in report.removed_subscriptions] == [
        (orphan.subscription_arn, orphan.name)
    ]
    assert queue_exists(sqs, live.name)
    assert report.errors == []


def test_orphan_subscriptions_are_found_beyond_the_first_page(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    for index in range(100):  # moto lists 100 subscriptions per page
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=f"arn:aws:sqs:{AWS_REGION}:{AWS_ACCOUNT_ID}:other-{index}",
        )
    orphan = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    sqs.delete_queue(QueueUrl=orphan.url)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert [sub.arn for sub in report.removed_subscriptions] == [orphan.subscription_arn]
    assert orphan.subscription_arn not in topic_subscriptions(sns, topic_arn)


def test_dry_run_deletes_nothing_and_reports_what_it_would_delete(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    fresh = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    orphan = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    sqs.delete_queue(QueueUrl=orphan.url)
    subscriptions = topic_subscriptions(sns, topic_arn)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, dry_run=True, now=now)

    assert queue_exists(sqs, stale.name) and queue_exists(sqs, fresh.name)
    assert topic_subscriptions(sns, topic_arn) == subscriptions
    assert report.dry_run
    assert [queue.name for queue in report.deleted_queues] == [stale.name]
    assert [queue.name for queue in report.kept_queues] == [fresh.name]
    assert sorted(sub.arn for sub in report.removed_subscriptions) == sorted(
        [stale.subscription_arn, orphan.subscription_arn]
    )


def test_queue_that_vanishes_during_the_run_counts_as_gone(
    now: float, moto_server: MotoServer, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    closed = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    other_client = moto_server.client("sqs")

    def delete_both_queues(**_: Any) -> None:
        # Another party (a closing node, a concurrent cleanup) is quicker than this run.
        for queue in (stale, closed):
            if queue_exists(other_client, queue.name):
                other_client.delete_queue(QueueUrl=queue.url)

    sqs.meta.events.register("after-call.sqs.ListQueues", delete_both_queues)
    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert report.errors == []
    assert report.deleted_queues == [] and report.kept_queues == []
    assert review_queue(sqs, stale.url, now=now) is None


def test_deleting_a_queue_that_is_already_gone_is_not_an_error(
    now: float, moto_server: MotoServer, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    other_client = moto_server.client("sqs")

    def delete_first(**_: Any) -> None:
        other_client.delete_queue(QueueUrl=stale.url)

    sqs.meta.events.register("before-call.sqs.DeleteQueue", delete_first)
    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    assert report.errors == []
    assert [queue.name for queue in report.deleted_queues] == [stale.name]


def test_find_stale_queues_lists_only_stale_node_queues(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)

    found = find_stale_queues(sqs, queue_prefix=prefix, now=now)

    assert [(queue.name, queue.arn) for queue in found] == [(stale.name, stale.arn)]
    assert queue_exists(sqs, stale.name)


def test_unknown_topic_is_reported_as_an_error(now: float, sqs: Any, sns: Any, prefix: str) -> None:
    missing = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:{prefix}-missing"

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=missing, now=now)

    assert not report.ok
    assert missing in report.errors[0]


def test_empty_prefix_is_refused(sqs: Any, sns: Any) -> None:
    with pytest.raises(ValueError, match="queue_prefix"):
        cleanup(sqs, sns, queue_prefix="", topic_arn="arn:aws:sns:us-east-1:123456789012:t")


@pytest.mark.parametrize(
    ("tags", "created", "stale"),
    [
        ({TAG_ALIVE: str(int(T0 + 30))}, T0 - 5000, False),  # clock skew: mark from the future
        ({TAG_ALIVE: "yesterday"}, T0 - 5000, True),  # unreadable mark: creation time decides
        ({TAG_ALIVE: "yesterday"}, T0 - 10, False),
        ({}, None, False),  # nothing to go by: keep
    ],
)
def test_judge_queue_edge_cases(
    now: float, tags: dict[str, str], created: float | None, stale: bool
) -> None:
    assert judge_queue(tags, created, now=T0)[0] is stale


def test_report_is_json_serialisable(
    now: float, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)

    report = cleanup(sqs, sns, queue_prefix=prefix, topic_arn=topic_arn, now=now)

    decoded = json.loads(json.dumps(report.to_dict()))
    assert decoded["queue_prefix"] == prefix
    assert len(decoded["deleted_queues"]) == len(decoded["removed_subscriptions"]) == 1


# The Lambda handler (moto cannot run Lambda functions without Docker: call it directly).


@pytest.fixture
def lambda_environ(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in moto_server.environ().items():
        monkeypatch.setenv(name, value)
    for name in ("TOPIC_ARN", "STALE_AFTER_SECONDS", "GRACE_PERIOD_SECONDS", "DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    yield


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_cleanup_handler", HANDLER_DIR / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lambda_handler_cleans_up_as_its_environment_says(
    now: float,
    lambda_environ: None,
    monkeypatch: pytest.MonkeyPatch,
    sqs: Any,
    sns: Any,
    prefix: str,
    topic_arn: str,
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    fresh = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - 500)
    orphan = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    sqs.delete_queue(QueueUrl=orphan.url)
    monkeypatch.setenv("QUEUE_PREFIX", prefix)
    monkeypatch.setenv("TOPIC_ARN", topic_arn)
    monkeypatch.setenv("STALE_AFTER_SECONDS", "1000")

    result = load_handler().handler({}, None)

    assert json.loads(json.dumps(result)) == result
    assert [queue["name"] for queue in result["deleted_queues"]] == [stale.name]
    assert [queue["name"] for queue in result["kept_queues"]] == [fresh.name]
    assert {sub["arn"] for sub in result["removed_subscriptions"]} == {
        stale.subscription_arn,
        orphan.subscription_arn,
    }
    assert result["errors"] == []
    assert not queue_exists(sqs, stale.name) and queue_exists(sqs, fresh.name)
    assert topic_subscriptions(sns, topic_arn) == {fresh.subscription_arn}


@pytest.mark.parametrize(("environ", "event"), [({"DRY_RUN": "true"}, {}), ({}, {"dry_run": True})])
def test_lambda_handler_dry_run_deletes_nothing(
    now: float,
    lambda_environ: None,
    monkeypatch: pytest.MonkeyPatch,
    sqs: Any,
    sns: Any,
    prefix: str,
    topic_arn: str,
    environ: dict[str, str],
    event: dict[str, Any],
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    monkeypatch.setenv("QUEUE_PREFIX", prefix)
    monkeypatch.setenv("TOPIC_ARN", topic_arn)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    result = load_handler().handler(event, None)

    assert result["dry_run"] is True
    assert [queue["name"] for queue in result["deleted_queues"]] == [stale.name]
    assert queue_exists(sqs, stale.name)
    assert topic_subscriptions(sns, topic_arn) == {stale.subscription_arn}


def test_lambda_handler_runs_from_its_code_asset_with_boto3_only(
    now: float,
    moto_server: MotoServer,
    tmp_path: Path,
    sqs: Any,
    sns: Any,
    prefix: str,
    topic_arn: str,
) -> None:
    asset = tmp_path / "asset"
    asset.mkdir()
    shutil.copy(HANDLER_DIR / "handler.py", asset / "handler.py")
    for name in ASSET_PACKAGE_FILES:
        target = asset / "socketio_cloud" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE_DIR / name, target)
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    # Like the Lambda runtime: the asset directory first on the path, then import handler.
    script = (
        "import json, sys\n"
        "import handler\n"
        "result = handler.handler({}, None)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('socketio', 'engineio', 'msgpack', 'socketio_cloud'))\n"
        "print(json.dumps({'result': result, 'loaded': loaded,"
        " 'package': sys.modules['socketio_cloud'].__file__}))\n"
    )
    env = {
        **os.environ,
        **moto_server.environ(),
        "PYTHONPATH": str(asset),
        "QUEUE_PREFIX": prefix,
        "TOPIC_ARN": topic_arn,
    }
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=asset,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    output = json.loads(completed.stdout.strip().splitlines()[-1])

    assert Path(output["package"]).is_relative_to(asset)
    assert output["loaded"] == [
        "socketio_cloud",
        "socketio_cloud.brokers",
        "socketio_cloud.brokers.aws",
        "socketio_cloud.cleanup",
        "socketio_cloud.cleanup.aws",
    ]
    assert [queue["name"] for queue in output["result"]["deleted_queues"]] == [stale.name]
    assert not queue_exists(sqs, stale.name)
