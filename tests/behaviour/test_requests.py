"""Requests that gather answers from every node: fetch_sockets, acks, server-side emits."""

from __future__ import annotations

import asyncio

import pytest

from socketio_cloud import AckTimeoutError, ServerSideEmitTimeout
from tests.behaviour.conftest import Cluster
from tests.behaviour.harness import Client
from tests.support.services import wait_until


async def _clients(cluster: Cluster) -> list[Client]:
    return [await cluster.connect(node, f"c{i}") for i, node in enumerate(cluster.nodes)]


async def test_fetch_sockets_returns_every_socket_with_its_details(cluster: Cluster) -> None:
    clients = [
        await cluster.connect(node, f"user{i}", headers={"X-Team": "rt"})
        for i, node in enumerate(cluster.nodes)
    ]
    await clients[1].sio.call("join", "blue")
    sockets = await cluster.nodes[0].manager.fetch_sockets()
    by_id = {s.id: s for s in sockets}
    assert set(by_id) == {c.sid() for c in clients}
    remote = by_id[clients[1].sid()]
    assert remote.namespace == "/"
    assert remote.rooms == {clients[1].sid(), "blue"}
    assert remote.data == {"name": "user1"}
    handshake = remote.handshake
    assert handshake["auth"] == {"name": "user1"}
    assert handshake["headers"]["x-team"] == "rt"
    assert handshake["query"]["EIO"] == "4"
    assert handshake["url"].startswith("/socket.io/")
    assert handshake["address"] == "127.0.0.1"
    assert isinstance(handshake["issued"], int) and handshake["time"].endswith(")")
    in_blue = await cluster.nodes[2].manager.fetch_sockets(to="blue")
    assert [s.id for s in in_blue] == [clients[1].sid()]


async def test_fetch_sockets_local_only(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    sockets = await cluster.nodes[1].manager.local.fetch_sockets()
    assert [s.id for s in sockets] == [clients[1].sid()]


async def test_remote_socket_methods_act_on_the_live_socket(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    clients[2].ack_replies["question"] = "answer"
    manager = cluster.nodes[0].manager
    [remote] = await manager.to(clients[2].sid()).fetch_sockets()
    await remote.emit("poke", 1)
    await clients[2].wait_for("poke")
    assert await remote.emit_with_ack("question", timeout=5) == "answer"
    await remote.join("r1")
    await wait_until(lambda: "r1" in cluster.nodes[2].sio.rooms(remote.id), 10, "join")
    await remote.leave("r1")
    await wait_until(lambda: "r1" not in cluster.nodes[2].sio.rooms(remote.id), 10, "leave")
    await remote.disconnect()
    await asyncio.wait_for(clients[2].disconnected["/"].wait(), 10)


async def test_emit_with_ack_collects_every_clients_reply(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    for client in clients:
        client.ack_replies["vote"] = lambda c: c.name
    replies = await cluster.nodes[1].manager.timeout(5).emit_with_ack("vote", "?")
    assert sorted(replies) == ["c0", "c1", "c2"]


@pytest.mark.parametrize("namespace", ["/", "/chat"])
async def test_emit_with_ack_reaches_every_client_with_its_own_id_in_a_namespace(
    cluster: Cluster, namespace: str
) -> None:
    # many clients on one node: each gets the event under its own acknowledgement id, and
    # plain data and data the packet class encodes (bytes) both arrive as sent
    clients = [await cluster.connect(cluster.nodes[i % 2], f"c{i}", namespace) for i in range(6)]
    for client in clients:
        client.ack_replies["vote"] = lambda c: c.name
    await cluster.converge(namespace)
    manager = cluster.nodes[2].manager
    for args in (("?", {"n": [1, 2]}), ("?", b"\x00\xff")):
        replies = await manager.of(namespace).timeout(5).emit_with_ack("vote", *args)
        assert sorted(replies) == sorted(c.name for c in clients)
    for client in clients:
        assert client.received("vote", namespace) == [("?", {"n": [1, 2]}), ("?", b"\x00\xff")]


async def test_emit_with_ack_with_no_recipients_returns_empty(cluster: Cluster) -> None:
    assert await cluster.nodes[0].manager.to("nobody").timeout(5).emit_with_ack("x") == []


async def test_emit_with_ack_timeout_carries_partial_replies(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    clients[0].ack_replies["slow"] = "fast one"
    clients[1].ack_replies["slow"] = "fast two"
    clients[2].slow_events["slow"] = 3.0
    with pytest.raises(AckTimeoutError) as caught:
        await cluster.nodes[2].manager.timeout(1).emit_with_ack("slow")
    assert sorted(caught.value.responses) == ["fast one", "fast two"]


async def test_call_to_a_sid_on_another_node(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    clients[2].ack_replies["ping"] = "pong"
    assert await cluster.nodes[0].sio.call("ping", to=clients[2].sid(), timeout=5) == "pong"


async def test_emit_callback_for_a_remote_client(cluster: Cluster) -> None:
    clients = await _clients(cluster)
    clients[1].ack_replies["hi"] = "hello back"
    got: list[object] = []
    await cluster.nodes[0].sio.emit("hi", to=clients[1].sid(), callback=got.append)
    await wait_until(lambda: got == ["hello back"], 10, "the callback")


async def test_server_side_emit_reaches_other_servers_only(cluster: Cluster) -> None:
    seen: dict[str, list[tuple[object, ...]]] = {n.name: [] for n in cluster.nodes}
    for node in cluster.nodes:
        node.manager.on_server_event("hello")(lambda *a, n=node.name: seen[n].append(a))
    await cluster.nodes[0].manager.server_side_emit("hello", "world", 1)
    await wait_until(lambda: seen["node1"] and seen["node2"], 10, "server events")
    assert seen["node1"] == [("world", 1)] and seen["node2"] == [("world", 1)]
    assert seen["node0"] == []


async def test_server_side_emit_with_ack_returns_each_servers_reply(cluster: Cluster) -> None:
    for node in cluster.nodes:

        async def answer(question: str, name: str = node.name) -> str:
            return f"{name}: {question}"

        node.manager.on_server_event("ask")(answer)
    replies = await cluster.nodes[1].manager.server_side_emit_with_ack("ask", "ok?")
    assert sorted(replies) == ["node0: ok?", "node2: ok?"]


async def test_server_side_emit_with_ack_timeout_carries_partial_replies(cluster: Cluster) -> None:
    cluster.nodes[1].manager.on_server_event("ask")(lambda: "one")
    # node2 has no handler and so never answers, like a Node server without listener
    with pytest.raises(ServerSideEmitTimeout) as caught:
        await cluster.nodes[0].manager.server_side_emit_with_ack("ask", timeout=1)
    assert caught.value.responses == ["one"]


async def test_requests_with_no_other_node_complete_at_once(empty_cluster: Cluster) -> None:
    node = await empty_cluster.add_node()
    client = await empty_cluster.connect(node, "alone")
    assert [s.id for s in await node.manager.fetch_sockets()] == [client.sid()]
    assert await node.manager.server_side_emit_with_ack("anyone?", timeout=30) == []
