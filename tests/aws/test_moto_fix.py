"""The moto fixture: its server, and the SNS binary-attribute fix it applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.moto import MotoServer, sns_binary_attribute_roundtrip

pytestmark = pytest.mark.aws

REPO_ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = bytes(range(256)) + b"\x93\x03\xa1/"  # every byte value, invalid UTF-8 included

# Runs in a fresh interpreter, where moto is not patched.
UNPATCHED_ROUNDTRIP = """
import json
from socketio_cloud.dev.aws import is_moto_binary_attribute_error
from tests.support.moto import MotoServer, sns_binary_attribute_roundtrip
server = MotoServer(fix_binary_attributes=False)
server.start()
try:
    received = sns_binary_attribute_roundtrip(server, bytes.fromhex({payload!r}), "unpatched")
    outcome = {{"received": received.hex() if isinstance(received, bytes) else repr(received)}}
except Exception as exc:
    outcome = {{"error": repr(exc), "recognised": is_moto_binary_attribute_error(exc)}}
finally:
    server.stop()
print(json.dumps(outcome))
"""


def test_binary_attribute_arrives_intact_through_sns_raw_delivery(
    moto_server: MotoServer,
) -> None:
    received = sns_binary_attribute_roundtrip(moto_server, PAYLOAD, f"fix-{uuid.uuid4().hex}")

    assert received == PAYLOAD


def test_moto_still_needs_the_binary_attribute_fix() -> None:
    script = UNPATCHED_ROUNDTRIP.format(payload=PAYLOAD.hex())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "adapters"), str(REPO_ROOT)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    # The known bug: moto answers ReceiveMessage with HTTP 500 and the message is lost.
    assert "(500)" in outcome.get("error", ""), (
        f"unpatched moto no longer fails as it used to ({outcome}); if the payload now "
        "arrives intact, remove fix_moto_sns_binary_attributes() from socketio_cloud/dev/aws.py"
    )
    assert outcome["recognised"], "is_moto_binary_attribute_error() missed the failed receive"


def test_server_refuses_connections_while_stopped_and_restarts_on_the_same_port(
    moto_server: MotoServer,
) -> None:
    sqs = moto_server.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"outage-{uuid.uuid4().hex}")["QueueUrl"]
    port = moto_server.port

    moto_server.stop()
    try:
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{moto_server.endpoint_url}/moto-api/", timeout=2)
    finally:
        moto_server.start()

    assert moto_server.port == port
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
