"""Client replies to an acknowledged broadcast travel in batches when the requester asks for
them (``batchReplies``, which our nodes send and Node's do not): what a requester sends and
takes, how a receiving node groups replies and bounds a batch, and that a request without
the key (Node's) still gets one BROADCAST_ACK per client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from socketio_cloud import MemoryBus, MemoryManager, protocol
from socketio_cloud.cluster import REPLY_BATCH_MAX_BYTES, REPLY_BATCH_MAX_REPLIES, _ReplyBatch
from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.runtime import CoreHandler
from socketio_cloud.transports.memory import MemoryTransport
from tests.behaviour.harness import Client, Node, connect_client, make_node
from tests.core.conftest import PEER_A, PEER_B, CoreNode
from tests.support.services import wait_until

REQUEST_ID = "5eed" * 4
ALL: dict[str, Any] = {"rooms": [], "except": [], "flags": {"timeout": 5000}}

# ------------------------------------------------------------------------ the requester


async def _ack_started(node: CoreNode) -> tuple[asyncio.Task[list[Any]], str]:
    task = asyncio.ensure_future(node.manager.timeout(5).emit_with_ack("vote", 1))
    broadcast = await node.transport.wait_for_publish(MessageType.BROADCAST)
    assert broadcast.data is not None
    assert broadcast.data[protocol.BATCH_REPLIES] is True
    assert broadcast.request_id is not None
    return task, broadcast.request_id


async def test_a_requester_takes_batches_and_single_replies_alike(node: CoreNode) -> None:
    # two peers that know each other: one of ours answering in batches, one Node server
    for peer in (PEER_A, PEER_B):
        await node.transport.feed(MessageType.INITIAL_HEARTBEAT, peer)
    task, request_id = await _ack_started(node)
    for peer, count in ((PEER_A, 3), (PEER_B, 1)):
        await node.transport.feed(
            MessageType.BROADCAST_CLIENT_COUNT,
            peer,
            data={"requestId": request_id, "clientCount": count},
        )
    await node.transport.feed(
        MessageType.BROADCAST_ACK,
        PEER_A,
        data={"requestId": request_id, "packets": [["x"], []]},
    )
    assert not task.done()
    await node.transport.feed(
        MessageType.BROADCAST_ACK, PEER_B, data={"requestId": request_id, "packet": "node"}
    )
    await node.transport.feed(
        MessageType.BROADCAST_ACK, PEER_A, data={"requestId": request_id, "packets": [[b"\x01"]]}
    )
    assert await asyncio.wait_for(task, 5) == ["x", None, "node", b"\x01"]


async def test_a_callback_for_remote_clients_is_called_once_per_batched_reply(
    node: CoreNode,
) -> None:
    got: list[tuple[Any, ...]] = []
    await node.sio.emit("hi", to="a-room-elsewhere", callback=lambda *args: got.append(args))
    broadcast = await node.transport.wait_for_publish(MessageType.BROADCAST)
    assert broadcast.data is not None and broadcast.data[protocol.BATCH_REPLIES] is True
    await node.transport.feed(
        MessageType.BROADCAST_ACK,
        PEER_A,
        data={"requestId": broadcast.request_id, "packets": [["one"], [], [{"n": 2}]]},
    )
    assert got == [("one",), (), ({"n": 2},)]


# ------------------------------------------------------------------------ a batch


async def _sent(node: CoreNode, count: int) -> list[list[list[Any]]]:
    """The ``packets`` of the first ``count`` BROADCAST_ACKs the node published."""

    def batches() -> list[list[list[Any]]]:
        acks = node.transport.responses_of_type(MessageType.BROADCAST_ACK)
        assert all(to == PEER_A for to, _ in acks)
        return [message.data["packets"] for _, message in acks]  # type: ignore[index]

    await wait_until(lambda: len(batches()) >= count, 5, f"{count} batches")
    await asyncio.sleep(0)
    return batches()


async def test_replies_of_one_loop_turn_leave_together_after_it(node: CoreNode) -> None:
    batch = _ReplyBatch(node.manager, PEER_A, "/", REQUEST_ID)
    batch.add(("a",))
    batch.add(())
    batch.add(({"n": 1},))
    assert node.transport.responses == []  # nothing before the turn ends
    assert await _sent(node, 1) == [[["a"], [], [{"n": 1}]]]
    batch.add(("later",))
    assert await _sent(node, 2) == [[["a"], [], [{"n": 1}]], [["later"]]]
    _, message = node.transport.responses[0]
    assert message.uid == node.manager.uid and message.nsp == "/"
    assert message.data is not None and message.data["requestId"] == REQUEST_ID


async def test_a_batch_holds_at_most_its_count_of_replies(node: CoreNode) -> None:
    batch = _ReplyBatch(node.manager, PEER_A, "/", REQUEST_ID)
    total = 2 * REPLY_BATCH_MAX_REPLIES + 5
    for index in range(total):
        batch.add((index,))
    sent = await _sent(node, 3)
    assert [len(packets) for packets in sent] == [REPLY_BATCH_MAX_REPLIES] * 2 + [5]
    assert [packet[0] for packets in sent for packet in packets] == list(range(total))


async def test_a_batch_is_sent_once_it_reaches_its_size(node: CoreNode) -> None:
    batch = _ReplyBatch(node.manager, PEER_A, "/", REQUEST_ID)
    reply = "r" * 10_000
    per_batch = -(-REPLY_BATCH_MAX_BYTES // protocol.reply_size((reply,)))  # rounded up
    for _ in range(per_batch + 1):
        batch.add((reply,))
    sent = await _sent(node, 2)
    assert [len(packets) for packets in sent] == [per_batch, 1]
    # one batch stays far below what any broker carries (SQS and Service Bus: 256 KB)
    largest = max(len(protocol.encode(message)) for _, message in node.transport.responses)
    assert largest < 2 * REPLY_BATCH_MAX_BYTES


@pytest.mark.parametrize(
    ("args", "low", "high"),
    [
        ((), 1, 1),
        ((None,), 1, 9),
        ((7,), 1, 9),
        (("ascii",), 6, 10),
        (("é" * 10,), 21, 45),
        ((b"\x00" * 100,), 102, 105),
        (({"a": [1, "b"]},), 8, 20),
    ],
)
def test_the_size_of_a_reply_bounds_its_encoding(
    args: tuple[Any, ...], low: int, high: int
) -> None:
    size = protocol.reply_size(args)
    assert low <= size <= high
    if args:
        encoded = len(protocol.encode_data({"packets": [list(args)]})) - len(
            protocol.encode_data({"packets": [[]]})
        )
        assert encoded <= size


async def test_a_reply_the_broker_cannot_carry_is_left_out_of_its_batch(node: CoreNode) -> None:
    class Sticky:
        """A value msgpack cannot encode (a reply from a server-side callback, say)."""

    def soon(requester: str, message: ClusterMessage, on_error: Any) -> bool:
        protocol.encode(message)  # refuses at once what msgpack cannot carry
        node.transport.responses.append((requester, message))
        return True

    node.transport.publish_response_soon = soon  # type: ignore[method-assign]
    batch = _ReplyBatch(node.manager, PEER_A, "/", REQUEST_ID)
    batch.add(("kept",))
    batch.add((Sticky(),))
    batch.add(())
    assert await _sent(node, 1) == [[["kept"], []]]


# ------------------------------------------------------------------------ a receiving node


class Peer:
    """A requester on the memory bus speaking the protocol directly: one of ours (asking for
    batches) or a Node server (not asking)."""

    def __init__(self, bus: MemoryBus) -> None:
        self.transport = MemoryTransport(bus)
        self.received: list[ClusterMessage] = []

    async def start(self) -> None:
        async def on_message(message: ClusterMessage, offset: str | None) -> None:
            self.received.append(message)

        def now(message: ClusterMessage) -> None:
            self.received.append(message)

        await self.transport.start(PEER_A, CoreHandler(on_message, now))

    async def ask(self, request_id: str, *, batches: bool) -> None:
        data = protocol.broadcast_data(
            protocol.BroadcastOptions(flags={"timeout": 5000}),
            ["vote", "?"],
            request_id,
            batch_replies=batches,
        )
        await self.transport.publish(ClusterMessage(MessageType.BROADCAST, PEER_A, "/", data))

    def of(self, kind: MessageType, request_id: str) -> list[dict[str, Any]]:
        return [
            m.data
            for m in self.received
            if m.type is kind and m.data is not None and m.data["requestId"] == request_id
        ]


@pytest.fixture
async def answering() -> AsyncIterator[tuple[Peer, Node, list[Client]]]:
    bus = MemoryBus()
    node = make_node("b", MemoryManager(bus=bus))
    await node.start()
    peer = Peer(bus)
    await peer.start()
    replies: list[Any] = [lambda c: c.name, None, b"\x00\xff", {"deep": [1, {"x": None}]}]
    clients = []
    try:
        for index in range(8):
            client = await connect_client(node, f"c{index}")
            client.ack_replies["vote"] = replies[index % len(replies)]
            clients.append(client)
        yield peer, node, clients
    finally:
        for client in clients:
            await client.sio.disconnect()
        await peer.transport.close()
        await node.stop()


def _expected(clients: list[Client]) -> list[Any]:
    values: list[Any] = []
    for client in clients:
        reply = client.ack_replies["vote"]
        values.append(reply(client) if callable(reply) else reply)
    return values


def _key(value: Any) -> str:
    return repr(value)


async def test_a_node_answers_a_batch_asking_requester_in_batches(
    answering: tuple[Peer, Node, list[Client]],
) -> None:
    peer, _, clients = answering
    await peer.ask(REQUEST_ID, batches=True)

    def replies() -> list[list[Any]]:
        acks = peer.of(MessageType.BROADCAST_ACK, REQUEST_ID)
        assert all("packets" in data and "packet" not in data for data in acks)
        return [packet for data in acks for packet in data["packets"]]

    await wait_until(lambda: len(replies()) >= len(clients), 10, "every client's reply")
    assert peer.of(MessageType.BROADCAST_CLIENT_COUNT, REQUEST_ID) == [
        {"requestId": REQUEST_ID, "clientCount": len(clients)}
    ]
    # python-socketio clients answer None as no argument at all
    got = [packet[0] if packet else None for packet in replies()]
    assert sorted(map(_key, got)) == sorted(map(_key, _expected(clients)))
    assert len(peer.of(MessageType.BROADCAST_ACK, REQUEST_ID)) <= len(clients)


async def test_a_node_answers_a_requester_that_does_not_ask_once_per_client(
    answering: tuple[Peer, Node, list[Client]],
) -> None:
    peer, _, clients = answering
    await peer.ask(REQUEST_ID, batches=False)
    await wait_until(
        lambda: len(peer.of(MessageType.BROADCAST_ACK, REQUEST_ID)) >= len(clients),
        10,
        "a reply per client",
    )
    acks = peer.of(MessageType.BROADCAST_ACK, REQUEST_ID)
    assert all("packets" not in data for data in acks)
    got = [data.get("packet") for data in acks]
    assert sorted(map(_key, got)) == sorted(map(_key, _expected(clients)))
