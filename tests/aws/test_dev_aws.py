"""``socketio-cloud dev aws``: a patched moto on loopback for library users, and the check
that recognises an unpatched moto's failed receives."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import socketio
from botocore.exceptions import ClientError

from socketio_cloud import AwsSqsManager
from socketio_cloud.dev.aws import is_moto_binary_attribute_error
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.aws

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@dataclass
class DevAws:
    """A running ``socketio-cloud dev aws`` child and the lines it printed."""

    process: subprocess.Popen[str]
    exports: dict[str, str] = field(default_factory=dict)
    stdout: list[str] = field(default_factory=list)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "socketio_cloud.cli", "dev", "aws", *args]


def child_environ() -> dict[str, str]:
    # the command must not depend on any AWS setting of the caller
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    paths = [str(REPO_ROOT / "adapters"), str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return env


def read_exports(process: subprocess.Popen[str]) -> tuple[dict[str, str], list[str]]:
    """The ``export NAME=value`` lines, read until AWS_SECRET_ACCESS_KEY or a deadline."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    exports: dict[str, str] = {}
    seen: list[str] = []
    while "AWS_SECRET_ACCESS_KEY" not in exports:
        line = lines.get(timeout=START_TIMEOUT)
        if line is None:
            break
        seen.append(line)
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
    return exports, seen


@pytest.fixture
def dev_aws() -> Iterator[DevAws]:
    process = subprocess.Popen(
        command("--port", str(free_port()), "--region", "eu-west-1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environ(),
    )
    try:
        exports, seen = read_exports(process)
        yield DevAws(process, exports, seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)


def test_it_prints_the_variables_that_point_boto3_at_it(dev_aws: DevAws) -> None:
    assert dev_aws.exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert dev_aws.exports["AWS_REGION"] == "eu-west-1"
    assert dev_aws.exports["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(dev_aws.exports)


async def test_a_cluster_works_against_it_and_sigterm_stops_it_cleanly(
    dev_aws: DevAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in dev_aws.exports.items():
        monkeypatch.setenv(name, value)
    topic_arn = boto3.client("sns").create_topic(Name="dev-aws")["TopicArn"]
    prefix = f"dev-{uuid.uuid4().hex[:8]}"
    managers = [
        AwsSqsManager(
            topic_arn=topic_arn,
            queue_prefix=prefix,
            wait_time=1,
            heartbeat_interval=0.5,
            heartbeat_timeout=2.0,
        )
        for _ in "ab"
    ]
    for manager in managers:
        socketio.AsyncServer(client_manager=manager)
    answers: list[object] = []

    @managers[1].on_server_event("who")
    async def who(*args: object) -> str:
        return "b"

    for manager in managers:
        await manager.ready()
    try:

        async def counts_two() -> bool:
            return await managers[0].server_count() == 2

        await wait_until(counts_two, 15, "the first node to count two servers")
        # a request carries its payload in a Binary attribute, which unpatched moto loses
        answers = await managers[0].server_side_emit_with_ack("who", timeout=5)
    finally:
        for manager in managers:
            await manager.close()

    assert answers == ["b"]
    dev_aws.process.send_signal(signal.SIGTERM)
    assert dev_aws.process.wait(STOP_TIMEOUT) == 0


def test_a_busy_port_is_named_before_anything_starts() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            command("--port", str(port)),
            capture_output=True,
            text=True,
            env=child_environ(),
            timeout=60,
        )

    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "in use" in result.stderr
    assert "export" not in result.stdout


def moto_error(operation: str, status: int, message: str, server: str) -> ClientError:
    response = {
        "Error": {"Code": str(status), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {"server": server}},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


MOTO_PAGE = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n"
)


def test_an_unpatched_motos_failed_receive_is_recognised() -> None:
    error = moto_error("ReceiveMessage", 500, MOTO_PAGE, "Werkzeug/3.1.9 Python/3.11.7")

    assert is_moto_binary_attribute_error(error)


def test_an_aws_internal_error_is_not_taken_for_the_moto_bug() -> None:
    response = {
        "Error": {"Code": "InternalError", "Message": "We encountered an internal error."},
        "ResponseMetadata": {"HTTPStatusCode": 500, "HTTPHeaders": {"server": "Server"}},
    }
    error = ClientError(response, "ReceiveMessage")  # type: ignore[arg-type]

    assert not is_moto_binary_attribute_error(error)


def test_other_operations_and_statuses_are_not_the_moto_bug() -> None:
    werkzeug = "Werkzeug/3.1.9 Python/3.11.7"

    assert not is_moto_binary_attribute_error(moto_error("Publish", 500, MOTO_PAGE, werkzeug))
    assert not is_moto_binary_attribute_error(
        moto_error("ReceiveMessage", 400, "QueueDoesNotExist", werkzeug)
    )
