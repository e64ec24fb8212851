"""The deployed task role allows every AWS call the transport really makes."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import socketio

from socketio_cloud.transports.aws import AwsSqsManager
from tests.backends.aws import AwsBackend
from tests.cdk import Synthesis
from tests.support.services import wait_until

pytestmark = [pytest.mark.aws, pytest.mark.cdk]

# batch operations are authorized by the action of the single one
BATCH_ACTIONS = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sns:PublishBatch": "sns:Publish",
}


def granted_actions(synthesis: Synthesis) -> set[str]:
    role = synthesis.stack.service.task_definition.task_role
    role_id = synthesis.stack.get_logical_id(role.node.default_child)
    actions: set[str] = set()
    for policy in synthesis.resources("AWS::IAM::Policy").values():
        properties = policy["Properties"]
        if {"Ref": role_id} not in properties.get("Roles", []):
            continue
        for statement in properties["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


async def test_the_task_role_covers_every_call_of_a_nodes_life(
    aws_cluster: AwsBackend, full_synthesis: Synthesis
) -> None:
    s3 = aws_cluster.client("s3")
    bucket = f"sio-test-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    aws_cluster.client("sns").create_topic(Name=aws_cluster.topic_name)
    options: dict[str, Any] = {
        "topic_arn": aws_cluster.topic_arn,  # as deployed: the stack passes the topic's ARN
        "large_payload_bucket": bucket,
        "liveness_interval": 0.2,
        "delete_delay": 0,
        "heartbeat_interval": 0.5,
        "heartbeat_timeout": 1.5,
    }
    managers = [aws_cluster.make_manager(**options) for _ in range(2)]
    for manager in managers:
        socketio.AsyncServer(client_manager=manager)
        await manager.ready()
    a, b = managers
    try:
        await wait_until(lambda: _counts(a, 2), 10, "the nodes to meet")
        b.on_server_event("ping")(lambda: "pong")
        await a.emit("big", b"x" * 300_000, namespace="/")
        assert await a.server_side_emit_with_ack("ping") == ["pong"]
        await a.fetch_sockets()
        await wait_until(lambda: a.transport.stats.get("sqs:TagQueue", 0) > 2, 10, "liveness")
    finally:
        for manager in managers:
            await manager.close()
    used = set()
    for manager in managers:
        used.update(BATCH_ACTIONS.get(name, name) for name in manager.transport.stats)
    assert {"sns:Publish", "sqs:ReceiveMessage", "s3:PutObject", "s3:GetObject"} <= used
    assert used <= granted_actions(full_synthesis)


async def _counts(manager: AwsSqsManager, expected: int) -> bool:
    return await manager.server_count() == expected
