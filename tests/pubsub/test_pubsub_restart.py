"""The emulator stopped and started again on the same port mid-stream: it comes back
empty (no topic, no subscription), as a broker that lost its state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType
from tests.backends.pubsub import PubSubBackend
from tests.pubsub.conftest import StartNode
from tests.support.services import wait_until

pytestmark = [pytest.mark.pubsub, pytest.mark.slow]

A, B = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"


def broadcast(uid: str, *args: Any) -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["event", *args])
    return ClusterMessage(MessageType.BROADCAST, uid, "/", data)


async def test_nodes_survive_an_emulator_restart(
    pubsub_cluster: PubSubBackend, start_node: StartNode
) -> None:
    options = {"create_topic": True, "pull_timeout": 2.0, "publish_timeout": 2.0}
    a, _ = await start_node(A, **options)
    b, inbox_b = await start_node(B, **options)
    await a.publish(broadcast(A, "before"))
    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the first broadcast")

    emulator = pubsub_cluster.emulator
    await asyncio.to_thread(emulator.stop)
    await wait_until(lambda: not b.connected, 15, "B to notice the outage")
    with pytest.raises(TransportError):
        await a.publish(broadcast(A, "lost"))
    assert not a.connected

    # while the broker is away the pull loop backs off instead of spinning
    pulls = b.stats["Pull"]
    await asyncio.sleep(2.0)
    assert b.stats["Pull"] - pulls < 20

    await asyncio.to_thread(emulator.start)

    async def delivered() -> bool:
        try:
            await a.publish(broadcast(A, "after"))
        except TransportError:
            return False
        return any(m.data and m.data["packet"]["data"][1] == "after" for m in inbox_b.messages)

    await wait_until(delivered, 60, "a broadcast after the restart", interval=1.0)
    await wait_until(lambda: a.connected and b.connected, 30, "both nodes connected")
    # the restarted broker lost everything: the topic and both subscriptions were re-created
    assert b.stats["CreateSubscription"] >= 2
    assert sorted(await pubsub_cluster.node_resources(B)) == [b.subscription]


async def test_a_publish_pending_at_close_fails_instead_of_hanging(
    pubsub_cluster: PubSubBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A, publish_timeout=60.0)
    await asyncio.to_thread(pubsub_cluster.emulator.stop)
    pending = asyncio.ensure_future(a.publish(broadcast(A, "never")))
    # the sender keeps retrying while the broker is away
    await wait_until(lambda: a.stats["Publish"] >= 3, 15, "publish retries")
    assert not pending.done()
    await a.abort()
    with pytest.raises(TransportError):
        await asyncio.wait_for(pending, 10)
