"""AwsSqsManager and AwsSqsEmitter: the AWS transport behind the public API."""

from __future__ import annotations

import pytest
import socketio

from socketio_cloud import AwsSqsEmitter, AwsSqsManager
from socketio_cloud.exceptions import PayloadTooLarge
from socketio_cloud.transports.aws import AwsSqsTransport
from tests.backends.aws import AwsBackend
from tests.support.services import wait_until

pytestmark = pytest.mark.aws


async def test_manager_and_emitter_are_built_on_the_aws_transport(aws_cluster: AwsBackend) -> None:
    manager = aws_cluster.make_manager(heartbeat_interval=1.0, heartbeat_timeout=3.0)
    emitter = aws_cluster.make_emitter()

    assert isinstance(manager, AwsSqsManager)
    assert isinstance(manager.transport, AwsSqsTransport)
    assert manager.heartbeat_interval == 1.0
    assert isinstance(emitter, AwsSqsEmitter)
    assert isinstance(emitter.transport, AwsSqsTransport)
    await emitter.close()


async def test_two_managers_count_each_other_and_leave_no_queue(aws_cluster: AwsBackend) -> None:
    managers = [
        aws_cluster.make_manager(heartbeat_interval=0.5, heartbeat_timeout=1.5) for _ in "ab"
    ]
    for manager in managers:
        socketio.AsyncServer(client_manager=manager)
        await manager.ready()
    try:
        for manager in managers:

            async def counts_two(manager: AwsSqsManager = manager) -> bool:
                return await manager.server_count() == 2

            await wait_until(counts_two, 15, "both nodes to count two servers")
    finally:
        for manager in managers:
            await manager.close()

    urls = (
        aws_cluster.client("sqs")
        .list_queues(QueueNamePrefix=aws_cluster.queue_prefix)
        .get("QueueUrls", [])
    )
    assert urls == []


async def test_an_emit_over_the_sns_limit_raises_payload_too_large(aws_cluster: AwsBackend) -> None:
    manager = aws_cluster.make_manager()
    sio = socketio.AsyncServer(client_manager=manager)
    await manager.ready()
    try:
        with pytest.raises(PayloadTooLarge):
            await sio.emit("file", b"x" * 300_000)
    finally:
        await manager.close()


async def test_an_emitter_over_the_sns_limit_raises_payload_too_large(
    aws_cluster: AwsBackend,
) -> None:
    emitter = aws_cluster.make_emitter()
    try:
        with pytest.raises(PayloadTooLarge):
            await emitter.emit("file", b"x" * 300_000)
    finally:
        await emitter.close()
