"""Requests to the other nodes: whom they wait for, when they complete, what a timeout keeps."""

from __future__ import annotations

import asyncio
import copy

import pytest

from socketio_cloud.exceptions import FetchSocketsTimeout, NotReadyError
from socketio_cloud.protocol import MessageType
from tests.core.conftest import PEER_A, PEER_B, CoreNode


def _socket(sid: str) -> dict[str, object]:
    return {"id": sid, "handshake": {}, "rooms": [sid], "data": {}}


async def _fetch_started(node: CoreNode) -> tuple[asyncio.Task[list[object]], str]:
    task: asyncio.Task[list[object]] = asyncio.ensure_future(node.manager.fetch_sockets())
    request = await node.transport.wait_for_publish(MessageType.FETCH_SOCKETS)
    assert request.request_id is not None
    return task, request.request_id


async def _answer(node: CoreNode, uid: str, request_id: str, *sids: str) -> None:
    await node.transport.feed(
        MessageType.FETCH_SOCKETS_RESPONSE,
        uid,
        data={"requestId": request_id, "sockets": [_socket(s) for s in sids]},
    )


async def test_with_no_other_node_a_request_completes_at_once(node: CoreNode) -> None:
    sid = await node.connect()
    assert [s.id for s in await node.manager.fetch_sockets()] == [sid]
    assert node.transport.of_type(MessageType.FETCH_SOCKETS) == []


async def test_a_request_waits_for_every_known_node(node: CoreNode) -> None:
    for peer in (PEER_A, PEER_B):
        await node.transport.feed(MessageType.HEARTBEAT, peer)
    task, request_id = await _fetch_started(node)
    await _answer(node, PEER_A, request_id, "s1")
    await _answer(node, PEER_A, request_id, "dup")  # at-least-once brokers: ignored
    await _answer(node, "cccccccccccccccc", request_id, "stranger")  # not asked: ignored
    assert not task.done()
    await _answer(node, PEER_B, request_id, "s2")
    assert sorted(s.id for s in await task) == ["s1", "s2"]  # type: ignore[attr-defined]


async def test_a_node_that_leaves_is_not_waited_for(node: CoreNode) -> None:
    for peer in (PEER_A, PEER_B):
        await node.transport.feed(MessageType.HEARTBEAT, peer)
    task, request_id = await _fetch_started(node)
    await _answer(node, PEER_A, request_id, "s1")
    await node.transport.feed(MessageType.ADAPTER_CLOSE, PEER_B)
    assert [s.id for s in await task] == ["s1"]  # type: ignore[attr-defined]


async def test_a_timeout_keeps_the_partial_answer(node: CoreNode) -> None:
    for peer in (PEER_A, PEER_B):
        await node.transport.feed(MessageType.HEARTBEAT, peer)
    task: asyncio.Task[object] = asyncio.ensure_future(node.manager.fetch_sockets(timeout=0.3))
    request = await node.transport.wait_for_publish(MessageType.FETCH_SOCKETS)
    assert request.request_id is not None
    await _answer(node, PEER_A, request.request_id, "s1")
    with pytest.raises(FetchSocketsTimeout) as caught:
        await task
    assert [s.id for s in caught.value.responses] == ["s1"]


async def test_closing_fails_the_waiting_requests(node: CoreNode) -> None:
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    task, _ = await _fetch_started(node)
    await node.manager.close()
    with pytest.raises(NotReadyError):
        await task


async def test_broker_membership_waits_for_as_many_answers_as_the_broker_counts(
    counted_node: CoreNode,
) -> None:
    task, request_id = await _fetch_started(counted_node)
    await _answer(counted_node, PEER_A, request_id, "s1")
    assert not task.done()
    await _answer(counted_node, PEER_B, request_id, "s2")
    assert sorted(s.id for s in await task) == ["s1", "s2"]  # type: ignore[attr-defined]


async def test_server_side_emit_with_ack_collects_each_servers_reply(node: CoreNode) -> None:
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    task = asyncio.ensure_future(node.manager.server_side_emit_with_ack("ping"))
    request = await node.transport.wait_for_publish(MessageType.SERVER_SIDE_EMIT)
    assert request.data == {"requestId": request.request_id, "packet": ["ping"]}
    await node.transport.feed(
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        PEER_A,
        data={"requestId": request.request_id, "packet": "pong"},
    )
    assert await task == ["pong"]


async def test_local_sockets_are_described_while_the_others_answer(node: CoreNode) -> None:
    sid = await node.connect()
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    described_after_request: list[bool] = []
    describe = node.manager._use_local_socket_details

    async def recording(*args: object) -> object:
        described_after_request.append(bool(node.transport.of_type(MessageType.FETCH_SOCKETS)))
        return await describe(*args)  # type: ignore[arg-type]

    node.manager._use_local_socket_details = recording  # type: ignore[method-assign]
    task, request_id = await _fetch_started(node)
    await _answer(node, PEER_A, request_id, "s1")
    # the node's own sockets first, then the answers, as before
    assert [s.id for s in await task] == [sid, "s1"]  # type: ignore[attr-defined]
    assert described_after_request == [True]


def test_a_remote_socket_built_in_bulk_equals_one_built_field_by_field() -> None:
    from socketio_cloud.remote_socket import RemoteSocket

    target = object()
    fields = {"id": "s", "namespace": "/", "rooms": frozenset({"s", "r"}), "data": {"a": 1}}
    details = {"id": "s", "rooms": ["s", "r"], "data": {"a": 1}, "handshake": {"h": 1}}
    [built] = RemoteSocket._from_details(target, "/", [details])  # type: ignore[arg-type]
    plain = RemoteSocket(**fields, handshake={"h": 1}, _target=target)  # type: ignore[arg-type]
    assert built == plain and repr(built) == repr(plain)
    assert repr(plain).startswith("RemoteSocket(id='s', namespace='/', rooms=frozenset({")
    assert repr(plain).endswith("}), data={'a': 1}, handshake={'h': 1})")
    assert built != RemoteSocket(**{**fields, "id": "t"}, handshake={"h": 1}, _target=target)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        built.id = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del built.data
    with pytest.raises(TypeError):
        hash(built)
    copied = copy.copy(built)
    assert copied == built and copied._target is target


async def test_the_node_takes_responses_synchronously_and_never_raises(
    node: CoreNode, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socketio_cloud.protocol import ClusterMessage

    handler = node.transport._on_message
    respond_now = getattr(handler, "respond_now", None)
    assert respond_now is not None  # what the runtime's Inbox.accept_now hands responses to
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    task, request_id = await _fetch_started(node)
    response = ClusterMessage(
        MessageType.FETCH_SOCKETS_RESPONSE,
        PEER_A,
        "/",
        {"requestId": request_id, "sockets": [_socket("remote")]},
    )
    respond_now(response)
    assert [s.id for s in await asyncio.wait_for(task, 2)] == ["remote"]
    # another namespace's response, or one for no open request, changes nothing
    respond_now(ClusterMessage(MessageType.BROADCAST_ACK, PEER_B, "/other", {"requestId": "1"}))
    respond_now(response)
    # whatever goes wrong in handling it is logged, not raised into the transport's loop

    def broken(message: ClusterMessage) -> None:
        raise KeyError("clientCount")

    monkeypatch.setattr(node.manager._requests, "on_response", broken)
    respond_now(response)
    assert "error handling FETCH_SOCKETS_RESPONSE" in caplog.text
