"""Python and Node servers in one cluster: every operation, both directions, on each broker
with a Node adapter to run beside ours (Redis Streams, PostgreSQL).

The cluster (``mixed_cluster``, built in conftest.py) is one Node server on the broker's Node
adapter and two Python servers on our manager. Clients are python-socketio clients connected
to either side. To show that something did *not* arrive, tests send a marker afterwards on
the same path and wait for it: each broker keeps each sender's order. One exception: Node's
PostgreSQL adapter fetches an attachment (binary data) asynchronously, and a plain message
sent after it may reach Node's clients first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from socketio_cloud.exceptions import ServerSideEmitTimeout
from tests.interop.conftest import postgres_cluster, redis_streams_cluster
from tests.interop.harness import Client, MixedCluster
from tests.support.services import wait_until

pytestmark = pytest.mark.interop

CLUSTERS = {"redis_streams": redis_streams_cluster, "postgres": postgres_cluster}


@pytest.fixture(
    params=[
        pytest.param("redis_streams", marks=pytest.mark.redis),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
async def mixed_cluster(request: pytest.FixtureRequest) -> AsyncIterator[MixedCluster]:
    async with CLUSTERS[request.param](request) as cluster:
        yield cluster


def got(client: Client, event: str, count: int = 1) -> Any:
    return lambda: len(client.received(event)) >= count


async def test_every_server_counts_the_other_two(mixed_cluster: MixedCluster) -> None:
    assert await mixed_cluster.node_count() == 3
    assert await mixed_cluster.py1.manager.server_count() == 3
    assert await mixed_cluster.py2.manager.server_count("/") == 3


async def test_python_broadcast_honours_rooms_and_except_on_node(
    mixed_cluster: MixedCluster,
) -> None:
    c = mixed_cluster
    in_r1 = await c.client(c.node, "node-a", "r1")
    in_r1_r2 = await c.client(c.node, "node-b", "r1", "r2")
    outside = await c.client(c.node, "node-c")
    py_in_r1 = await c.client(c.py2, "py-a", "r1")

    await c.py1.sio.emit("news", {"n": 1}, to="r1", skip_sid=None)
    await c.py1.manager.to("r1").except_("r2").emit("filtered", "x", 2)
    await c.py1.sio.emit("marker")
    for client in (in_r1, in_r1_r2, outside, py_in_r1):
        await wait_until(got(client, "marker"), message=f"the marker at {client.name}")

    assert in_r1.received("news") == [[{"n": 1}]]
    assert in_r1_r2.received("news") == [[{"n": 1}]]
    assert outside.received("news") == []
    assert in_r1.received("filtered") == [["x", 2]]
    assert in_r1_r2.received("filtered") == []
    assert py_in_r1.received("filtered") == [["x", 2]]


async def test_node_broadcast_honours_rooms_and_except_on_python(
    mixed_cluster: MixedCluster,
) -> None:
    c = mixed_cluster
    one = await c.client(c.py1, "py-a", "r1")
    two = await c.client(c.py2, "py-b", "r1", "r2")
    other = await c.client(c.py2, "py-c")
    local = await c.client(c.node, "node-a", "r1")

    await c.node.call("emit", rooms=["r1"], event="news", args=[{"n": 1}, "two"])
    await c.node.call("emit", rooms=["r1"], event="filtered", args=[3], **{"except": ["r2"]})
    await c.node.call("emit", event="marker")
    for client in (one, two, other, local):
        await wait_until(got(client, "marker"), message=f"the marker at {client.name}")

    assert one.received("news") == two.received("news") == [[{"n": 1}, "two"]]
    assert other.received("news") == []
    assert one.received("filtered") == local.received("filtered") == [[3]]
    assert two.received("filtered") == []


async def test_binary_arguments_cross_both_ways(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    on_node = await c.client(c.node, "node-a")
    on_python = await c.client(c.py2, "py-a")
    payload = bytes(range(256))

    await c.py1.sio.emit("from-python", {"blob": payload, "text": "t"})
    await c.node.call("emit", event="from-node", args=[payload, {"nested": [payload]}])
    for client in (on_node, on_python):
        await wait_until(got(client, "from-python"), message="the Python binary broadcast")
        await wait_until(got(client, "from-node"), message="the Node binary broadcast")
        assert client.received("from-python") == [[{"blob": payload, "text": "t"}]]
        assert client.received("from-node") == [[payload, {"nested": [payload]}]]


async def test_node_fetch_sockets_sees_python_sockets(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    python_client = await c.client(c.py1, "py-a", "r1", "r2")
    node_client = await c.client(c.node, "node-a", "r1")

    sockets = await c.node.call("fetchSockets", rooms=["r1"])
    by_id = {s["id"]: s for s in sockets}
    assert set(by_id) == {python_client.sid, node_client.sid}
    remote = by_id[python_client.sid]
    assert remote["rooms"] == sorted([python_client.sid, "r1", "r2"])
    assert remote["data"] == {"origin": "python", "name": "py-a"}
    handshake = remote["handshake"]
    assert handshake["auth"] == {"name": "py-a", "rooms": ["r1", "r2"]}
    assert handshake["address"] == "127.0.0.1"
    assert handshake["url"].startswith("/socket.io/")
    assert handshake["query"]["EIO"] == "4"
    assert isinstance(handshake["issued"], int) and isinstance(handshake["time"], str)
    assert handshake["headers"]["host"] == f"127.0.0.1:{c.py1.port}"


async def test_python_fetch_sockets_sees_node_sockets(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    node_client = await c.client(c.node, "node-a", "r1")
    other_python = await c.client(c.py2, "py-b", "r1")
    await c.client(c.py2, "py-c", "r3")

    sockets = await c.py1.manager.fetch_sockets("r1")
    by_id = {s.id: s for s in sockets}
    assert set(by_id) == {node_client.sid, other_python.sid}
    remote = by_id[node_client.sid]
    assert remote.rooms == {node_client.sid, "r1"}
    assert remote.data == {"origin": "node", "name": "node-a"}
    assert remote.handshake["auth"] == {"name": "node-a", "rooms": ["r1"]}
    assert remote.handshake["address"] == "127.0.0.1"
    assert by_id[other_python.sid].data == {"origin": "python", "name": "py-b"}
    everyone = await c.py1.manager.fetch_sockets()
    assert len(everyone) == 3


async def test_node_moves_a_python_socket_between_rooms(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    client = await c.client(c.py1, "py-a", "r1")
    await c.node.call("remoteJoin", sid=client.sid, room="joined")
    await wait_until(lambda: "joined" in c.py1.local_rooms(client.sid), message="the remote join")
    await c.node.call("remoteLeave", sid=client.sid, room="r1")
    await wait_until(lambda: "r1" not in c.py1.local_rooms(client.sid), message="the remote leave")
    await c.node.call("remoteEmit", sid=client.sid, event="direct", args=["hi"])
    await wait_until(got(client, "direct"), message="the event sent to the remote socket")
    assert client.received("direct") == [["hi"]]
    await c.node.call("remoteDisconnect", sid=client.sid, close=True)
    await wait_until(client.disconnected.is_set, message="the remote disconnect")


async def test_python_moves_a_node_socket_between_rooms(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    client = await c.client(c.node, "node-a", "r1")

    async def node_rooms() -> set[str]:
        sockets = await c.node.call("localSockets")
        return {room for s in sockets if s["id"] == client.sid for room in s["rooms"]}

    [remote] = await c.py1.manager.fetch_sockets(client.sid)
    await remote.join("joined")
    await wait_until(lambda: _contains(node_rooms(), "joined"), message="the remote join")
    # python-socketio's own API reaches remote sids too
    await c.py2.sio.leave_room(client.sid, "r1")
    await wait_until(lambda: _lacks(node_rooms(), "r1"), message="the remote leave")
    await remote.emit("direct", "hi")
    await wait_until(got(client, "direct"), message="the event sent to the remote socket")
    await c.py1.sio.disconnect(client.sid)
    await wait_until(client.disconnected.is_set, message="the remote disconnect")


async def _contains(rooms: Any, room: str) -> bool:
    return room in await rooms


async def _lacks(rooms: Any, room: str) -> bool:
    return room not in await rooms


async def test_sockets_join_and_leave_cross_both_ways(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    python_client = await c.client(c.py1, "py-a", "r1")
    node_client = await c.client(c.node, "node-a", "r1")
    bystander = await c.client(c.py2, "py-b", "r2")

    await c.node.call("socketsJoin", rooms=["r1"], join=["from-node"])
    await wait_until(
        lambda: "from-node" in c.py1.local_rooms(python_client.sid), message="Node's join"
    )
    await c.py2.manager.in_("r1").sockets_join(["from-python"])
    await wait_until(
        lambda: _ids_in(c, "from-python", {python_client.sid, node_client.sid}),
        message="Python's join",
    )
    assert "from-node" not in c.py2.local_rooms(bystander.sid)

    await c.node.call("socketsLeave", rooms=["from-node"], leave=["r1"])
    await wait_until(
        lambda: "r1" not in c.py1.local_rooms(python_client.sid), message="Node's leave"
    )
    await c.py1.manager.in_("from-python").sockets_leave("from-node")
    await wait_until(
        lambda: _ids_in(c, "from-node", set()), message="Python's leave on the Node socket"
    )


async def _ids_in(c: MixedCluster, room: str, expected: set[str]) -> bool:
    sockets = await c.node.call("fetchSockets", rooms=[room])
    return {s["id"] for s in sockets} == expected


async def test_disconnect_sockets_crosses_both_ways(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    python_client = await c.client(c.py2, "py-a", "doomed")
    node_client = await c.client(c.node, "node-a", "doomed")
    survivor = await c.client(c.py2, "py-b", "safe")

    await c.node.call("disconnectSockets", rooms=["doomed"], close=True)
    await wait_until(python_client.disconnected.is_set, message="Node's disconnect")
    await wait_until(node_client.disconnected.is_set, message="the Node socket to go")

    node_client = await c.client(c.node, "node-b", "doomed-too")
    await c.py1.manager.in_("doomed-too").disconnect_sockets()
    await wait_until(node_client.disconnected.is_set, message="Python's disconnect")
    assert not survivor.disconnected.is_set()


async def test_server_side_emit_reaches_both_sides(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    await c.py1.manager.server_side_emit("hello", "from-python", {"k": [1]})
    event = await c.node.wait_event(lambda e: e["event"] == "serverSideEmit")
    assert (event["name"], event["args"], event["withAck"]) == (
        "hello",
        ["from-python", {"k": [1]}],
        False,
    )
    await wait_until(lambda: c.py2.server_events, message="py-2 to get it")
    assert c.py2.server_events == [("hello", ["from-python", {"k": [1]}])]
    assert c.py1.server_events == []

    await c.node.call("serverSideEmit", event="hello", args=["from-node", b"\x01"])
    for server in (c.py1, c.py2):
        await wait_until(lambda s=server: len(s.server_events) >= 1 + (s is c.py2), message="it")
    assert c.py1.server_events == [("hello", ["from-node", b"\x01"])]


async def test_server_side_emit_with_ack_collects_every_server(
    mixed_cluster: MixedCluster,
) -> None:
    c = mixed_cluster
    replies = await c.py1.manager.server_side_emit_with_ack("ping", 1)
    assert sorted(replies) == ["node-1:ping", "py-2:ping"]
    replies = await c.node.call("serverSideEmitWithAck", event="ping", args=[2])
    assert sorted(replies) == ["py-1:ping", "py-2:ping"]


async def test_server_side_emit_with_ack_times_out_on_a_silent_server(
    mixed_cluster: MixedCluster,
) -> None:
    c = mixed_cluster
    with pytest.raises(ServerSideEmitTimeout) as caught:
        # nobody listens to "unheard": no server answers
        await c.py1.manager.server_side_emit_with_ack("unheard", timeout=1)
    assert caught.value.responses == []


async def test_broadcast_with_acks_collects_every_client(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    await c.client(c.node, "node-a", "r1")
    await c.client(c.node, "node-b")
    await c.client(c.py1, "py-a", "r1")
    await c.client(c.py2, "py-b", "r1")

    replies = await c.py1.manager.to("r1").timeout(5).emit_with_ack("ask", 1)
    assert sorted(replies) == ["node-a:ask", "py-a:ask", "py-b:ask"]
    replies = await c.node.call("emitWithAck", rooms=["r1"], timeout=5000, event="ask", args=[2])
    assert sorted(replies) == ["node-a:ask", "py-a:ask", "py-b:ask"]
    replies = await c.node.call("emitWithAck", timeout=5000, event="ask", args=[3])
    assert sorted(replies) == ["node-a:ask", "node-b:ask", "py-a:ask", "py-b:ask"]


async def test_emitter_reaches_node_and_python_alike(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    on_node = await c.client(c.node, "node-a", "r1")
    on_python = await c.client(c.py1, "py-a", "r1")
    not_in_room = await c.client(c.py2, "py-b")
    emitter = c.emitter()

    await emitter.to("r1").emit("from-emitter", "x", b"\x02")
    await emitter.emit("marker")
    # Node's PostgreSQL adapter delivers an attachment when its SELECT returns, so a plain
    # NOTIFY sent later can overtake it there: wait for the event itself in the room
    for client in (on_node, on_python):
        await wait_until(got(client, "from-emitter"), message=f"the event at {client.name}")
    for client in (on_node, on_python, not_in_room):
        await wait_until(got(client, "marker"), message=f"the marker at {client.name}")
    assert on_node.received("from-emitter") == on_python.received("from-emitter")
    assert on_node.received("from-emitter") == [["x", b"\x02"]]
    assert not_in_room.received("from-emitter") == []

    await emitter.in_("r1").sockets_join("emitted")
    await wait_until(lambda: _ids_in(c, "emitted", {on_node.sid, on_python.sid}), message="join")

    await emitter.server_side_emit("hello", "from-emitter")
    await c.node.wait_event(lambda e: e["event"] == "serverSideEmit")
    for server in (c.py1, c.py2):
        await wait_until(lambda s=server: s.server_events, message="the server-side emit")
        assert server.server_events == [("hello", ["from-emitter"])]

    await emitter.in_("emitted").disconnect_sockets(True)
    await wait_until(on_node.disconnected.is_set, message="the Node client to be disconnected")
    await wait_until(on_python.disconnected.is_set, message="the Python client to go")
    assert not not_in_room.disconnected.is_set()
