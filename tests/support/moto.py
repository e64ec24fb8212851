"""moto's AWS server for the tests: real HTTP on 127.0.0.1, started once per session.

The server runs in-process (moto's ``ThreadedMotoServer``), so its backends can be patched
here; clients reach it over HTTP like they would reach AWS. Registered from
``tests/conftest.py`` via ``pytest_plugins``; tests ask for the ``moto_server`` fixture.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from socketio_cloud.dev.aws import EmbeddedAws, fix_moto_sns_binary_attributes
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


class MotoServer(EmbeddedAws):
    """The demo's embedded moto server, plus what tests need: :meth:`reset` and clients with
    extra options.

    Stopping it simulates a broker outage: connections are refused until :meth:`start`
    (on the same port). The backends live in this process, so resources survive a
    stop/start; :meth:`reset` empties them.
    """

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
