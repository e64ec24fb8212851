"""moto's AWS server for the tests: real HTTP on 127.0.0.1, started once per session.

The server runs in-process (moto's ``ThreadedMotoServer``), so its backends can be patched
here; clients reach it over HTTP like they would reach AWS. Registered from
``tests/conftest.py`` via ``pytest_plugins``; tests ask for the ``moto_server`` fixture.
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from app.embedded_aws import fix_moto_sns_binary_attributes
from tests.support.services import require_service

__all__ = [
    "AWS_ACCOUNT_ID",
    "AWS_REGION",
    "DUMMY_CREDENTIALS",
    "MotoServer",
    "fix_moto_sns_binary_attributes",
    "moto_server",
    "sns_binary_attribute_roundtrip",
]

AWS_REGION = "us-east-1"
AWS_ACCOUNT_ID = "123456789012"  # moto's default account
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_START_TIMEOUT = 10.0


class MotoServer:
    """A moto server on 127.0.0.1 that can be stopped and started again on the same port.

    Stopping it simulates a broker outage: connections are refused until :meth:`start`.
    The backends live in this process, so resources survive a stop/start; :meth:`reset`
    empties them.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Start serving (on a free port the first time, on the same port afterwards)."""
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            return
        if self.port:
            # ThreadedMotoServer.start() would wait forever if its thread cannot bind.
            _check_port_free(self.port)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        self._wait_until_answering()

    def stop(self) -> None:
        """Stop serving; the port is released and connections are refused."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()

    def reset(self) -> None:
        """Delete every resource in every moto backend."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=_START_TIMEOUT) as response:
            response.read()

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service_name`` with dummy credentials, pointed at this server."""
        import boto3

        options: dict[str, Any] = {
            "region_name": AWS_REGION,
            "endpoint_url": self.endpoint_url,
            **DUMMY_CREDENTIALS,
        }
        options.update(kwargs)
        return boto3.client(service_name, **options)

    def environ(self) -> dict[str, str]:
        """Environment variables that point boto3 (in this or a child process) at the server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": AWS_REGION,
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        }

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1) as reply:
                    reply.read()
                return
            except (urllib.error.URLError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server on port {self.port} does not answer") from exc
                time.sleep(0.05)


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"cannot restart moto: port {port} is taken") from exc


def sns_binary_attribute_roundtrip(server: MotoServer, payload: bytes, name: str) -> Any:
    """Publish ``payload`` as a Binary attribute via SNS raw delivery and receive it from SQS.

    Creates topic and queue ``name``. Returns the BinaryValue the receiver got, None when no
    message arrived within a few seconds; lets the ClientError through when receiving fails.
    """
    from botocore.config import Config

    no_retries = Config(retries={"total_max_attempts": 1})
    sns = server.client("sns", config=no_retries)
    sqs = server.client("sqs", config=no_retries)
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    sns.publish(
        TopicArn=topic_arn,
        Message="roundtrip",
        MessageAttributes={"data": {"DataType": "Binary", "BinaryValue": payload}},
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reply = sqs.receive_message(
            QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        for message in reply.get("Messages", []):
            return message.get("MessageAttributes", {}).get("data", {}).get("BinaryValue")
    return None


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's server on 127.0.0.1 with the SNS binary-attribute fix, for the whole session."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        require_service(False, "moto[server] is not installed (pip install 'moto[server]')")
    # One line per request from werkzeug would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fix_moto_sns_binary_attributes()
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
