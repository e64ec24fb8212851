"""``socketio-cloud cleanup aws``, against moto's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socketio_cloud.cli import main
from tests.aws import create_node_queue, queue_exists
from tests.support.moto import AWS_ACCOUNT_ID, AWS_REGION, MotoServer

pytestmark = pytest.mark.aws

STALE_AGE = 5000
FRESH_AGE = 60


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the dummy credentials: region and endpoint come from the command line.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


def aws_args(moto_server: MotoServer, prefix: str, *extra: str) -> list[str]:
    return [
        "cleanup",
        "aws",
        "--prefix",
        prefix,
        "--region",
        AWS_REGION,
        "--endpoint-url",
        moto_server.endpoint_url,
        *extra,
    ]


def test_cli_deletes_stale_queues_and_prints_a_report(
    now: float,
    credentials: None,
    moto_server: MotoServer,
    capsys: pytest.CaptureFixture[str],
    sqs: Any,
    sns: Any,
    prefix: str,
    topic_arn: str,
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    fresh = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)

    status = main(aws_args(moto_server, prefix, "--topic-arn", topic_arn))

    output = capsys.readouterr().out
    assert status == 0
    assert not queue_exists(sqs, stale.name) and queue_exists(sqs, fresh.name)
    assert "Deleted queues: 1" in output and stale.name in output
    assert "Kept queues: 1" in output and fresh.name in output
    assert "Removed subscriptions: 1" in output
    assert "Errors: 0" in output


def test_cli_dry_run_prints_json_and_deletes_nothing(
    now: float,
    credentials: None,
    moto_server: MotoServer,
    capsys: pytest.CaptureFixture[str],
    sqs: Any,
    sns: Any,
    prefix: str,
    topic_arn: str,
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)

    status = main(aws_args(moto_server, prefix, "--topic-arn", topic_arn, "--dry-run", "--json"))

    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["dry_run"] is True
    assert [queue["name"] for queue in report["deleted_queues"]] == [stale.name]
    assert queue_exists(sqs, stale.name)


def test_cli_takes_stale_after_and_grace_period(
    now: float,
    credentials: None,
    moto_server: MotoServer,
    capsys: pytest.CaptureFixture[str],
    sqs: Any,
    sns: Any,
    prefix: str,
    topic_arn: str,
) -> None:
    marked = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - FRESH_AGE)
    unmarked = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=None)

    status = main(
        aws_args(
            moto_server,
            prefix,
            "--topic-arn",
            topic_arn,
            "--stale-after",
            "10000",
            "--grace-period",
            "10000",
        )
    )
    assert status == 0
    assert "Kept queues: 2" in capsys.readouterr().out

    status = main(
        aws_args(moto_server, prefix, "--topic-arn", topic_arn, "--stale-after", "30", "--json")
    )
    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [queue["name"] for queue in report["deleted_queues"]] == [marked.name]
    assert [queue["name"] for queue in report["kept_queues"]] == [unmarked.name]


def test_cli_exits_non_zero_when_an_operation_fails(
    credentials: None,
    moto_server: MotoServer,
    capsys: pytest.CaptureFixture[str],
    prefix: str,
) -> None:
    missing_topic = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:{prefix}-missing"

    status = main(aws_args(moto_server, prefix, "--topic-arn", missing_topic))

    assert status == 1
    assert "Errors: 1" in capsys.readouterr().out


def test_cli_rejects_a_missing_prefix_or_topic(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["cleanup", "aws"])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--prefix" in error and "--topic-arn" in error


def test_cli_takes_the_region_from_the_topic_arn_and_errs_in_one_line(
    credentials: None, moto_server: MotoServer, capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    # no --region and no AWS_REGION: the ARN's region is used (moto answers for any region)
    topic = f"arn:aws:sns:eu-west-3:{AWS_ACCOUNT_ID}:{prefix}-missing"
    args = ["cleanup", "aws", "--prefix", prefix, "--topic-arn", topic]
    status = main([*args, "--endpoint-url", moto_server.endpoint_url])
    assert status == 1 and "Errors: 1" in capsys.readouterr().out  # the topic does not exist
    assert main(["cleanup", "aws", "--prefix", prefix, "--topic-arn", "not-an-arn"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not an SNS topic ARN" in error


def test_cli_runs_as_a_command(
    now: float, moto_server: MotoServer, sqs: Any, sns: Any, prefix: str, topic_arn: str
) -> None:
    stale = create_node_queue(sqs, sns, prefix=prefix, topic_arn=topic_arn, alive=now - STALE_AGE)
    script = Path(sys.executable).with_name("socketio-cloud")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "socketio_cloud.cli"]
    env = {**os.environ, **moto_server.environ()}

    completed = subprocess.run(
        [*command, *aws_args(moto_server, prefix, "--topic-arn", topic_arn, "--json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert [queue["name"] for queue in report["deleted_queues"]] == [stale.name]
    assert not queue_exists(sqs, stale.name)
