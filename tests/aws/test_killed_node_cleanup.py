"""End to end: a node killed without closing is swept by the cleanup, and nobody else is."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from socketio_cloud.cleanup.aws import cleanup
from socketio_cloud.transports.aws import AwsSqsManager
from tests.backends.aws import AwsBackend
from tests.support.services import wait_until

pytestmark = pytest.mark.aws


async def test_the_cleanup_removes_exactly_the_killed_nodes_queue_and_subscription(
    aws_cluster: AwsBackend,
) -> None:
    # live nodes refresh their mark every 0.5 s; the cleanup calls a mark stale after 3 s
    managers: list[AwsSqsManager] = []
    for _ in range(3):
        manager = aws_cluster.make_manager(
            liveness_interval=0.5, heartbeat_interval=0.5, heartbeat_timeout=1.5
        )
        socketio.AsyncServer(client_manager=manager)
        await manager.ready()
        managers.append(manager)
    dead = managers.pop()
    dead_queue = dead.transport.queue_url
    dead_subscription = dead.transport.subscription_arn
    await dead.abort()
    sqs, sns = aws_cluster.client("sqs"), aws_cluster.client("sns")
    try:

        async def swept() -> bool:
            report = await asyncio.to_thread(
                cleanup,
                sqs,
                sns,
                queue_prefix=aws_cluster.queue_prefix,
                topic_arn=aws_cluster.topic_arn,
                stale_after=3,
                grace_period=3,
            )
            assert report.ok, report.errors
            assert all(q.url == dead_queue for q in report.deleted_queues), report
            return any(q.url == dead_queue for q in report.deleted_queues)

        await wait_until(swept, 30, "the cleanup to delete the dead node's queue")
        queues = sqs.list_queues(QueueNamePrefix=aws_cluster.queue_prefix)["QueueUrls"]
        assert sorted(queues) == sorted(m.transport.queue_url for m in managers)
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=aws_cluster.topic_arn)
        arns = {s["SubscriptionArn"] for s in subscriptions["Subscriptions"]}
        assert dead_subscription not in arns
        assert {m.transport.subscription_arn for m in managers} <= arns
        for manager in managers:  # the survivors still form a cluster

            async def counts_two(manager: AwsSqsManager = manager) -> bool:
                return await manager.server_count() == 2

            await wait_until(counts_two, 10, "the survivors to count two servers")
    finally:
        for manager in managers:
            await manager.close()
