"""The double driven by the official JavaScript SDK (@azure/service-bus from npm)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import pytest

pytest.importorskip("azure.servicebus")

from azure.servicebus.aio.management import ServiceBusAdministrationClient
from azure.servicebus.management import SqlRuleFilter

from tests.servicebus_double.double import ServiceBusDoubleThread
from tests.support.services import require_service

JS_DIR = Path(__file__).parent / "js"

pytestmark = [pytest.mark.azure, pytest.mark.interop]


async def test_javascript_sdk_sends_and_receives_through_a_filter(
    servicebus_double: ServiceBusDoubleThread,
) -> None:
    node = shutil.which("node")
    require_service(node is not None, "node is not installed")
    require_service(
        (JS_DIR / "node_modules" / "@azure" / "service-bus").is_dir(),
        f"npm packages missing: run npm ci in {JS_DIR}",
    )
    topic = f"js-{uuid.uuid4().hex[:8]}"
    admin = ServiceBusAdministrationClient.from_connection_string(
        servicebus_double.admin_connection_string, connection_verify=servicebus_double.ca_file
    )
    async with admin:
        await admin.create_topic(topic)
        await admin.create_subscription(topic, "node-js")
        await admin.delete_rule(topic, "node-js", "$Default")
        await admin.create_rule(topic, "node-js", "others", filter=SqlRuleFilter("uid <> 'js'"))
    process = await asyncio.create_subprocess_exec(
        str(node),
        "send_receive_filtered.js",
        servicebus_double.connection_string,
        topic,
        "node-js",
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result == {
        "received": [{"body": "for-js", "applicationProperties": {"uid": "other", "nsp": "/"}}],
        "extra": 0,
    }
