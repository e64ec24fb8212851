"""What the core does with each message a transport hands it."""

from __future__ import annotations

from socketio_cloud.protocol import MessageType
from tests.core.conftest import PEER_A, CoreNode

ALL = {"rooms": [], "except": [], "flags": {}}


async def test_room_changes_from_other_nodes_apply_to_local_sockets(node: CoreNode) -> None:
    sid = await node.connect()
    await node.transport.feed(MessageType.SOCKETS_JOIN, PEER_A, data={"opts": ALL, "rooms": ["r"]})
    assert "r" in node.manager.get_rooms(sid, "/")
    leave = {"opts": {**ALL, "rooms": ["r"]}, "rooms": ["r"]}
    await node.transport.feed(MessageType.SOCKETS_LEAVE, PEER_A, data=leave)
    assert "r" not in node.manager.get_rooms(sid, "/")


async def test_messages_for_a_namespace_the_node_does_not_serve_are_dropped(
    node: CoreNode,
) -> None:
    await node.transport.feed(
        MessageType.FETCH_SOCKETS, PEER_A, "/elsewhere", {"opts": ALL, "requestId": "1" * 16}
    )
    assert node.transport.responses == []


async def test_fetch_sockets_is_answered_to_the_requester_with_the_local_sockets(
    node: CoreNode,
) -> None:
    sid = await node.connect()
    await node.transport.feed(
        MessageType.FETCH_SOCKETS, PEER_A, data={"opts": ALL, "requestId": "1" * 16}
    )
    [(requester, response)] = node.transport.responses
    assert requester == PEER_A
    assert response.type is MessageType.FETCH_SOCKETS_RESPONSE
    assert response.data is not None and response.data["requestId"] == "1" * 16
    assert [socket["id"] for socket in response.data["sockets"]] == [sid]
    assert node.transport.published[-1].type is not MessageType.FETCH_SOCKETS_RESPONSE


async def test_server_side_emit_with_ack_replies_once_with_the_first_handlers_result(
    node: CoreNode,
) -> None:
    node.manager.on_server_event("ask")(lambda x: f"got {x}")
    node.manager.on_server_event("ask")(lambda x: "second")
    await node.transport.feed(
        MessageType.SERVER_SIDE_EMIT, PEER_A, data={"requestId": "2" * 16, "packet": ["ask", 1]}
    )
    replies = node.transport.responses_of_type(MessageType.SERVER_SIDE_EMIT_RESPONSE)
    assert [(to, m.data) for to, m in replies] == [
        (PEER_A, {"requestId": "2" * 16, "packet": "got 1"})
    ]


async def test_server_side_emit_without_handler_gets_no_reply(node: CoreNode) -> None:
    await node.transport.feed(
        MessageType.SERVER_SIDE_EMIT, PEER_A, data={"requestId": "2" * 16, "packet": ["nobody"]}
    )
    assert node.transport.responses == []


async def test_an_acknowledged_broadcast_is_answered_with_the_client_count(
    node: CoreNode,
) -> None:
    data = {"opts": {**ALL, "flags": {"timeout": 1000}}, "packet": {"type": 2, "data": ["e"]}}
    await node.transport.feed(MessageType.BROADCAST, PEER_A, data={**data, "requestId": "3" * 16})
    [(requester, count)] = node.transport.responses_of_type(MessageType.BROADCAST_CLIENT_COUNT)
    assert requester == PEER_A
    assert count.data == {"requestId": "3" * 16, "clientCount": 0}


async def test_a_raising_handler_does_not_stop_dispatch(node: CoreNode) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    node.manager.on("join-room", broken)
    sid = await node.connect()
    await node.transport.feed(MessageType.SOCKETS_JOIN, PEER_A, data={"opts": ALL, "rooms": ["x"]})
    await node.transport.feed(MessageType.SOCKETS_JOIN, PEER_A, data={"opts": ALL, "rooms": ["y"]})
    assert {"x", "y"} <= set(node.manager.get_rooms(sid, "/"))
