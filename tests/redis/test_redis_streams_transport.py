"""The Redis Streams transport on the Redis at 127.0.0.1:6379, driven directly."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import msgpack
import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ResponseError

from socketio_cloud import protocol
from socketio_cloud.exceptions import PayloadTooLarge
from socketio_cloud.protocol import (
    BroadcastOptions,
    ClusterMessage,
    Limits,
    MessageType,
    broadcast_data,
)
from socketio_cloud.transports.redis_streams import RedisStreamsTransport
from tests.backends.redis_streams import REDIS_URL, receiver_and_sender, require_redis
from tests.support.services import wait_until

pytestmark = pytest.mark.redis

Received = list[tuple[ClusterMessage, "str | None"]]
MakeNode = Callable[..., Awaitable[tuple[RedisStreamsTransport, Received]]]


@pytest.fixture
async def names() -> AsyncIterator[dict[str, str]]:
    require_redis()
    tag = secrets.token_hex(4)
    yield {"stream_name": f"sio-t-{tag}", "channel_prefix": f"sio-t-{tag}"}
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"sio-t-{tag}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def make_node(names: dict[str, str]) -> AsyncIterator[MakeNode]:
    """Start transports as nodes serving "/"; each records what it receives."""
    started: list[RedisStreamsTransport] = []

    async def make(
        *, namespaces: tuple[str, ...] = ("/",), **options: object
    ) -> tuple[RedisStreamsTransport, Received]:
        received: Received = []

        async def on_message(message: ClusterMessage, offset: str | None) -> None:
            received.append((message, offset))

        transport = RedisStreamsTransport(**{"url": REDIS_URL, **names, **options})  # type: ignore[arg-type]
        for namespace in namespaces:
            await transport.add_namespace(namespace)
        await transport.start(protocol.new_uid(), on_message)
        started.append(transport)
        return transport, received

    yield make
    for transport in started:
        await transport.close()


#: How a test's client has replies parsed: by hiredis (the default when installed), by
#: redis-py's Python parser because hiredis is missing, or because the client was given a
#: Python ``parser_class`` with hiredis installed.
READINGS = ["hiredis", "no-hiredis", "python-parser"]


def reading_client(reading: str, monkeypatch: pytest.MonkeyPatch, resp: int = 2) -> Redis:
    """A client on the test Redis whose replies are parsed as ``reading`` says."""
    from redis._parsers import _AsyncRESP2Parser, _AsyncRESP3Parser

    from socketio_cloud.transports.redis_streams import transport as module

    if reading == "no-hiredis":
        monkeypatch.setattr(module, "_hiredis", None)
    if reading != "python-parser":
        return Redis.from_url(REDIS_URL, protocol=resp)
    parser = _AsyncRESP2Parser if resp == 2 else _AsyncRESP3Parser
    pool = ConnectionPool.from_url(REDIS_URL, protocol=resp, parser_class=parser)
    return Redis(connection_pool=pool)


def broadcast(
    uid: str, *args: object, nsp: str = "/", request_id: str | None = None
) -> ClusterMessage:
    data = broadcast_data(BroadcastOptions(), ["event", *args], request_id)
    return ClusterMessage(MessageType.BROADCAST, uid, nsp, data)


async def test_broadcast_goes_through_the_stream_with_its_entry_id_as_offset(
    make_node: MakeNode,
) -> None:
    sender, _ = await make_node()
    receiver, received = await make_node()
    offset = await sender.publish(broadcast(sender._uid, "hi", b"\x00"))
    assert offset is not None and offset.count("-") == 1
    await wait_until(lambda: len(received) == 1, message="the broadcast")
    message, received_offset = received[0]
    assert message.data == {
        "packet": {"type": 2, "data": ["event", "hi", b"\x00"]},
        "opts": {"rooms": [], "except": [], "flags": {}},
    }
    assert received_offset == offset
    assert receiver.last_entry_ids[receiver.stream_name] == offset


@pytest.mark.parametrize("resp", [2, 3])
async def test_readers_take_entries_as_redis_sends_them_in_either_protocol(
    names: dict[str, str], resp: int
) -> None:
    # readers send XREAD themselves and read the reply raw, whatever the client's protocol
    received: Received = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        received.append((message, offset))

    client = Redis.from_url(REDIS_URL, protocol=resp)
    try:
        async with receiver_and_sender(
            names, on_message, url=None, redis=client, block_time=0.2
        ) as (_, sender):
            offsets = [await sender.publish(broadcast(protocol.new_uid(), n)) for n in range(3)]
            await wait_until(lambda: len(received) == 3, message="three broadcasts")
            assert [offset for _, offset in received] == offsets
            assert [m.data["packet"]["data"][1] for m, _ in received] == [0, 1, 2]  # type: ignore[index]
    finally:
        await client.aclose()


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("reading", READINGS)
async def test_raw_replies_are_read_as_redis_sent_them(
    resp: int, reading: str, names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ResponseError

    from socketio_cloud.transports.redis_streams import transport as module

    key = f"{names['stream_name']}-raw"
    client = reading_client(reading, monkeypatch, resp)
    connection = await client.connection_pool.get_connection()
    replies = module._Replies()
    try:
        assert await replies.exchange(connection, module._resp("PING")) == b"PONG"
        # a reply longer than one read of the socket
        big = secrets.token_bytes(3 * module._READ_SIZE + 17)
        assert await replies.exchange(connection, module._resp("SET", key, big)) == b"OK"
        assert await replies.exchange(connection, module._resp("GET", key)) == big
        # an error reply is raised as redis-py raises it, and the connection stays usable
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await replies.exchange(connection, module._resp("XLEN", key))
        assert await replies.exchange(connection, module._resp("DEL", key)) == 1
        # after a reconnection the reply is read off the new socket
        await connection.disconnect()
        assert await replies.exchange(connection, module._resp("ECHO", "again")) == b"again"
        await replies.exchange(connection, module._resp("XADD", key, "*", "a", "b"))
        reply = await replies.exchange(
            connection, module._resp("XREAD", "COUNT", "5", "STREAMS", key, "0-0")
        )
        streams = reply.items() if isinstance(reply, dict) else reply
        [(name, [(_, fields)])] = list(streams)
        assert name == key.encode() and fields == [b"a", b"b"]
        # hiredis is used here only where redis-py would use it itself
        assert (replies._parser is not None) == (reading == "hiredis")
    finally:
        await client.delete(key)
        await connection.disconnect()
        await client.connection_pool.release(connection)
        await client.aclose()


def _reader_protocols(transport: RedisStreamsTransport) -> list[object]:
    """The protocols of the reader's connections (those taken from its pool)."""
    assert transport._reader is not None
    pool = transport._reader.connection_pool
    return [
        conn._writer.transport.get_protocol()  # type: ignore[attr-defined]
        for conn in pool._in_use_connections  # type: ignore[attr-defined]
        if conn._writer is not None  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("reading", READINGS)
async def test_entries_keep_their_order_when_a_handler_has_to_wait(
    reading: str, names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from socketio_cloud.transports.redis_streams import transport as module

    client = reading_client(reading, monkeypatch)
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    order: list[int] = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        assert message.data is not None
        seq = message.data["packet"]["data"][1]
        if seq == 3:
            await gate  # the entries after it must wait for it
        order.append(seq)

    try:
        async with receiver_and_sender(names, on_message, url=None, redis=client) as (
            receiver,
            sender,
        ):
            # one pipeline: the reader gets them in one reply
            uid = protocol.new_uid()
            await asyncio.gather(*(sender.publish(broadcast(uid, n)) for n in range(8)))
            await wait_until(lambda: order == [0, 1, 2], message="the entries before the wait")
            # where redis-py parses with hiredis, the reader parses and delivers in its own
            # protocol; otherwise redis-py reads the replies
            protocols = _reader_protocols(receiver)
            taken = [p for p in protocols if isinstance(p, module._ReplyProtocol)]
            assert len(taken) == (1 if reading == "hiredis" else 0) and protocols
            gate.set_result(None)
            await wait_until(lambda: len(order) == 8, message="the rest")
            assert order == list(range(8))
            await sender.publish(broadcast(uid, 8))
            await wait_until(lambda: len(order) == 9, message="a later reply")
    finally:
        await client.aclose()


def test_the_reader_takes_its_connection_over_under_uvloop(names: dict[str, str]) -> None:
    import uvloop

    from socketio_cloud.transports.redis_streams import transport as module

    async def main() -> None:
        received: Received = []

        async def on_message(message: ClusterMessage, offset: str | None) -> None:
            received.append((message, offset))

        async with receiver_and_sender(names, on_message) as (receiver, sender):
            uid = protocol.new_uid()
            for n in range(3):
                await sender.publish(broadcast(uid, n))
            await wait_until(lambda: len(received) == 3, message="three broadcasts")
            taken = [p for p in _reader_protocols(receiver) if isinstance(p, module._ReplyProtocol)]
            assert len(taken) == 1
            assert [m.data["packet"]["data"][1] for m, _ in received] == [0, 1, 2]  # type: ignore[index]

    uvloop.run(main())


@pytest.mark.parametrize("app_disabled_it", [False, True])
async def test_replies_are_handled_with_the_collector_waiting(app_disabled_it: bool) -> None:
    import gc

    from socketio_cloud.transports.redis_streams import transport as module

    require_redis()
    seen: list[tuple[object, bool]] = []

    def on_reply(reply: object) -> str:
        seen.append((reply, gc.isenabled()))
        return "handled"

    client = Redis.from_url(REDIS_URL)
    connection = await client.connection_pool.get_connection()
    was_enabled = gc.isenabled()
    if app_disabled_it:
        gc.disable()
    try:
        taken = await module._ReplyProtocol.take_over(connection, on_reply)
        assert taken is not None
        for word in ("one", "two"):
            outcome = taken.expect()
            taken.transport.write(module._resp("ECHO", word))
            assert await outcome == "handled"
        assert seen == [(b"one", False), (b"two", False)]
        # the collector is back as the application had it
        assert gc.isenabled() is not app_disabled_it
        # an error reply is the outcome's error, not a reply handled
        outcome = taken.expect()
        taken.transport.write(module._resp("NOSUCHCOMMAND"))
        with pytest.raises(ResponseError):
            await outcome
        assert len(seen) == 2
    finally:
        if was_enabled:
            gc.enable()
        await connection.disconnect()
        await client.connection_pool.release(connection)
        await client.aclose()


async def test_bytes_that_are_not_resp_make_the_connection_unusable() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from socketio_cloud.transports.redis_streams import transport as module

    require_redis()
    handled: list[object] = []
    client = Redis.from_url(REDIS_URL)
    connection = await client.connection_pool.get_connection()
    try:
        taken = await module._ReplyProtocol.take_over(connection, handled.append)
        assert taken is not None
        outcome = taken.expect()
        taken.data_received(b"?this is not RESP\r\n")
        with pytest.raises(RedisConnectionError, match="unreadable reply"):
            await outcome
        assert handled == [] and taken.transport.is_closing()
        # the parser the writer uses refuses it the same way
        parser = module._new_parser()
        parser.feed(b"?this is not RESP\r\n")
        with pytest.raises(RedisConnectionError):
            module._next_reply(parser)
    finally:
        await connection.disconnect()
        await client.connection_pool.release(connection)
        await client.aclose()


async def test_a_reader_whose_connection_is_killed_resumes_where_it_stopped(
    make_node: MakeNode,
) -> None:
    sender, _ = await make_node()
    _, received = await make_node(block_time=0.2)
    for n in range(3):
        await sender.publish(broadcast(sender._uid, n))
    await wait_until(lambda: len(received) == 3, message="three broadcasts")
    client = Redis.from_url(REDIS_URL)
    try:
        killed = 0
        for info in await client.client_list():
            if info["cmd"] == "xread":
                killed += await client.client_kill_filter(_id=info["id"])
        assert killed >= 1
        for n in range(3, 6):
            await sender.publish(broadcast(sender._uid, n))
        await wait_until(lambda: len(received) == 6, message="the broadcasts after the kill")
        assert [m.data["packet"]["data"][1] for m, _ in received] == list(range(6))  # type: ignore[index]
    finally:
        await client.aclose()


def _response(sender: str, n: int) -> ClusterMessage:
    return ClusterMessage(
        MessageType.BROADCAST_ACK, sender, "/", {"requestId": "00ff00ff00ff00ff", "packet": [n]}
    )


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("reading", READINGS)
async def test_a_subscriber_gets_many_messages_per_read_in_order_and_after_its_connection_is_killed(
    reading: str, resp: int, make_node: MakeNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with RESP3, pub/sub messages come as pushes
    client = reading_client(reading, monkeypatch, resp)
    admin = Redis.from_url(REDIS_URL)
    try:
        requester, got = await make_node(url=None, redis=client, namespaces=("/", "/gone"))
        other, _ = await make_node()
        # one pipeline of responses: the subscriber reads many of them per read
        await asyncio.gather(
            *(other.publish_response(requester._uid, _response(other._uid, n)) for n in range(300))
        )
        await wait_until(lambda: len(got) == 300, message="300 responses")
        assert [m.data["packet"][0] for m, _ in got] == list(range(300))  # type: ignore[index]
        gone = requester.public_channel("/gone")

        async def subscribers_of_gone() -> int:
            return int((await admin.pubsub_numsub(gone))[0][1])

        assert await subscribers_of_gone() == 1
        await requester.remove_namespace("/gone")
        await wait_until(
            lambda: _awaited_is(subscribers_of_gone(), 0), message="the unsubscription"
        )
        killed = 0
        for info in await admin.client_list():
            if info["cmd"] in ("subscribe", "unsubscribe"):
                killed += await admin.client_kill_filter(_id=info["id"])
        assert killed >= 1
        # reconnected and subscribed again, to what it still serves only
        await wait_until(lambda: _count_is(other, "/", 2), message="the resubscription")
        assert await subscribers_of_gone() == 0
        await other.publish_response(requester._uid, _response(other._uid, 300))
        await wait_until(lambda: len(got) == 301, message="a response after the kill")
    finally:
        await admin.aclose()
        await requester.close()
        await client.aclose()


def test_entry_fields_are_paired_as_redis_lists_them() -> None:
    from socketio_cloud.transports.redis_streams.transport import _pairs

    assert _pairs([b"uid", b"a", b"nsp", b"/"]) == {b"uid": b"a", b"nsp": b"/"}
    assert _pairs([b"uid", b"a", b"uid", b"b"]) == {b"uid": b"b"}
    assert _pairs({b"uid": b"a"}) == {b"uid": b"a"}
    assert _pairs(None) == {}


@pytest.mark.parametrize("reading", READINGS)
async def test_requests_and_responses_use_pub_sub_channels(
    reading: str, make_node: MakeNode, names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the channels are read however the user's client parses replies
    client = reading_client(reading, monkeypatch)
    nodes = [await make_node(url=None, redis=client) for _ in range(3)]
    try:
        await _requests_and_responses(nodes, names)
        assert await nodes[0][0].server_count("/") == 3
    finally:
        for transport, _ in nodes:
            await transport.close()
        await client.aclose()


async def _requests_and_responses(
    nodes: list[tuple[RedisStreamsTransport, Received]], names: dict[str, str]
) -> None:
    (requester, requester_got), (other, other_got), (_, bystander_got) = nodes
    prefix = names["channel_prefix"]
    assert requester.public_channel("/") == f"{prefix}#/#"
    assert requester.response_channel("/", "abc") == f"{prefix}#/#abc#"

    request = ClusterMessage(
        MessageType.FETCH_SOCKETS,
        requester._uid,
        "/",
        {"opts": BroadcastOptions().to_wire(), "requestId": "00ff00ff00ff00ff"},
    )
    assert await requester.publish(request) is None
    await wait_until(lambda: other_got and bystander_got, message="the request")
    assert other_got[0] == (request, None)

    response = ClusterMessage(
        MessageType.FETCH_SOCKETS_RESPONSE,
        other._uid,
        "/",
        {"requestId": "00ff00ff00ff00ff", "sockets": []},
    )
    await other.publish_response(requester._uid, response)
    await wait_until(lambda: requester_got, message="the response")
    assert requester_got == [(response, None)]
    # nothing went to the stream, and the response reached nobody else
    client = Redis.from_url(REDIS_URL)
    assert await client.exists(names["stream_name"]) == 0
    await client.aclose()
    assert bystander_got == [(request, None)]


async def test_broadcast_with_ack_and_server_side_emit_are_published_not_streamed(
    make_node: MakeNode, names: dict[str, str]
) -> None:
    sender, _ = await make_node()
    _, received = await make_node()
    await sender.publish(broadcast(sender._uid, request_id="1234567890abcdef"))
    await sender.publish(
        ClusterMessage(MessageType.SERVER_SIDE_EMIT, sender._uid, "/", {"packet": ["ping"]})
    )
    await wait_until(lambda: len(received) == 2, message="both requests")
    assert [offset for _, offset in received] == [None, None]


async def test_server_count_is_the_number_of_subscribed_nodes(make_node: MakeNode) -> None:
    first, _ = await make_node()
    assert await first.server_count("/") == 1
    second, _ = await make_node()
    await make_node(namespaces=("/", "/admin"))
    assert await first.server_count("/") == 3
    assert await first.server_count("/admin") == 1
    await second.close()
    await wait_until(lambda: _count_is(first, "/", 2), message="the closed node to leave the count")


async def _awaited_is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _count_is(transport: RedisStreamsTransport, namespace: str, expected: int) -> bool:
    return await transport.server_count(namespace) == expected


async def test_own_messages_and_other_namespaces_are_not_delivered(make_node: MakeNode) -> None:
    node, received = await make_node()
    other, other_received = await make_node(namespaces=("/admin",))
    await node.publish(broadcast(node._uid, "mine"))
    await other.publish(broadcast(other._uid, "admin only", nsp="/admin"))
    await node.publish(broadcast(other._uid, "marker"))  # looks like it came from `other`
    await wait_until(lambda: received, message="the marker")
    assert [m.data["packet"]["data"][1] for m, _ in received] == ["marker"]  # type: ignore[index]
    assert other_received == []


async def test_reading_starts_at_the_end_of_the_stream(make_node: MakeNode) -> None:
    sender, _ = await make_node()
    await sender.publish(broadcast(sender._uid, "before"))
    _, received = await make_node()
    await sender.publish(broadcast(sender._uid, "after"))
    await wait_until(lambda: received, message="the second broadcast")
    assert [m.data["packet"]["data"][1] for m, _ in received] == ["after"]  # type: ignore[index]


async def test_namespaces_added_after_start_are_read_and_counted(make_node: MakeNode) -> None:
    sender, _ = await make_node(namespaces=("/", "/late"))
    receiver, received = await make_node()
    await receiver.add_namespace("/late")
    assert await sender.server_count("/late") == 2
    await sender.publish(broadcast(sender._uid, "late", nsp="/late"))
    await wait_until(lambda: received, message="the /late broadcast")
    assert received[0][0].nsp == "/late"


async def test_several_streams_route_each_namespace_like_node(
    make_node: MakeNode, names: dict[str, str]
) -> None:
    # "/😀emoji" hashes negative: Node writes it to "<name>--1", which we read as well
    namespaces = ("/", "/admin", "/😀emoji")
    sender, _ = await make_node(namespaces=namespaces, stream_count=3)
    _, received = await make_node(namespaces=namespaces, stream_count=3)
    for namespace in namespaces:
        await sender.publish(broadcast(sender._uid, namespace, nsp=namespace))
    await wait_until(lambda: len(received) == 3, message="one broadcast per namespace")
    assert sorted(m.nsp for m, _ in received) == sorted(namespaces)
    client = Redis.from_url(REDIS_URL)
    name = names["stream_name"]
    for stream in (f"{name}-2", f"{name}-1", f"{name}--1"):
        assert await client.xlen(stream) == 1, stream
    assert await client.exists(name) == 0
    await client.aclose()


async def test_stream_length_is_capped(make_node: MakeNode, names: dict[str, str]) -> None:
    sender, _ = await make_node(max_len=10)
    for i in range(300):
        await sender.publish(broadcast(sender._uid, i))
    client = Redis.from_url(REDIS_URL)
    length = await client.xlen(names["stream_name"])
    await client.aclose()
    # MAXLEN ~ trims whole macro nodes (100 entries by default), never below the cap
    assert 10 <= length < 300


async def test_malformed_messages_are_dropped_and_reading_goes_on(
    make_node: MakeNode, names: dict[str, str]
) -> None:
    sender, _ = await make_node()
    _, received = await make_node()
    client = Redis.from_url(REDIS_URL)
    stream, channel = names["stream_name"], f"{names['channel_prefix']}#/#"
    await client.xadd(stream, {"uid": "x", "nsp": "/", "type": "3", "data": "{oops"})
    await client.xadd(stream, {"uid": "x", "nsp": "/", "type": "42"})
    await client.xadd(stream, {"uid": "x", "type": "3"})
    await client.publish(channel, b"\xc1")
    await client.publish(channel, msgpack.packb({"type": 7, "uid": "x", "nsp": "/"}))
    await client.aclose()
    await sender.publish(broadcast(sender._uid, "still here"))
    await wait_until(lambda: received, message="the valid broadcast")
    assert [m.data["packet"]["data"][1] for m, _ in received] == ["still here"]  # type: ignore[index]


async def test_emitter_messages_all_go_to_the_stream(
    make_node: MakeNode, names: dict[str, str]
) -> None:
    _, received = await make_node()
    emitter = RedisStreamsTransport(url=REDIS_URL, stream_name=names["stream_name"])
    await emitter.open_publisher()
    try:
        offset = await emitter.publish(
            ClusterMessage(MessageType.SERVER_SIDE_EMIT, "emitter", "/", {"packet": ["hello"]})
        )
    finally:
        await emitter.close()
    assert offset is not None
    await wait_until(lambda: received, message="the emitter's server-side emit")
    assert received[0][1] == offset


async def test_messages_over_the_size_limit_are_refused(make_node: MakeNode) -> None:
    sender, _ = await make_node(limits=Limits(max_message_size=1000))
    with pytest.raises(PayloadTooLarge):
        await sender.publish(broadcast(sender._uid, "x" * 2000))
    with pytest.raises(PayloadTooLarge):
        await sender.publish(broadcast(sender._uid, "x" * 2000, request_id="1234567890abcdef"))


async def test_close_is_idempotent_and_stops_reading(make_node: MakeNode) -> None:
    sender, _ = await make_node()
    receiver, received = await make_node()
    await receiver.close()
    await receiver.close()
    assert not receiver.connected
    await sender.publish(broadcast(sender._uid, "after close"))
    assert await sender.server_count("/") == 1
    assert received == []


async def test_a_namespace_no_longer_served_is_no_longer_counted() -> None:
    require_redis()
    redis_url = REDIS_URL
    names = {"stream_name": "prune-test", "channel_prefix": "prune-test"}

    async def ignore(message: object, offset: object) -> None:
        return None

    a, b = (
        RedisStreamsTransport(url=redis_url, **names),
        RedisStreamsTransport(url=redis_url, **names),
    )
    for transport in (a, b):
        await transport.start(protocol.new_uid(), ignore)
        await transport.add_namespace("/dyn")
    try:
        assert await a.server_count("/dyn") == 2
        await b.remove_namespace("/dyn")
        assert await a.server_count("/dyn") == 1
    finally:
        await a.close()
        await b.close()
