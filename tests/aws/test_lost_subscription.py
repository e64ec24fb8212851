"""A node whose SNS subscription vanished notices within a heartbeat timeout, not at the next
liveness check (minutes later), and subscribes again."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from socketio_cloud.transports.aws import AwsSqsManager
from tests.backends.aws import AwsBackend
from tests.support.services import wait_until

pytestmark = pytest.mark.aws


async def _counts(manager: AwsSqsManager, expected: int) -> bool:
    return await manager.server_count() == expected


async def test_a_lost_subscription_is_restored_within_a_heartbeat_timeout(
    aws_cluster: AwsBackend,
) -> None:
    options = {"heartbeat_interval": 0.5, "heartbeat_timeout": 1.5, "delete_delay": 0}
    a, b = (aws_cluster.make_manager(**options) for _ in range(2))
    for manager in (a, b):
        socketio.AsyncServer(client_manager=manager)
        await manager.ready()
    heard: list[str] = []
    a.on_server_event("hello")(heard.append)
    try:
        await wait_until(lambda: _counts(a, 2), 15, "the nodes to meet")
        assert a.transport.liveness_interval >= 300  # the old, slow way to notice
        subscription = a.transport.subscription_arn
        assert subscription is not None
        await asyncio.to_thread(aws_cluster.client("sns").unsubscribe, SubscriptionArn=subscription)

        # b keeps heartbeating; a hears nothing, drops b, rechecks and subscribes again
        async def heard_again() -> bool:
            await b.server_side_emit("hello", "again")
            return "again" in heard

        await wait_until(heard_again, 20, "node a to receive again")
        assert a.transport.stats["sns:Subscribe"] >= 2
        await wait_until(lambda: _counts(a, 2), 10, "node a to count node b again")
    finally:
        for manager in (a, b):
            await manager.close()
