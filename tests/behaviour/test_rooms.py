"""Room membership across nodes: python-socketio calls, selector operations, room events."""

from __future__ import annotations

import asyncio

from tests.behaviour.conftest import Cluster
from tests.behaviour.harness import Client
from tests.support.services import wait_until


async def _clients(cluster: Cluster) -> list[Client]:
    return [await cluster.connect(node, f"c{i}") for i, node in enumerate(cluster.nodes)]


async def _members(cluster: Cluster, room: str) -> set[str]:
    return {s.id for s in await cluster.nodes[0].manager.to(room).fetch_sockets()}


async def test_enter_and_leave_room_for_a_sid_on_another_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    sio0 = cluster.nodes[0].sio
    remote = clients[2].sid()
    await sio0.enter_room(remote, "vip")
    await wait_until(lambda: "vip" in cluster.nodes[2].sio.rooms(remote), 10, "remote join")
    await sio0.emit("to-vip", 1, to="vip")
    await clients[2].wait_for("to-vip")
    await sio0.leave_room(remote, "vip")
    await wait_until(lambda: "vip" not in cluster.nodes[2].sio.rooms(remote), 10, "remote leave")


async def test_close_room_empties_it_on_every_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    for client in clients:
        await client.sio.call("join", "doomed")
    assert len(await _members(cluster, "doomed")) == 3
    await cluster.nodes[1].sio.close_room("doomed")

    async def empty() -> bool:
        return not await _members(cluster, "doomed")

    await wait_until(empty, 10, "room to be closed everywhere")


async def test_disconnect_a_sid_on_another_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await cluster.nodes[0].sio.disconnect(clients[1].sid())
    await asyncio.wait_for(clients[1].disconnected["/"].wait(), 10)
    assert not clients[0].disconnected["/"].is_set()
    assert not clients[2].disconnected["/"].is_set()


async def test_sockets_join_and_leave_with_selector(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await clients[0].sio.call("join", "src")
    await clients[2].sio.call("join", "src")
    manager = cluster.nodes[1].manager
    await manager.in_("src").sockets_join(["dst", "dst2"])

    async def joined() -> bool:
        return await _members(cluster, "dst") == {clients[0].sid(), clients[2].sid()}

    await wait_until(joined, 10, "src members to join dst")
    await manager.in_("dst").except_(clients[0].sid()).sockets_leave("dst")

    async def left() -> bool:
        return await _members(cluster, "dst") == {clients[0].sid()}

    await wait_until(left, 10, "all but one to leave dst")
    assert await _members(cluster, "dst2") == {clients[0].sid(), clients[2].sid()}


async def test_disconnect_sockets_with_close_closes_connections(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await clients[1].sio.call("join", "gone")
    await clients[2].sio.call("join", "gone")
    await cluster.nodes[0].manager.in_("gone").disconnect_sockets(close=True)
    await asyncio.wait_for(clients[1].disconnected["/"].wait(), 10)
    await asyncio.wait_for(clients[2].disconnected["/"].wait(), 10)
    await wait_until(lambda: not clients[2].sio.connected, 10, "engine.io connection to close")
    assert clients[0].sio.connected


async def test_room_events_fire_for_local_changes(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    seen: list[tuple[object, ...]] = []
    for event in ("create-room", "join-room", "leave-room", "delete-room"):
        node.manager.on(event, lambda *args, event=event: seen.append((event, *args)))

    async def async_listener(namespace: str, room: str, sid: str) -> None:
        seen.append(("async-join", namespace, room, sid))

    node.manager.on("join-room")(async_listener)
    client = await cluster.connect(node, "c")
    sid = client.sid()
    await client.sio.call("join", "lobby")
    await node.sio.leave_room(sid, "lobby")
    assert ("create-room", "/", "lobby") in seen
    assert ("join-room", "/", "lobby", sid) in seen
    assert ("leave-room", "/", "lobby", sid) in seen
    assert ("delete-room", "/", "lobby") in seen
    await wait_until(lambda: ("async-join", "/", "lobby", sid) in seen, 5, "async listener")
    # a socket's own room is a room too, as in Node
    assert ("create-room", "/", sid) in seen


async def test_remote_room_changes_fire_room_events_on_the_owning_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    seen: list[tuple[object, ...]] = []
    cluster.nodes[2].manager.on("join-room", lambda *args: seen.append(args))
    await cluster.nodes[0].manager.in_(clients[2].sid()).sockets_join("far")
    await wait_until(lambda: ("/", "far", clients[2].sid()) in seen, 10, "join-room on node2")
