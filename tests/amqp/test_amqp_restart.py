"""A RabbitMQ restart in the middle of a stream of broadcasts: nodes notice, reconnect with
backoff, redeclare their queues and room bindings, and the stream goes on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from socketio_cloud.exceptions import TransportError
from socketio_cloud.transports.amqp import AmqpManager
from tests.amqp.rabbitmq_server import RabbitMQServer, find_script
from tests.backends.amqp import AmqpBackend
from tests.behaviour.conftest import Cluster
from tests.support.services import require_service, wait_until

pytestmark = [pytest.mark.amqp, pytest.mark.slow]


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    """A RabbitMQ node of this module's own, since the test restarts it."""
    require_service(find_script("rabbitmq-server") is not None, "rabbitmq-server missing")
    server = RabbitMQServer(Path(tmp_path_factory.mktemp("rabbitmq-restart")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def cluster(restartable: RabbitMQServer) -> AsyncIterator[Cluster]:
    cluster = Cluster(AmqpBackend(restartable))
    try:
        for _ in range(2):
            await cluster.add_node()
        await cluster.converge()
        yield cluster
    finally:
        await cluster.close()


async def test_a_broker_restart_mid_stream(cluster: Cluster, restartable: RabbitMQServer) -> None:
    receiver = await cluster.connect(cluster.nodes[0], "receiver")
    await receiver.sio.call("join", "stream")
    sender = cluster.nodes[1]
    managers = [node.manager for node in cluster.nodes]
    assert all(isinstance(m, AmqpManager) for m in managers)
    seen_down: list[bool] = []
    sent: list[int] = []
    failed: list[int] = []

    async def stream() -> None:
        for i in range(100_000):
            try:
                await sender.sio.emit("tick", i, to="stream")
                sent.append(i)
            except TransportError:
                failed.append(i)
            seen_down.append(not all(m.connected for m in managers))
            await asyncio.sleep(0.02)

    task = asyncio.ensure_future(stream())
    try:
        await wait_until(lambda: len(receiver.received("tick")) >= 5, 10, "ticks before")
        await asyncio.to_thread(restartable.restart)
        await wait_until(lambda: all(m.connected for m in managers), 30, "both reconnected")
        count = len(receiver.received("tick"))
        await wait_until(
            lambda: len(receiver.received("tick")) >= count + 10, 15, "ticks after the restart"
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert any(seen_down), "the outage was never reported"
    assert failed, "publishing during the outage should fail with TransportError"
    ticks = [args[0] for args in receiver.received("tick")]
    assert ticks == sorted(ticks), "delivered out of order"
    assert len(ticks) == len(set(ticks)), "delivered twice"
    for manager in managers:
        stats = manager.transport.stats  # type: ignore[attr-defined]
        assert stats["reconnects"] >= 1
        # one attempt per backoff delay (0.2 s doubling up to 10 s), never a hot loop
        assert stats["connect_attempts"] <= 15, stats
    # the room binding was made again on the new broker: routed, not received by everyone
    assert managers[0].transport.stats["room_bindings"] == 1  # type: ignore[attr-defined]


async def test_connections_closed_by_the_broker_lose_nothing_that_was_confirmed(
    cluster: Cluster, restartable: RabbitMQServer
) -> None:
    # the queues outlive their connections (x-expires), so what was confirmed to the sender
    # while the receiver reconnected waits in its queue; deliveries handled but not yet
    # acknowledged come again and are dropped, not handed to clients twice
    receiver = await cluster.connect(cluster.nodes[0], "receiver")
    await receiver.sio.call("join", "stream")
    sender = cluster.nodes[1]
    managers = [node.manager for node in cluster.nodes]
    sent: list[int] = []

    async def stream() -> None:
        for i in range(100_000):
            with contextlib.suppress(TransportError):
                await sender.sio.emit("tick", i, to="stream")
                sent.append(i)
            await asyncio.sleep(0.005)

    task = asyncio.ensure_future(stream())
    try:
        await wait_until(lambda: len(receiver.received("tick")) >= 20, 10, "ticks before")
        await asyncio.to_thread(restartable.ctl, "close_all_connections", "test")
        await wait_until(lambda: not all(m.connected for m in managers), 10, "the loss noticed")
        await wait_until(lambda: all(m.connected for m in managers), 30, "both reconnected")
        count = len(sent)
        await wait_until(lambda: len(sent) >= count + 20, 15, "ticks confirmed after")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def all_received() -> bool:
        return {args[0] for args in receiver.received("tick")} >= set(sent)

    await wait_until(all_received, 15, "every confirmed tick")
    ticks = [args[0] for args in receiver.received("tick")]
    assert ticks == sorted(ticks), "delivered out of order"
    assert len(ticks) == len(set(ticks)), "delivered twice"
