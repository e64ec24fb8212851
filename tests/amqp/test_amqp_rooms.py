"""Room-routed delivery with real nodes and clients: who receives what, and the ordering
guarantee for join-then-broadcast (docs/amqp.md, "Ordering")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from socketio_cloud.transports.amqp import AmqpManager
from tests.backends.amqp import AmqpBackend
from tests.behaviour.conftest import Cluster
from tests.support.services import wait_until

pytestmark = pytest.mark.amqp


@pytest.fixture
async def cluster(backend_amqp: AmqpBackend) -> AsyncIterator[Cluster]:
    cluster = Cluster(backend_amqp)
    try:
        for _ in range(3):
            await cluster.add_node()
        await cluster.converge()
        yield cluster
    finally:
        await cluster.close()


def _stats(cluster: Cluster, index: int) -> Any:
    manager = cluster.nodes[index].manager
    assert isinstance(manager, AmqpManager)
    return manager.transport.stats


async def test_a_node_with_no_member_receives_none_of_a_rooms_broadcasts(
    cluster: Cluster,
) -> None:
    member = await cluster.connect(cluster.nodes[0], "member")
    bystander = await cluster.connect(cluster.nodes[1], "bystander")
    await member.sio.call("join", "lobby")
    for i in range(30):
        await cluster.nodes[2].sio.emit("chat", i, to="lobby")
    await cluster.nodes[2].sio.emit("marker", "end")
    await member.wait_for("marker")
    await bystander.wait_for("marker")
    assert [args[0] for args in member.received("chat")] == list(range(30))
    assert bystander.received("chat") == []
    assert _stats(cluster, 1)["received_by_room"] == 0
    assert _stats(cluster, 0)["received_by_room"] == 30


async def test_a_broadcast_after_enter_room_returned_reaches_the_socket(
    cluster: Cluster,
) -> None:
    client = await cluster.connect(cluster.nodes[0], "client")
    for i in range(20):
        # the "join" handler awaits sio.enter_room, which returns once the room is bound
        await client.sio.call("join", f"room-{i}")
        await cluster.nodes[1].sio.emit("hello", i, to=f"room-{i}")
    await wait_until(lambda: len(client.received("hello")) == 20, 10, "20 room broadcasts")
    assert [args[0] for args in client.received("hello")] == list(range(20))


async def test_a_broadcast_after_sockets_join_from_another_node_reaches_the_socket(
    cluster: Cluster,
) -> None:
    client = await cluster.connect(cluster.nodes[0], "client")
    sender = cluster.nodes[2].manager
    for i in range(20):
        await sender.in_(client.sid()).sockets_join(f"joined-{i}")
        await sender.to(f"joined-{i}").emit("hello", i)
    await wait_until(lambda: len(client.received("hello")) == 20, 10, "20 room broadcasts")
    assert [args[0] for args in client.received("hello")] == list(range(20))


async def test_an_emitter_broadcast_after_its_sockets_join_reaches_the_socket(
    cluster: Cluster,
) -> None:
    client = await cluster.connect(cluster.nodes[1], "client")
    emitter = cluster.emitter()
    for i in range(10):
        await emitter.in_(client.sid()).sockets_join(f"e-{i}")
        await emitter.to(f"e-{i}").emit("hello", i)
    await wait_until(lambda: len(client.received("hello")) == 10, 10, "10 room broadcasts")


async def test_bindings_follow_local_membership(cluster: Cluster) -> None:
    client = await cluster.connect(cluster.nodes[0], "client")
    await client.sio.call("join", "a")
    await client.sio.call("join", "b")
    assert _stats(cluster, 0)["room_bindings"] == 2
    # close_room from another node is routed to the room's key, and the node unbinds it
    await cluster.nodes[2].manager.close_room("a")
    await wait_until(lambda: _stats(cluster, 0)["room_bindings"] == 1, 10, "room a unbound")
    await client.sio.disconnect()
    await wait_until(lambda: _stats(cluster, 0)["room_bindings"] == 0, 10, "room b unbound")
