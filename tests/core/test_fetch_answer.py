"""Answering FETCH_SOCKETS: the handshake map is built once per socket, the response is
encoded once, and a session msgpack cannot carry is sent empty."""

from __future__ import annotations

import gc
from typing import Any

from socketio_cloud import protocol
from socketio_cloud.protocol import ClusterMessage, MessageType
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
    assert protocol.decode(raw).data == data
    assert gc.isenabled()
