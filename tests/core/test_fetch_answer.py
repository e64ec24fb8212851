"""Answering FETCH_SOCKETS: the handshake map is built once per socket, the response is
encoded once, and a session msgpack cannot carry is sent empty."""

from __future__ import annotations

import gc
from typing import Any

from socketio_cloud import protocol
from socketio_cloud.local import MANY_SOCKETS
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType
from tests.core.conftest import PEER_A, CoreNode

ALL = {"rooms": [], "except": [], "flags": {}}


async def fetch(node: CoreNode, request_id: str) -> dict[str, Any]:
    count = len(node.transport.responses)
    await node.transport.feed(
        MessageType.FETCH_SOCKETS, PEER_A, data={"opts": ALL, "requestId": request_id}
    )
    assert len(node.transport.responses) == count + 1
    _, response = node.transport.responses[-1]
    assert response.data is not None
    return response.data


async def test_the_handshake_is_built_once_per_socket_and_forgotten_on_disconnect(
    node: CoreNode,
) -> None:
    sid = await node.connect()
    first = await fetch(node, "1" * 16)
    second = await fetch(node, "2" * 16)
    assert first["sockets"][0]["handshake"] is second["sockets"][0]["handshake"]
    node.manager.basic_disconnect(sid, "/")
    assert ("/", sid) not in node.manager._handshakes


async def test_a_session_msgpack_cannot_carry_is_sent_empty(node: CoreNode) -> None:
    recorded = node.transport.publish_response

    async def encoding(requester_uid: str, message: ClusterMessage) -> None:
        protocol.encode(message)  # as a broker's transport does: msgpack refuses an object
        await recorded(requester_uid, message)

    node.transport.publish_response = encoding  # type: ignore[method-assign]
    await node.connect()

    async def get_session(sid: str, namespace: str | None = None) -> Any:
        return {"lock": object()}

    node.sio.get_session = get_session  # type: ignore[method-assign]
    data = await fetch(node, "3" * 16)
    assert [socket["data"] for socket in data["sockets"]] == [{}]


def test_the_collector_is_paused_only_inside_and_restored() -> None:
    assert gc.isenabled()
    with protocol.gc_paused():
        assert not gc.isenabled()
        with protocol.gc_paused():  # nested: leaves it to the outer one
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    # a large message is decoded with the collector paused, and it is back on afterwards
    sockets = [
        {"id": f"s{i}", "rooms": [f"s{i}"], "data": {}, "handshake": {}} for i in range(3000)
    ]
    data = {"requestId": "1" * 16, "sockets": sockets}
    raw = protocol.encode(ClusterMessage(MessageType.FETCH_SOCKETS_RESPONSE, PEER_A, "/", data))
    assert len(raw) >= protocol.LARGE_MESSAGE
    decoded = protocol.decode(raw).data
    assert decoded is not None
    # the handshakes of so large an answer stay packed until read
    assert all(type(s["handshake"]) is protocol.PackedMap for s in decoded["sockets"])
    unpacked = [{**s, "handshake": s["handshake"].unpack()} for s in decoded["sockets"]]
    assert {**decoded, "sockets": unpacked} == data
    assert gc.isenabled()


async def test_many_local_sockets_are_described_with_the_collector_paused(
    node: CoreNode,
) -> None:
    sids = [await node.connect() for _ in range(MANY_SOCKETS)]
    collector_on: list[bool] = []

    def use(details: list[dict[str, Any]]) -> list[str]:
        collector_on.append(gc.isenabled())
        return [socket["id"] for socket in details]

    described = await node.manager._use_local_socket_details("/", BroadcastOptions(), use)
    assert described == sids and collector_on == [False] and gc.isenabled()
    # an answer to another node and the node's own fetch see them all
    data = await fetch(node, "4" * 16)
    assert [socket["id"] for socket in data["sockets"]] == sids
    local = await node.manager.of("/")._with_flag("local", True).fetch_sockets()
    assert [socket.id for socket in local] == sids and gc.isenabled()
    # few sockets: the collector is left alone
    few = BroadcastOptions(rooms=(sids[0],))
    assert await node.manager._use_local_socket_details("/", few, use) == sids[:1]
    assert collector_on == [False, True]
