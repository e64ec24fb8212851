"""examples/your_app keeps the container contract of docs/your-app.md: PORT, /healthz 503 then
200, the broker from SIO_* variables, a wrong topic stops the start, SIGTERM closes the node."""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.app.nodes import REPO_ROOT
from tests.support.moto import AWS_ACCOUNT_ID, AWS_REGION, DUMMY_CREDENTIALS, MotoServer
from tests.support.services import free_port

EXAMPLE = REPO_ROOT / "examples" / "your_app"
STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples/your_app/main.py imported with an environment of no SIO_* variables."""
    for name in list(os.environ):
        if name.startswith("SIO_"):
            monkeypatch.delenv(name)
    spec = importlib.util.spec_from_file_location("your_app_main", EXAMPLE / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def get(module: ModuleType, path: str) -> int:
    """The status the example's ASGI app answers to ``GET path``."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await module.web({"type": "http", "method": "GET", "path": path}, receive, send)
    return int(sent[0]["status"])


async def test_healthz_is_503_until_the_node_joined_then_200(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = load_example(monkeypatch)
    assert await get(module, "/healthz") == 503
    await module.mgr.ready()
    try:
        assert await get(module, "/healthz") == 200
        assert await get(module, "/other") == 404
    finally:
        await module.mgr.close()


class Example:
    """examples/your_app/main.py as a process, as the container runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "main.py"],
            cwd=EXAMPLE,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": str(REPO_ROOT / "adapters"),
                "PORT": str(self.port),
                **env,
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def health(self) -> int | None:
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health() == 200:
                return
            assert self.process.poll() is None, self.log()
            time.sleep(0.1)
        raise AssertionError(f"not healthy within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Any]:
    started: list[Example] = []

    def start(env: dict[str, str]) -> Example:
        node = Example(env, tmp_path / f"example-{len(started)}.log")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def aws_env(moto_server: MotoServer, topic_arn: str) -> dict[str, str]:
    # no region variable: the region comes from the topic ARN
    return {
        "SIO_BACKEND": "aws",
        "SIO_TOPIC_ARN": topic_arn,
        "SIO_QUEUE_PREFIX": f"example-{secrets.token_hex(4)}",
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
    }


@pytest.mark.aws
def test_on_aws_the_example_joins_and_sigterm_deletes_its_queue(
    moto_server: MotoServer, example: Any
) -> None:
    sns, sqs = moto_server.client("sns"), moto_server.client("sqs")
    topic_arn = sns.create_topic(Name=f"example-{secrets.token_hex(4)}")["TopicArn"]
    env = aws_env(moto_server, topic_arn)
    try:
        node = example(env)
        node.wait_healthy()
        queues = sqs.list_queues(QueueNamePrefix=env["SIO_QUEUE_PREFIX"]).get("QueueUrls", [])
        assert len(queues) == 1

        assert node.stop() in STOPPED_BY_SIGTERM, node.log()
        queues = sqs.list_queues(QueueNamePrefix=env["SIO_QUEUE_PREFIX"]).get("QueueUrls", [])
        assert queues == [], node.log()
    finally:
        sns.delete_topic(TopicArn=topic_arn)


@pytest.mark.aws
def test_a_wrong_topic_stops_the_start_with_one_line_naming_topic_and_region(
    moto_server: MotoServer, example: Any
) -> None:
    missing = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:example-{secrets.token_hex(4)}"
    node = example(aws_env(moto_server, missing))
    status = node.process.wait(60)
    assert status != 0
    log = node.log()
    assert f"SNS topic {missing} does not exist in region {AWS_REGION}" in log
    assert node.health() is None  # never served


def test_a_bad_variable_stops_the_example_naming_it(example: Any) -> None:
    node = example({"SIO_BACKEND": "kafka"})
    assert node.process.wait(60) != 0
    assert "ConfigError: SIO_BACKEND: expected one of memory, aws" in node.log()


@pytest.mark.parametrize("name", ["main.py", "Dockerfile"])
def test_the_guide_shows_the_example_as_it_is(name: str) -> None:
    page = (REPO_ROOT / "docs" / "your-app.md").read_text()
    assert (EXAMPLE / name).read_text().rstrip("\n") in page


def test_the_dockerfile_keeps_the_contract() -> None:
    lines = (EXAMPLE / "Dockerfile").read_text().splitlines()
    assert "STOPSIGNAL SIGTERM" in lines
    assert 'CMD ["python", "main.py"]' in lines  # exec form: python is PID 1, gets SIGTERM
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert any("/healthz" in line for line in lines)
    assert any('"socketio-cloud[aws]"' in line for line in lines)
