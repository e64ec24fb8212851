"""How Redis Streams entries are framed: field layout, text/binary choice, stream routing."""

from __future__ import annotations

import base64
import json

import msgpack
import pytest

from socketio_cloud import protocol
from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType, broadcast_data
from socketio_cloud.transports.redis_streams import (
    entry_fields,
    message_from_entry,
    stream_for_namespace,
)

UID = "0123456789abcdef"


def broadcast(*args: object) -> ClusterMessage:
    data = broadcast_data(BroadcastOptions(("room1",), ("room2",)), ["event", *args])
    return ClusterMessage(MessageType.BROADCAST, UID, "/chat", data)


def test_entry_fields_are_uid_nsp_type_then_json_data() -> None:
    fields = entry_fields(broadcast("héllo", 1))
    assert list(fields) == ["uid", "nsp", "type", "data"]
    assert fields["type"] == "3"
    # JSON.stringify: compact and non-ASCII kept as it is
    assert fields["data"] == (
        '{"packet":{"type":2,"data":["event","héllo",1]},'
        '"opts":{"rooms":["room1"],"except":["room2"],"flags":{}}}'
    )


def test_binary_capable_message_with_bytes_is_base64_msgpack() -> None:
    message = broadcast(b"\x00\x01")
    fields = entry_fields(message)
    assert not fields["data"].startswith("{")
    assert msgpack.unpackb(base64.b64decode(fields["data"]), raw=False) == message.data


def test_bytes_in_a_type_that_cannot_carry_binary_is_refused() -> None:
    # Node would JSON-encode a Buffer as an object; such data never comes from the core
    message = ClusterMessage(
        MessageType.SOCKETS_JOIN, UID, "/", {"opts": BroadcastOptions().to_wire(), "rooms": [b"x"]}
    )
    with pytest.raises(TypeError):
        entry_fields(message)


def test_message_without_data_has_no_data_field() -> None:
    fields = entry_fields(ClusterMessage(MessageType.HEARTBEAT, UID, "/"))
    assert fields == {"uid": UID, "nsp": "/", "type": "2"}


@pytest.mark.parametrize("args", [("text", 1.5, None, [1, {"a": True}]), (b"\xff" * 3, "x")])
def test_entries_decode_to_the_message_they_encode(args: tuple[object, ...]) -> None:
    message = broadcast(*args)
    raw = {k.encode(): v.encode() for k, v in entry_fields(message).items()}
    assert message_from_entry(raw) == message


def test_entry_without_namespace_is_skipped() -> None:
    assert message_from_entry({b"uid": b"x", b"type": b"3"}) is None
    assert message_from_entry({b"uid": b"x", b"nsp": b"", b"type": b"3"}) is None


@pytest.mark.parametrize(
    "fields",
    [
        {b"uid": b"x", b"nsp": b"/", b"type": b"3", b"data": b"{broken"},
        {b"uid": b"x", b"nsp": b"/", b"type": b"3", b"data": b"@@@"},
        {b"uid": b"x", b"nsp": b"/", b"type": b"3", b"data": b'{"packet":5}'},
        {b"uid": b"x", b"nsp": b"/", b"type": b"99"},
        {b"nsp": b"/", b"type": b"4", b"data": json.dumps({"rooms": []}).encode()},
        {b"uid": b"\xff", b"nsp": b"/", b"type": b"2"},
        {b"uid": b"x", b"nsp": b"chat", b"type": b"2"},
    ],
)
def test_malformed_entries_raise_decode_error(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(DecodeError):
        message_from_entry(fields)


@pytest.mark.parametrize(
    "data",
    [
        '{"packet":{"type":2,"data":["tick",{"n":1.5,"s":"é\\u00e9","l":[true,null]}]}}',
        '{"packet":{"type":2,"data":["tick"]}}  \n',  # whitespace after the object is JSON
        '{ "packet" : { "type" : 2, "data" : [ "tick" ] } }',
    ],
)
def test_json_data_is_read_as_json_loads_reads_it(data: str) -> None:
    fields = {b"uid": b"x", b"nsp": b"/", b"type": b"3", b"data": data.encode()}
    message = message_from_entry(fields)
    assert message is not None and message.data is not None
    assert message.data["packet"] == json.loads(data)["packet"]


@pytest.mark.parametrize(
    "data",
    ['{"packet":{"type":2,"data":["tick"]}}x', '{"a":1}{"b":2}', "{", '{"a":' + "[" * 100_000],
)
def test_json_data_with_anything_after_it_or_cut_short_is_refused(data: str) -> None:
    fields = {b"uid": b"x", b"nsp": b"/", b"type": b"3", b"data": data.encode()}
    with pytest.raises(DecodeError):
        message_from_entry(fields)


def test_fields_may_be_named_in_text_too() -> None:
    data = json.dumps(broadcast_data(BroadcastOptions(), ["tick"]))
    message = message_from_entry({"uid": "x", "nsp": "/", "type": "3", "data": data})
    assert message is not None and message.type is MessageType.BROADCAST


# Node's hashCode() of these namespaces and the stream index it picks (computed with
# @socket.io/redis-streams-adapter 0.3.1; the interop tests check a few against Node itself).
@pytest.mark.parametrize(
    ("namespace", "count", "stream"),
    [
        ("/", 1, "s"),
        ("/", 3, "s-2"),
        ("/admin", 3, "s-1"),
        ("/chat", 7, "s-4"),
        ("/orders/eu-west-1", 7, "s-0"),
        ("/ü", 3, "s-2"),
        # a negative hash keeps its sign in JavaScript's remainder
        ("/😀emoji", 3, "s--1"),
        ("/😀emoji", 7, "s--2"),
    ],
)
def test_namespace_goes_to_the_stream_node_picks(namespace: str, count: int, stream: str) -> None:
    assert stream_for_namespace(namespace, "s", count) == stream


def test_a_value_neither_json_nor_binary_is_refused() -> None:
    with pytest.raises(TypeError):
        entry_fields(broadcast(object()))


@pytest.mark.parametrize(
    "message",
    [
        broadcast("héllo", {"n": 1}),
        ClusterMessage(MessageType.HEARTBEAT, UID, "/"),
        broadcast(b"\x00\x01"),
    ],
    ids=["broadcast", "no data", "binary"],
)
def test_commands_are_packed_as_redis_py_packs_them(message: ClusterMessage) -> None:
    from redis.asyncio.connection import Connection

    from socketio_cloud.transports.redis_streams import RedisStreamsTransport

    transport = RedisStreamsTransport(stream_name="s", channel_prefix="c", max_len=500)
    fields = entry_fields(message)
    expected = b"".join(
        Connection().pack_command(
            "XADD", transport.stream_for(message.nsp), "MAXLEN", "~", 500, "*",
            *(part for pair in fields.items() for part in pair),
        )
    )  # fmt: skip
    key, published, packed, _ = transport._command(message, lambda error: None)
    assert (key, published, packed) == (transport.stream_for(message.nsp), False, expected)
    # a second message on the same stream reuses the packed start of the command
    assert transport._command(message, lambda error: None)[2] == expected
    request = ClusterMessage(MessageType.FETCH_SOCKETS, UID, "/", {"requestId": "ab", "opts": {}})
    key, published, packed, _ = transport._command(request, lambda error: None)
    assert published and key == transport.public_channel("/")
    assert packed == b"".join(Connection().pack_command("PUBLISH", key, protocol.encode(request)))
    response = ClusterMessage(
        MessageType.BROADCAST_ACK, UID, "/é", {"requestId": "ab", "packet": "x" * 300}
    )
    channel = transport.response_channel("/é", "requester")
    packed = transport._publish_command(channel, response, lambda error: None)[2]
    assert packed == b"".join(
        Connection().pack_command("PUBLISH", channel, protocol.encode(response))
    )
