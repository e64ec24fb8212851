"""``python -m app`` as a process: configuration errors, graceful stop, the AWS backend."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.nodes import REPO_ROOT, AppProcess
from tests.support.moto import MotoServer

# uvicorn re-raises the signal it handled after a graceful shut down
STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)


def test_an_invalid_variable_stops_the_service_before_it_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "SIO_HEARTBEAT_INTERVAL": "often"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SIO_HEARTBEAT_INTERVAL: expected a number of seconds" in result.stderr


def test_sigterm_stops_the_node_gracefully(tmp_path: Path) -> None:
    node = AppProcess("node-a", {"SIO_BACKEND": "memory", "SIO_LOG_LEVEL": "info"}, tmp_path)
    try:
        node.wait_healthy()
    finally:
        status = node.stop()
    log = node.log()
    assert status in STOPPED_BY_SIGTERM, log
    assert "node node-a: left the cluster" in log


def test_a_taken_port_is_a_failed_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "app"],
            cwd=REPO_ROOT,
            env={"PATH": "/usr/bin:/bin", "SIO_HOST": "127.0.0.1", "PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "address already in use" in result.stderr.lower()


@pytest.mark.aws
def test_on_aws_the_node_queue_lives_as_long_as_the_node(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    sns, sqs = moto_server.client("sns"), moto_server.client("sqs")
    name = f"app-main-{secrets.token_hex(4)}"
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    # only AWS_REGION, as on ECS: boto3 alone would not find the region
    aws = {
        key: value for key, value in moto_server.environ().items() if key != "AWS_DEFAULT_REGION"
    }
    env = {
        **aws,
        "SIO_BACKEND": "aws",
        "SIO_TOPIC_ARN": topic_arn,
        "SIO_QUEUE_PREFIX": name,
        "SIO_LOG_LEVEL": "info",
    }
    node = AppProcess("node-a", env, tmp_path)
    try:
        node.wait_healthy()
        uid = (node.health() or {})["uid"]
        queues = sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
        assert [url.rsplit("/", 1)[-1] for url in queues] == [f"{name}-{uid}"]
    finally:
        status = node.stop()
        sns.delete_topic(TopicArn=topic_arn)
    assert status in STOPPED_BY_SIGTERM, node.log()
    assert sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []) == []
