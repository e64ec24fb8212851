"""The Flask-SocketIO example, two nodes per async mode and broker, driven by real clients:
every cluster feature crosses from one node to the other; SIGTERM closes each node cleanly.

The nodes are subprocesses (tests/sync/cluster.py); the example's socket events map onto
the sync manager's API: ``say`` (broadcast), ``invite``/``expel`` (enter/leave a room for a
socket of the other node), ``who`` (fetch_sockets), ``poll`` (emit_with_ack), ``servers``
(server_side_emit_with_ack), ``kick`` (disconnect of a remote sid).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.services import wait_until
from tests.sync.cluster import ChatClient, connect, wait_for_servers
from tests.sync.conftest import ExampleCluster

pytestmark = [pytest.mark.sync, pytest.mark.timeout(90)]


@pytest.fixture
async def pair(example_cluster: ExampleCluster) -> AsyncIterator[tuple[ChatClient, ChatClient]]:
    """A client on each node."""
    first, second = example_cluster.nodes
    alice = await connect(first, "alice")
    bob = await connect(second, "bob")
    try:
        yield alice, bob
    finally:
        for client in (alice, bob):
            if client.sio.connected:
                await client.sio.disconnect()


async def test_broadcast_reaches_both_nodes(pair: tuple[ChatClient, ChatClient]) -> None:
    alice, bob = pair
    assert await alice.call("say", {"text": "hello"}) is True
    await wait_until(lambda: bob.said and alice.said, message="the broadcast on both nodes")
    assert bob.said[0] == {"from": "alice", "text": "hello", "node": "n1"}


async def test_rooms_join_and_leave_from_the_other_node(
    pair: tuple[ChatClient, ChatClient],
) -> None:
    alice, bob = pair
    await alice.call("invite", {"sid": bob.sid, "room": "blue"})

    async def bob_in_blue() -> bool:
        return [s["name"] for s in await alice.call("who", "blue")] == ["bob"]

    await wait_until(bob_in_blue, message="bob in the room")
    await alice.call("say", {"text": "to blue", "room": "blue"})
    await wait_until(lambda: bob.said, message="the room message")
    assert bob.said[0]["text"] == "to blue"
    assert alice.said == []

    await alice.call("expel", {"sid": bob.sid, "room": "blue"})

    async def blue_empty() -> bool:
        return await alice.call("who", "blue") == []

    await wait_until(blue_empty, message="bob out of the room")


async def test_fetch_sockets_sees_every_node(pair: tuple[ChatClient, ChatClient]) -> None:
    alice, bob = pair
    found = {s["name"]: s for s in await bob.call("who")}
    assert set(found) == {"alice", "bob"}
    assert found["alice"]["sid"] == alice.sid
    assert alice.sid in found["alice"]["rooms"]


async def test_emit_with_ack_collects_remote_replies(
    pair: tuple[ChatClient, ChatClient],
) -> None:
    alice, bob = pair
    await bob.call("join", "quiz")
    answers = await alice.call("poll", {"room": "quiz", "text": "ready?"})
    assert answers == ["bob answers ready?"]


async def test_server_side_emit_with_ack(
    example_cluster: ExampleCluster, pair: tuple[ChatClient, ChatClient]
) -> None:
    alice, _ = pair
    reply = await alice.call("servers")
    assert reply["count"] == 2
    assert reply["others"] == [{"node": "n2", "clients": 1, "asker": "n1"}]


async def test_disconnect_of_a_remote_sid(pair: tuple[ChatClient, ChatClient]) -> None:
    alice, bob = pair
    await alice.call("kick", bob.sid)
    await wait_until(lambda: not bob.sio.connected, message="bob disconnected")
    assert [s["name"] for s in await alice.call("who")] == ["alice"]


async def test_sigterm_closes_each_node_cleanly(example_cluster: ExampleCluster) -> None:
    """Last of the module: the nodes leave one after the other (the first one gets a second
    SIGTERM while closing)."""
    first, second = example_cluster.nodes
    if example_cluster.broker == "aws":
        assert len(example_cluster.node_queues()) == 2

    assert first.terminate(signals=2) == 0, first.log()
    await wait_for_servers(second, 1)
    if example_cluster.broker == "aws":
        assert len(example_cluster.node_queues()) == 1
    assert second.terminate() == 0, second.log()

    for node in (first, second):
        report = node.exit_report()
        assert report["closed"] == [True], node.log()
        assert report["loop_running"] == [False]
        assert report["inbox_closed"] == [True]
        assert report["node_ready"] == [False]
        assert report["non_daemon_threads"] == []
        assert "never closed" not in node.log()
        assert "did not stop" not in node.log()
    if example_cluster.broker == "aws":
        assert example_cluster.node_queues() == []
