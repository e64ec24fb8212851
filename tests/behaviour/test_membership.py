"""Who is in the cluster: heartbeats, server counts, nodes that close or die."""

from __future__ import annotations

import asyncio

import pytest

from tests.behaviour.conftest import Cluster
from tests.support.services import wait_until


async def _count(cluster: Cluster, index: int) -> int:
    return await cluster.nodes[index].manager.server_count()


async def test_every_node_counts_every_server(cluster: Cluster) -> None:
    for index in range(3):
        assert await _count(cluster, index) == 3


async def test_a_late_node_learns_the_cluster_and_is_learned(cluster: Cluster) -> None:
    await cluster.add_node()
    await cluster.converge()


async def test_idle_nodes_stay_counted_through_heartbeats(cluster: Cluster) -> None:
    # no traffic for twice the heartbeat timeout: only heartbeats keep the nodes known
    await asyncio.sleep(3.0)
    for index in range(3):
        assert await _count(cluster, index) == 3


async def test_a_closed_node_leaves_at_once(empty_cluster: Cluster) -> None:
    for _ in range(3):
        await empty_cluster.add_node(heartbeat_interval=5, heartbeat_timeout=120)
    await empty_cluster.converge()
    gone = empty_cluster.nodes.pop()
    await gone.stop()
    # far sooner than the 120 s heartbeat timeout: the close notice removed it
    await empty_cluster.converge()


async def test_a_killed_node_drops_out_after_the_heartbeat_timeout(cluster: Cluster) -> None:
    dead = cluster.nodes.pop()
    await dead.kill()
    await cluster.converge()


@pytest.mark.parametrize("request_kind", ["fetch_sockets", "server_side_emit_with_ack"])
async def test_pending_requests_complete_when_a_node_dies(
    cluster: Cluster, request_kind: str
) -> None:
    clients = [await cluster.connect(node, f"c{i}") for i, node in enumerate(cluster.nodes)]
    cluster.nodes[1].manager.on_server_event("q")(lambda: "from node1")
    dead = cluster.nodes.pop()
    await dead.kill()
    manager = cluster.nodes[0].manager
    if (
        manager.transport.membership == "heartbeats"
    ):  # Redis drops a dead node's subscriptions at once
        assert await manager.server_count() == 3  # not noticed yet
    if request_kind == "fetch_sockets":
        call = manager.fetch_sockets(timeout=60)
    else:
        call = manager.server_side_emit_with_ack("q", timeout=60)
    # the request ends when the dead node is struck off, long before its own 60 s timeout
    result = await asyncio.wait_for(call, 20)
    if request_kind == "fetch_sockets":
        assert {s.id for s in result} == {clients[0].sid(), clients[1].sid()}
    else:
        assert result == ["from node1"]


async def test_server_count_per_namespace(cluster: Cluster) -> None:
    await cluster.connect(cluster.nodes[0], "a", "/chat")
    await cluster.converge("/chat")
    assert await cluster.nodes[2].manager.server_count("/chat") == 3


async def test_manager_starts_by_itself_when_used_before_ready(empty_cluster: Cluster) -> None:
    first = await empty_cluster.add_node()
    manager = empty_cluster.backend.make_manager(heartbeat_interval=0.5, heartbeat_timeout=1.5)
    try:
        await manager.server_side_emit("hello")  # publishing needs the node to be started
        assert manager.is_ready

        async def both_count_two() -> bool:
            return await manager.server_count() == 2 and await first.manager.server_count() == 2

        await wait_until(both_count_two, 10, "both nodes to count each other")
    finally:
        await manager.close()
