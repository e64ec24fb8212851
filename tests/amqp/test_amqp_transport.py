"""The AMQP transport on a real RabbitMQ: routing by room, responses, bounds, lifecycle."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import aio_pika
import pytest

from socketio_cloud import protocol
from socketio_cloud.brokers import amqp as names
from socketio_cloud.exceptions import PayloadTooLarge, TransportError
from socketio_cloud.protocol import ClusterMessage, Limits, MessageType
from socketio_cloud.transports.amqp import AmqpTransport
from tests.amqp.conftest import Recorder
from tests.backends.amqp import AmqpBackend
from tests.support.services import wait_until

pytestmark = pytest.mark.amqp


def broadcast(sender: Recorder, rooms: list[str], arg: Any, nsp: str = "/") -> ClusterMessage:
    return ClusterMessage(
        MessageType.BROADCAST,
        sender.uid,
        nsp,
        {
            "opts": {"rooms": rooms, "except": [], "flags": {}},
            "packet": {"type": 2, "data": ["e", arg]},
        },
    )


async def test_a_node_without_members_receives_none_of_the_rooms_broadcasts(
    amqp_nodes: Any,
) -> None:
    member, bystander, sender = await amqp_nodes(3)
    member.transport.room_created("/", "lobby")
    assert await member.transport.sync_bindings()
    for i in range(50):
        await sender.transport.publish(broadcast(sender, ["lobby"], i))
    await sender.transport.publish(broadcast(sender, [], "marker"))
    await member.wait_for(lambda: "marker" in member.events(), "the member's marker")
    await bystander.wait_for(lambda: "marker" in bystander.events(), "the bystander's marker")
    assert member.events() == [*range(50), "marker"]
    # counted where the broker hands deliveries over: one delivery, the marker
    assert bystander.events() == ["marker"]
    assert bystander.transport.stats["received"] == 1
    assert member.transport.stats["received"] == 51
    assert member.transport.stats["room_bindings"] == 1
    assert bystander.transport.stats["room_bindings"] == 0


async def test_a_broadcast_to_several_rooms_arrives_once_per_node(amqp_nodes: Any) -> None:
    both, one, sender = await amqp_nodes(3)
    both.transport.room_created("/", "a")
    both.transport.room_created("/", "b")
    one.transport.room_created("/", "b")
    await both.transport.sync_bindings()
    await one.transport.sync_bindings()
    await sender.transport.publish(broadcast(sender, ["a", "b", "c"], 1))
    await sender.transport.publish(broadcast(sender, ["a"], 2))
    await sender.transport.publish(broadcast(sender, [], "marker"))
    await both.wait_for(lambda: "marker" in both.events(), "marker")
    await one.wait_for(lambda: "marker" in one.events(), "marker")
    assert both.events() == [1, 2, "marker"]
    assert one.events() == [1, "marker"]


async def test_the_last_member_leaving_unbinds_the_room(amqp_nodes: Any) -> None:
    node, sender = await amqp_nodes(2)
    node.transport.room_created("/", "r")
    await node.transport.sync_bindings()
    await sender.transport.publish(broadcast(sender, ["r"], 1))
    await node.wait_for(lambda: node.events() == [1], "the room broadcast")
    node.transport.room_deleted("/", "r")
    await node.transport.sync_bindings()
    assert node.transport.stats["room_bindings"] == 0
    await sender.transport.publish(broadcast(sender, ["r"], 2))
    await sender.transport.publish(broadcast(sender, [], "marker"))
    await node.wait_for(lambda: "marker" in node.events(), "marker")
    assert node.events() == [1, "marker"]


async def test_rooms_of_other_namespaces_are_not_received(amqp_nodes: Any) -> None:
    node, sender = await amqp_nodes(2)
    await node.transport.add_namespace("/admin")
    node.transport.room_created("/admin", "r")
    await node.transport.sync_bindings()
    await sender.transport.publish(broadcast(sender, ["r"], "root"))
    await sender.transport.publish(broadcast(sender, ["r"], "admin", nsp="/admin"))
    await sender.transport.publish(broadcast(sender, [], "marker"))
    await node.wait_for(lambda: "marker" in node.events(), "marker")
    assert node.events() == ["admin", "marker"]


async def test_past_the_binding_bound_a_node_receives_every_room_broadcast(
    amqp_nodes: Any,
) -> None:
    node, sender = await amqp_nodes(2, max_room_bindings=2)
    for room in ("a", "b"):
        node.transport.room_created("/", room)
    await node.transport.sync_bindings()
    assert node.transport.room_routing
    node.transport.room_created("/", "c")
    await node.transport.sync_bindings()
    assert not node.transport.room_routing
    assert node.transport.stats["fallback"] == 1
    assert node.transport.stats["room_bindings"] == 1  # the namespace's wildcard
    await sender.transport.publish(broadcast(sender, ["elsewhere"], 1))
    await node.wait_for(lambda: node.events() == [1], "a broadcast to a room it lacks")
    # below half the bound: back to one binding per room
    node.transport.room_deleted("/", "a")
    node.transport.room_deleted("/", "b")
    await node.transport.sync_bindings()
    assert node.transport.room_routing
    assert node.transport.stats["room_bindings"] == 1
    await sender.transport.publish(broadcast(sender, ["elsewhere"], 2))
    await sender.transport.publish(broadcast(sender, ["c"], 3))
    await node.wait_for(lambda: 3 in node.events(), "the room broadcast")
    assert node.events() == [1, 3]


async def test_room_routing_off_receives_every_broadcast(amqp_nodes: Any) -> None:
    node, sender = await amqp_nodes(2, max_room_bindings=0)
    await sender.transport.publish(broadcast(sender, ["anything"], 1))
    await node.wait_for(lambda: node.events() == [1], "the room broadcast")


async def test_responses_reach_the_requester_only(amqp_nodes: Any) -> None:
    requester, other, responder = await amqp_nodes(3)
    response = ClusterMessage(
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        responder.uid,
        "/",
        {"requestId": "0123456789abcdef", "packet": "pong"},
    )
    await responder.transport.publish_response(requester.uid, response)
    await responder.transport.publish(broadcast(responder, [], "marker"))
    await requester.wait_for(lambda: response in requester.messages, "the response")
    await other.wait_for(lambda: "marker" in other.events(), "marker")
    assert response not in other.messages
    assert other.transport.stats["received"] == 1


async def test_a_node_never_receives_its_own_messages(amqp_nodes: Any) -> None:
    node, other = await amqp_nodes(2)
    await node.transport.publish(broadcast(node, [], "own"))
    await other.transport.publish(broadcast(other, [], "marker"))
    await node.wait_for(lambda: "marker" in node.events(), "marker")
    assert node.events() == ["marker"]
    assert node.transport.stats["own"] == 1


async def test_joins_sent_by_a_node_route_its_room_broadcasts_to_everyone_for_a_while(
    amqp_nodes: Any,
) -> None:
    # the joined sockets' node binds the room only when the SOCKETS_JOIN arrives: meanwhile
    # the sender's broadcasts to that room must not depend on that binding
    node, sender = await amqp_nodes(2)
    join = ClusterMessage(
        MessageType.SOCKETS_JOIN,
        sender.uid,
        "/",
        {"opts": {"rooms": [], "except": []}, "rooms": ["fresh"]},
    )
    await sender.transport.publish(join)
    await sender.transport.publish(broadcast(sender, ["fresh"], 1))
    await node.wait_for(lambda: node.events() == [1], "the broadcast right after the join")


async def test_close_deletes_the_queue_and_abort_leaves_it(
    backend_amqp: AmqpBackend, amqp_nodes: Any
) -> None:
    closed, aborted = await amqp_nodes(2)
    assert await backend_amqp.node_resources(closed.uid) != []
    await closed.transport.close()
    await closed.transport.close()
    assert await backend_amqp.node_resources(closed.uid) == []
    await aborted.transport.abort()
    assert await backend_amqp.node_resources(aborted.uid) == [aborted.transport.queue_name]
    assert not aborted.transport.connected
    with pytest.raises(TransportError):
        await aborted.transport.publish(broadcast(aborted, [], 1))


async def test_queue_arguments_make_a_dead_nodes_queue_expire(
    backend_amqp: AmqpBackend, amqp_nodes: Any
) -> None:
    (node,) = await amqp_nodes(1, queue_expires=1.0)
    await node.transport.abort()
    name = node.transport.queue_name

    async def gone() -> bool:
        return name not in backend_amqp.server.queue_stats()

    await wait_until(gone, 15, "the aborted node's queue to expire")


async def test_start_fails_clearly_without_a_broker() -> None:
    transport = AmqpTransport(url="amqp://guest:guest@127.0.0.1:1/", connect_timeout=2.0)
    with pytest.raises(TransportError, match="cannot reach"):
        await transport.start("0123456789abcdef", _ignore)
    await transport.close()


async def _ignore(message: ClusterMessage, offset: str | None) -> None:
    pass


def test_options_are_validated() -> None:
    for bad in (
        {"exchange": ""},
        {"queue_expires": 0},
        {"prefetch": 0},
        {"max_room_bindings": -1},
    ):
        with pytest.raises(ValueError):
            AmqpTransport(**bad)
    assert names.DEFAULT_EXCHANGE == "socket.io"


async def _delete(backend: AmqpBackend, *, queue: str = "", exchange: str = "") -> None:
    connection = await aio_pika.connect(backend.url)
    try:
        channel = await connection.channel()
        if queue:
            await channel.queue_delete(queue)
        if exchange:
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()


async def _until_delivered(sender: Recorder, receiver: Recorder, rooms: list[str]) -> None:
    """Publish (retrying while the sender recovers) until a broadcast gets through."""
    tries = 0

    async def delivered() -> bool:
        nonlocal tries
        tries += 1
        with contextlib.suppress(TransportError):
            await sender.transport.publish(broadcast(sender, rooms, f"probe-{tries}"))
        return any(str(e).startswith("probe-") for e in receiver.events())

    await wait_until(delivered, 30, "a broadcast after the recovery")


async def test_a_queue_deleted_under_a_node_is_declared_again_with_its_bindings(
    backend_amqp: AmqpBackend, amqp_nodes: Any
) -> None:
    node, sender = await amqp_nodes(2)
    node.transport.room_created("/", "r")
    await node.transport.sync_bindings()
    await _delete(backend_amqp, queue=node.transport.queue_name)
    await wait_until(lambda: node.transport.stats["reconnects"] >= 1, 15, "the node to notice")
    await wait_until(lambda: node.transport.connected, 30, "the node to reconnect")
    await _until_delivered(sender, node, ["r"])
    assert node.transport.stats["room_bindings"] == 1


async def test_an_exchange_deleted_under_the_cluster_is_declared_again(
    backend_amqp: AmqpBackend, amqp_nodes: Any
) -> None:
    # deleting the exchange drops every binding and closes the channel of the next publish
    node, sender = await amqp_nodes(2)
    node.transport.room_created("/", "r")
    await node.transport.sync_bindings()
    await _delete(backend_amqp, exchange=backend_amqp.exchange)
    with contextlib.suppress(TransportError):
        await sender.transport.publish(broadcast(sender, [], "lost"))
    # the node's bindings went with the exchange: it learns of it only when something closes
    # its channel, so make it publish too (as its heartbeats would)
    with contextlib.suppress(TransportError):
        await node.transport.publish(broadcast(node, [], "lost"))
    await wait_until(lambda: node.transport.connected and sender.transport.connected, 30, "up")
    await _until_delivered(sender, node, ["r"])


async def test_a_message_larger_than_the_limit_is_refused(amqp_nodes: Any) -> None:
    (node,) = await amqp_nodes(1, limits=Limits(max_message_size=100))
    with pytest.raises(PayloadTooLarge):
        await node.transport.publish(broadcast(node, [], "x" * 200))
    assert node.transport.connected


async def test_the_wire_format(backend_amqp: AmqpBackend, amqp_nodes: Any) -> None:
    """What a raw AMQP consumer bound to every key sees (docs/amqp.md, "Wire format")."""
    (sender,) = await amqp_nodes(1)
    connection = await aio_pika.connect(backend_amqp.url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(backend_amqp.exchange)
        assert exchange.name == backend_amqp.exchange
        tap = await channel.declare_queue(exclusive=True)
        await tap.bind(backend_amqp.exchange, "#")
        message = broadcast(sender, ["a", "b"], "framed")
        await sender.transport.publish(message)
        response = ClusterMessage(
            MessageType.BROADCAST_CLIENT_COUNT,
            sender.uid,
            "/",
            {"requestId": "0123456789abcdef", "clientCount": 2},
        )
        await sender.transport.publish_response("fedcba9876543210", response)
        seen = []
        async with tap.iterator() as deliveries:
            async for delivery in deliveries:
                await delivery.ack()
                seen.append(delivery)
                if len(seen) == 2:
                    break
    finally:
        await connection.close()
    room, answer = seen
    assert room.routing_key == names.room_key("/", "a")
    assert room.headers == {"CC": [names.room_key("/", "b")]}
    assert room.app_id == sender.uid
    assert room.content_type == "application/msgpack"
    assert room.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
    assert room.body == protocol.encode(message)
    assert answer.routing_key == "u.fedcba9876543210"
    assert protocol.decode(answer.body) == response


async def test_the_documented_permissions_are_enough(
    backend_amqp: AmqpBackend, amqp_broker: Any
) -> None:
    tag = secrets.token_hex(4)
    exchange, prefix = f"perm-{tag}", f"perm-{tag}"
    urls = {}
    for role, node in (("node", True), ("emitter", False)):
        user = f"{role}-{tag}"
        grant = names.permissions(exchange, prefix, node=node)
        amqp_broker.ctl("add_user", user, "secret")
        amqp_broker.ctl(
            "set_permissions", "-p", "/", user, grant["configure"], grant["write"], grant["read"]
        )
        urls[role] = f"amqp://{user}:secret@127.0.0.1:{amqp_broker.port}/"
    options = {"exchange": exchange, "queue_prefix": prefix, "connect_timeout": 5.0}
    nodes = [AmqpTransport(url=urls["node"], **options) for _ in range(2)]
    emitter = AmqpTransport(url=urls["emitter"], exchange=exchange, connect_timeout=5.0)
    recorders = [Recorder(t, protocol.new_uid()) for t in nodes]
    try:
        for recorder in recorders:
            await recorder.transport.start(recorder.uid, recorder.on_message)
            await recorder.transport.add_namespace("/")
        first, second = recorders
        first.transport.room_created("/", "r")
        assert await first.transport.sync_bindings()
        await emitter.open_publisher()
        await emitter.publish(broadcast(Recorder(emitter, "emitter"), ["r"], "from-emitter"))
        await second.transport.publish(broadcast(second, ["r"], "from-node"))
        await first.wait_for(lambda: len(first.events()) == 2, "both broadcasts")
        await first.transport.close()
        assert first.transport.queue_name not in amqp_broker.queue_stats()
    finally:
        for transport in (*nodes, emitter):
            await transport.close()
        for role in ("node", "emitter"):
            amqp_broker.ctl("delete_user", f"{role}-{tag}")
        connection = await aio_pika.connect(backend_amqp.url)
        try:
            channel = await connection.channel()
            await channel.exchange_delete(exchange)
        finally:
            await connection.close()
