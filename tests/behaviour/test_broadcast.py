"""Plain python-socketio emits become cluster-wide; the fluent selector; emitters."""

from __future__ import annotations

import asyncio

from tests.behaviour.conftest import Cluster
from tests.behaviour.harness import Client


async def _clients(cluster: Cluster) -> list[Client]:
    return [await cluster.connect(node, f"c{i}") for i, node in enumerate(cluster.nodes)]


async def test_emit_reaches_clients_on_every_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await cluster.nodes[1].sio.emit("hello", {"n": 1})
    for client in clients:
        await client.wait_for("hello")
        assert client.received("hello") == [({"n": 1},)]


async def test_tuple_data_sends_several_arguments(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await cluster.nodes[0].sio.emit("multi", (1, "two", [3]))
    for client in clients:
        await client.wait_for("multi")
        assert client.received("multi") == [(1, "two", [3])]


async def test_emit_to_a_room_reaches_members_on_all_nodes_only(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await clients[1].sio.call("join", "blue")
    await clients[2].sio.call("join", "blue")
    await cluster.nodes[0].sio.emit("news", "for blue", to="blue")
    await cluster.nodes[0].sio.emit("marker", "end")
    for client in clients:
        await client.wait_for("marker")
    await clients[1].wait_for("news")
    await clients[2].wait_for("news")
    assert clients[0].received("news") == []


async def test_emit_to_several_rooms_delivers_once_per_client(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await clients[1].sio.call("join", "a")
    await clients[1].sio.call("join", "b")
    await clients[2].sio.call("join", "b")
    await cluster.nodes[0].sio.emit("both", 1, to=["a", "b"])
    await cluster.nodes[0].sio.emit("marker", "end")
    for client in clients:
        await client.wait_for("marker")
    assert clients[1].received("both") == [(1,)]
    assert clients[2].received("both") == [(1,)]
    assert clients[0].received("both") == []


async def test_skip_sid_skips_a_client_on_another_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await cluster.nodes[0].sio.emit("all-but", 1, skip_sid=[clients[2].sid()])
    await cluster.nodes[0].sio.emit("marker", "end")
    for client in clients:
        await client.wait_for("marker")
    assert clients[0].received("all-but") == [(1,)]
    assert clients[1].received("all-but") == [(1,)]
    assert clients[2].received("all-but") == []


async def test_emit_to_a_sid_on_another_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await cluster.nodes[0].sio.emit("direct", "hi", to=clients[2].sid())
    await clients[2].wait_for("direct")
    await cluster.nodes[0].sio.emit("marker", "end")
    for client in clients:
        await client.wait_for("marker")
    assert clients[0].received("direct") == [] and clients[1].received("direct") == []


async def test_binary_arguments_cross_nodes(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    payload = bytes(range(256))
    await cluster.nodes[0].sio.emit("bin", ({"blob": payload, "n": 1}, b"\x00\xff"))
    for client in clients:
        await client.wait_for("bin")
        assert client.received("bin") == [({"blob": payload, "n": 1}, b"\x00\xff")]


async def test_selector_to_except_and_local(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    for client in clients:
        await client.sio.call("join", "room1")
    await clients[1].sio.call("join", "room2")
    manager = cluster.nodes[0].manager
    await manager.to("room1").except_("room2").emit("sel", 1)
    await manager.local.emit("local-only", 2)
    await manager.volatile.emit("vol", 3)
    await cluster.nodes[0].sio.emit("marker", "end")
    for client in clients:
        await client.wait_for("marker")
    assert [len(c.received("sel")) for c in clients] == [1, 0, 1]
    assert [len(c.received("local-only")) for c in clients] == [1, 0, 0]
    assert [len(c.received("vol")) for c in clients] == [1, 1, 1]


async def test_emit_in_another_namespace(cluster: Cluster) -> None:
    admin = await cluster.connect(cluster.nodes[2], "admin", "/admin")
    plain = await cluster.connect(cluster.nodes[2], "plain")
    await cluster.converge("/admin")
    await cluster.nodes[0].manager.of("/admin").emit("adm", "x")
    await admin.wait_for("adm", namespace="/admin")
    await cluster.nodes[0].sio.emit("marker", "end")
    await plain.wait_for("marker")
    assert plain.received("adm") == []


async def test_emitter_reaches_clients_on_every_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    await clients[0].sio.call("join", "r")
    await clients[2].sio.call("join", "r")
    admin = await cluster.connect(cluster.nodes[1], "admin", "/admin")
    emitter = cluster.emitter()
    await emitter.emit("from-emitter", 1, b"\x01")
    await emitter.to("r").except_(clients[2].sid()).emit("room-only", 2)
    await emitter.of("admin").emit("adm", 3)
    await emitter.server_side_emit("ignored-by-clients")
    for client in clients:
        await client.wait_for("from-emitter")
        assert client.received("from-emitter") == [(1, b"\x01")]
    await clients[0].wait_for("room-only")
    await admin.wait_for("adm", namespace="/admin")
    await emitter.emit("marker", "end")
    for client in clients:
        await client.wait_for("marker")
    assert [len(c.received("room-only")) for c in clients] == [1, 0, 0]


async def test_emitter_is_not_counted_as_a_server(cluster: Cluster) -> None:
    emitter = cluster.emitter()
    await emitter.emit("x")
    await asyncio.sleep(0)  # let the message be dispatched at least once
    await cluster.nodes[0].sio.emit("marker", "end")
    client = await cluster.connect(cluster.nodes[1], "c")
    await emitter.emit("after")
    await client.wait_for("after")
    for node in cluster.nodes:
        assert await node.manager.server_count() == 3


async def test_emitter_room_operations(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    emitter = cluster.emitter()
    await emitter.sockets_join("team")
    node = cluster.nodes[0]

    async def all_in_team() -> bool:
        return len(await node.manager.to("team").fetch_sockets()) == 3

    from tests.support.services import wait_until

    await wait_until(all_in_team, 10, "everyone to join 'team'")
    await emitter.to("team").except_(clients[0].sid()).sockets_leave("team")

    async def one_in_team() -> bool:
        return [s.id for s in await node.manager.to("team").fetch_sockets()] == [clients[0].sid()]

    await wait_until(one_in_team, 10, "all but one to leave 'team'")
    await emitter.to(clients[1].sid()).disconnect_sockets()
    await asyncio.wait_for(clients[1].disconnected["/"].wait(), 10)
    assert not clients[0].disconnected["/"].is_set()
