"""The six guarantees of :mod:`socketio_cloud.transport`, checked on every broker.

Each test starts bare transports (no core, no server) of one cluster, each with a recording
handler, and checks what reaches whom. Absence is shown with a fence: a later message from
another node that must arrive first, so no test sleeps and hopes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from socketio_cloud.protocol import ClusterMessage, MessageType, new_uid
from socketio_cloud.transport import Transport
from tests.support.services import wait_until

BROADCAST = MessageType.BROADCAST
ALL = {"rooms": [], "except": [], "flags": {}}


def broadcast(uid: str, tag: str) -> ClusterMessage:
    return ClusterMessage(
        BROADCAST, uid, "/", {"opts": ALL, "packet": {"type": 2, "data": ["contract", tag]}}
    )


def request(uid: str, tag: str) -> ClusterMessage:
    """A request (Redis Streams sends these by pub/sub, not through the stream)."""
    return ClusterMessage(MessageType.SERVER_SIDE_EMIT, uid, "/", {"packet": ["contract", tag]})


def response(uid: str, tag: str) -> ClusterMessage:
    return ClusterMessage(
        MessageType.SERVER_SIDE_EMIT_RESPONSE, uid, "/", {"requestId": "0" * 16, "packet": tag}
    )


def tag_of(message: ClusterMessage) -> str | None:
    data = message.data or {}
    if "packet" in data and isinstance(data["packet"], dict):
        return str(data["packet"]["data"][1])
    if message.type is MessageType.SERVER_SIDE_EMIT:
        return str(data["packet"][1])
    if "packet" in data:
        return str(data["packet"])
    return None


@dataclass
class ContractNode:
    uid: str
    transport: Transport
    received: list[ClusterMessage] = field(default_factory=list)

    async def on_message(self, message: ClusterMessage, offset: str | None) -> None:
        self.received.append(message)

    def tags(self) -> list[str | None]:
        return [tag_of(m) for m in self.received]

    async def wait_for(self, tag: str) -> None:
        await wait_until(lambda: tag in self.tags(), 15, f"{self.uid} to receive {tag}")


@pytest.fixture
async def start(contract_backend: Any) -> AsyncIterator[Any]:
    nodes: list[ContractNode] = []

    async def start_node() -> ContractNode:
        node = ContractNode(new_uid(), contract_backend.make_transport())
        nodes.append(node)
        await node.transport.start(node.uid, node.on_message)
        await node.transport.add_namespace("/")
        return node

    try:
        yield start_node
    finally:
        for node in nodes:
            with contextlib.suppress(Exception):
                await node.transport.close()
        await contract_backend.cleanup()


async def test_start_returns_once_messages_are_delivered(start: Any) -> None:
    first = await start()
    second = await start()
    # published right after start() returned, both ways
    await first.transport.publish(broadcast(first.uid, "to-second"))
    await second.transport.publish(broadcast(second.uid, "to-first"))
    await second.wait_for("to-second")
    await first.wait_for("to-first")


async def test_a_publish_reaches_every_other_node_and_not_the_publisher(start: Any) -> None:
    a, b, c = await start(), await start(), await start()
    await a.transport.publish(broadcast(a.uid, "x"))
    await a.transport.publish(request(a.uid, "rx"))
    for node in (b, c):
        await node.wait_for("x")
        await node.wait_for("rx")
    await b.transport.publish(broadcast(b.uid, "fence"))
    await a.wait_for("fence")
    assert "x" not in a.tags() and "rx" not in a.tags()
    assert b.tags().count("x") == 1 and c.tags().count("x") == 1


async def test_a_response_reaches_its_requester_only(start: Any) -> None:
    a, b, c = await start(), await start(), await start()
    await b.transport.publish_response(a.uid, response(b.uid, "answer"))
    await a.wait_for("answer")
    await b.transport.publish(request(b.uid, "fence"))
    await c.wait_for("fence")
    assert "answer" not in c.tags()
    assert "answer" not in b.tags()


async def test_malformed_input_is_dropped_and_consumption_goes_on(
    start: Any, contract_backend: Any
) -> None:
    a, b = await start(), await start()
    await contract_backend.publish_malformed()
    await b.transport.publish(broadcast(b.uid, "after-garbage"))
    await b.transport.publish(request(b.uid, "request-after-garbage"))
    await a.wait_for("after-garbage")
    await a.wait_for("request-after-garbage")
    assert all(isinstance(m, ClusterMessage) and m.uid == b.uid for m in a.received)


async def test_a_started_transport_reports_connected_until_closed(start: Any) -> None:
    a = await start()
    assert a.transport.connected
    await a.transport.close()
    assert not a.transport.connected


async def test_close_is_idempotent_and_deletes_the_nodes_resources(
    start: Any, contract_backend: Any
) -> None:
    a = await start()
    had = await contract_backend.node_resources(a.uid)
    await a.transport.close()
    await a.transport.close()
    assert await contract_backend.node_resources(a.uid) == []
    if not had:
        pytest.skip(f"{contract_backend.name} keeps no resources per node")


async def test_abort_leaves_the_nodes_resources_for_the_cleanup(
    start: Any, contract_backend: Any
) -> None:
    a = await start()
    had = await contract_backend.node_resources(a.uid)
    if not had:
        pytest.skip(f"{contract_backend.name} keeps no resources per node")
    await a.transport.abort()
    assert await contract_backend.node_resources(a.uid) == had


async def test_an_emitter_reaches_every_node(start: Any, contract_backend: Any) -> None:
    a, b = await start(), await start()
    emitter = contract_backend.make_transport()
    try:
        await emitter.open_publisher()
        await emitter.publish(broadcast("emitter", "from-emitter"))
        await a.wait_for("from-emitter")
        await b.wait_for("from-emitter")
    finally:
        await emitter.close()


async def test_connected_follows_the_broker_through_an_outage(
    start: Any, contract_backend: Any
) -> None:
    if not hasattr(contract_backend, "outage"):
        pytest.skip(f"{contract_backend.name}: no outage can be staged for this broker")
    a = await start()
    assert a.transport.connected

    async def publish_until_it_fails() -> None:
        # the first failed publish (or receive) must turn connected False
        while a.transport.connected:
            with contextlib.suppress(Exception):
                await a.transport.publish(broadcast(a.uid, "during-outage"))
            await asyncio.sleep(0.1)

    async with contract_backend.outage():
        attempts = asyncio.ensure_future(publish_until_it_fails())
        try:
            await wait_until(lambda: not a.transport.connected, 60, "connected to turn False")
        finally:
            attempts.cancel()
            await asyncio.gather(attempts, return_exceptions=True)

    async def back() -> bool:
        # the next successful publish (or receive) turns it True again
        with contextlib.suppress(Exception):
            await a.transport.publish(broadcast(a.uid, "after-outage"))
        return a.transport.connected

    await wait_until(back, 90, "connected to turn True again", interval=0.5)


async def test_a_message_over_max_message_size_is_refused_never_dropped(
    start: Any, contract_backend: Any
) -> None:
    from socketio_cloud.exceptions import PayloadTooLarge

    a = await start()
    limit = a.transport.max_message_size
    assert limit is not None and limit <= a.transport.limits.max_message_size, (
        "a transport must not publish what receivers drop"
    )
    big = ClusterMessage(
        BROADCAST,
        a.uid,
        "/",
        {"opts": ALL, "packet": {"type": 2, "data": ["contract", "big", b"x" * (limit + 1)]}},
    )
    with pytest.raises(PayloadTooLarge):
        await a.transport.publish(big)
    assert a.transport.connected  # a refused message is no broker failure
