"""What ``decode``/``validate`` accept from a broker and what they refuse with DecodeError."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgpack
import pytest

from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import (
    DEFAULT_LIMITS,
    Limits,
    MessageType,
    decode,
    decode_json,
    has_binary,
    validate,
    validate_parts,
)

from .golden import GOLDEN_BY_NAME, NODE_UID, REQUEST_ID

OPTS: dict[str, Any] = {"rooms": [], "except": [], "flags": {}}
PACKET = {"type": 2, "data": ["event", 1]}
SOCKET = {"id": "AbCdEfGhIjKlMnOpQrSt", "handshake": {}, "rooms": [], "data": {}}

# A valid data map for every type that carries one.
VALID_DATA: dict[MessageType, dict[str, Any]] = {
    MessageType.BROADCAST: {"packet": PACKET, "opts": OPTS},
    MessageType.SOCKETS_JOIN: {"opts": OPTS, "rooms": ["r"]},
    MessageType.SOCKETS_LEAVE: {"opts": OPTS, "rooms": ["r"]},
    MessageType.DISCONNECT_SOCKETS: {"opts": OPTS, "close": False},
    MessageType.FETCH_SOCKETS: {"opts": OPTS, "requestId": REQUEST_ID},
    MessageType.FETCH_SOCKETS_RESPONSE: {"requestId": REQUEST_ID, "sockets": [SOCKET]},
    MessageType.SERVER_SIDE_EMIT: {"packet": ["event", 1]},
    MessageType.SERVER_SIDE_EMIT_RESPONSE: {"requestId": REQUEST_ID, "packet": 1},
    MessageType.BROADCAST_CLIENT_COUNT: {"requestId": REQUEST_ID, "clientCount": 1},
    MessageType.BROADCAST_ACK: {"requestId": REQUEST_ID, "packet": 1},
}


def envelope(type_: Any = MessageType.BROADCAST, **changes: Any) -> dict[str, Any]:
    """A valid envelope of ``type_``; ``changes`` replace its fields (``...`` removes one)."""
    data = VALID_DATA.get(MessageType(type_)) if isinstance(type_, int) else None
    wire: dict[str, Any] = {"type": int(type_), "uid": NODE_UID, "nsp": "/"}
    if data is not None:
        wire["data"] = copy.deepcopy(data)
    for key, value in changes.items():
        if value is ...:
            wire.pop(key, None)
        else:
            wire[key] = value
    return wire


def with_data(type_: MessageType, **changes: Any) -> dict[str, Any]:
    """A valid envelope of ``type_`` whose data fields are replaced (``...`` removes one)."""
    data = copy.deepcopy(VALID_DATA[type_])
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return envelope(type_, data=data)


def with_opts(type_: MessageType = MessageType.BROADCAST, /, **changes: Any) -> dict[str, Any]:
    opts = dict(OPTS)
    for key, value in changes.items():
        if value is ...:
            opts.pop(key, None)
        else:
            opts[key] = value
    return with_data(type_, opts=opts)


def assert_refused(obj: Any, limits: Limits | None = None) -> None:
    """Refused both as an already decoded map and as msgpack bytes from a broker."""
    extra = {} if limits is None else {"limits": limits}
    with pytest.raises(DecodeError):
        validate(copy.deepcopy(obj), **extra)
    with pytest.raises(DecodeError):
        decode(msgpack.packb(obj, use_bin_type=True), **extra)


# ---------------------------------------------------------------------------- valid shapes


@pytest.mark.parametrize("message_type", list(MessageType), ids=lambda t: t.name)
def test_minimal_valid_message_of_every_type(message_type: MessageType) -> None:
    message = decode(msgpack.packb(envelope(message_type)))

    assert message.type == message_type
    assert message.data == VALID_DATA.get(message_type)


def test_type_may_be_decimal_text() -> None:
    # SQS bodies and stream fields carry the type as text
    assert validate_parts("3", NODE_UID, "/", VALID_DATA[MessageType.BROADCAST]).type == 3
    assert validate_parts("13", NODE_UID, "/", None).type == MessageType.ADAPTER_CLOSE


def test_data_of_heartbeats_and_close_is_ignored() -> None:
    for message_type in (1, 2, 13):
        assert decode(msgpack.packb(envelope(message_type, data=[1, 2]))).data is None


def test_missing_opts_mean_the_whole_namespace() -> None:
    message = decode(msgpack.packb(with_data(MessageType.BROADCAST, opts=...)))

    assert message.data is not None
    assert message.data["opts"] == {"rooms": [], "except": [], "flags": {}}


def test_missing_or_nil_parts_of_opts_are_empty() -> None:
    for changes in (
        {"rooms": ..., "except": ..., "flags": ...},
        {"rooms": None, "except": None, "flags": None},
    ):
        message = decode(msgpack.packb(with_opts(**changes)))
        assert message.data is not None
        assert message.data["opts"] == {"rooms": [], "except": [], "flags": {}}


def test_unknown_flags_and_extra_keys_are_kept() -> None:
    obj = with_opts(flags={"volatile": True, "future": [1]})
    obj["data"]["extra"] = "x"
    obj["extra"] = "y"

    message = decode(msgpack.packb(obj))

    assert message.options().flags == {"volatile": True, "future": [1]}
    assert message.data is not None and message.data["extra"] == "x"


def test_emitter_broadcast_with_packet_nsp_and_without_flags() -> None:
    # what the Redis Streams and Postgres emitters publish
    obj = {
        "type": 3,
        "data": {
            "packet": {"type": 2, "data": ["hello"], "nsp": "/admin"},
            "opts": {"rooms": ["r"], "except": []},
        },
        "uid": "emitter",
        "nsp": "/admin",
    }

    message = decode(msgpack.packb(obj))

    assert message.options().rooms == ("r",)
    assert message.options().flags == {}


def test_binary_event_packet_type_is_accepted() -> None:
    packet = {"type": 5, "data": ["file", b"\x00"]}

    assert decode(msgpack.packb(with_data(MessageType.BROADCAST, packet=packet))).type == 3


def test_missing_close_means_namespace_disconnect() -> None:
    message = decode(msgpack.packb(with_data(MessageType.DISCONNECT_SOCKETS, close=...)))

    assert message.data is not None and message.data.get("close", False) is False


def test_missing_handshake_and_rooms_of_a_socket_are_empty() -> None:
    sockets = [{"id": "AbCdEfGhIjKlMnOpQrSt"}]

    message = decode(msgpack.packb(with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=sockets)))

    assert message.data is not None
    assert message.data["sockets"][0]["handshake"] == {}
    assert message.data["sockets"][0]["rooms"] == []


def test_responses_may_carry_no_value() -> None:
    for message_type in (MessageType.SERVER_SIDE_EMIT_RESPONSE, MessageType.BROADCAST_ACK):
        for changes in ({"packet": ...}, {"packet": None}):
            message = decode(msgpack.packb(with_data(message_type, **changes)))
            assert message.data is not None and message.data.get("packet") is None


def test_a_batch_of_replies_keeps_each_reply() -> None:
    packets = [["a"], [], [None], [{"n": [1]}], [b"\x00"]]
    message = decode(msgpack.packb(with_data(MessageType.BROADCAST_ACK, packets=packets)))
    assert message.data is not None and message.data["packets"] == packets
    empty = decode(msgpack.packb(with_data(MessageType.BROADCAST_ACK, packets=[])))
    assert empty.data is not None and empty.data["packets"] == []


# ---------------------------------------------------------------------------- nil requestId


def test_nil_request_id_on_a_broadcast_is_a_plain_broadcast() -> None:
    message = decode(msgpack.packb(with_data(MessageType.BROADCAST, requestId=None)))

    assert message.request_id is None
    assert message.data is not None and "requestId" not in message.data


def test_nil_request_id_on_a_server_side_emit_needs_no_ack() -> None:
    message = decode(msgpack.packb(with_data(MessageType.SERVER_SIDE_EMIT, requestId=None)))

    assert message.request_id is None
    assert message.data is not None and "requestId" not in message.data


@pytest.mark.parametrize(
    "message_type",
    [
        MessageType.FETCH_SOCKETS,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_CLIENT_COUNT,
        MessageType.BROADCAST_ACK,
    ],
    ids=lambda t: t.name,
)
def test_request_id_is_required(message_type: MessageType) -> None:
    assert_refused(with_data(message_type, requestId=...))
    assert_refused(with_data(message_type, requestId=None))


# ---------------------------------------------------------------------------- refused shapes

REFUSED: dict[str, Any] = {
    # envelope
    "envelope is a list": [3, NODE_UID, "/"],
    "envelope is text": "hello",
    "envelope is nil": None,
    "envelope is a number": 3,
    # type
    "type missing": envelope(type=...),
    "type is nil": envelope(type=None),
    "type is text": envelope(type="three"),
    "type is empty text": envelope(type=""),
    "type is a boolean": envelope(MessageType.HEARTBEAT, type=True),
    "type is a float": envelope(type=3.0),
    "type 0": envelope(type=0),
    "type 14": envelope(type=14),
    "type negative": envelope(type=-1),
    "type huge": envelope(type=2**64 - 1),
    "type superscript digit": envelope(type="²"),
    "type non-ASCII digit": envelope(type="٣"),
    "type padded text": envelope(type=" 3"),
    "type too long text": envelope(type="0003"),
    # uid
    "uid missing": envelope(uid=...),
    "uid is a number": envelope(uid=123),
    "uid is binary": envelope(uid=NODE_UID.encode()),
    "uid empty": envelope(uid=""),
    "uid too long": envelope(uid="u" * 129),
    # nsp
    "nsp missing": envelope(nsp=...),
    "nsp is nil": envelope(nsp=None),
    "nsp without slash": envelope(nsp="admin"),
    "nsp empty": envelope(nsp=""),
    "nsp is a list": envelope(nsp=["/"]),
    "nsp too long": envelope(nsp="/" + "n" * 1024),
    "nsp of a heartbeat without slash": envelope(MessageType.HEARTBEAT, nsp="x"),
    # data
    **{f"{t.name} without data": envelope(t, data=...) for t in VALID_DATA},
    **{f"{t.name} with list data": envelope(t, data=[1]) for t in VALID_DATA},
    **{f"{t.name} with text data": envelope(t, data="{}") for t in VALID_DATA},
    # opts
    "opts is a list": with_data(MessageType.BROADCAST, opts=[]),
    "opts is text": with_data(MessageType.SOCKETS_JOIN, opts="all"),
    "opts.rooms is text": with_opts(rooms="room1"),
    "opts.rooms is a map": with_opts(rooms={"room1": True}),
    "opts.rooms holds a number": with_opts(rooms=["room1", 2]),
    "opts.rooms holds nil": with_opts(rooms=[None]),
    "opts.rooms holds binary": with_opts(rooms=[b"room1"]),
    "opts.rooms entry too long": with_opts(rooms=["r" * 1025]),
    "opts.except is text": with_opts(**{"except": "sid"}),
    "opts.except holds a list": with_opts(**{"except": [["sid"]]}),
    "opts.flags is a list": with_opts(flags=["volatile"]),
    "opts.flags is text": with_opts(MessageType.FETCH_SOCKETS, flags="local"),
    "opts of a disconnect is bad": with_opts(MessageType.DISCONNECT_SOCKETS, rooms=1),
    "opts of a leave is bad": with_opts(MessageType.SOCKETS_LEAVE, flags=1),
    # broadcast packet
    "packet missing": with_data(MessageType.BROADCAST, packet=...),
    "packet is a list": with_data(MessageType.BROADCAST, packet=["event"]),
    "packet type CONNECT": with_data(MessageType.BROADCAST, packet={"type": 0, "data": ["e"]}),
    "packet type ACK": with_data(MessageType.BROADCAST, packet={"type": 3, "data": ["e"]}),
    "packet type text": with_data(MessageType.BROADCAST, packet={"type": "2", "data": ["e"]}),
    "packet type missing": with_data(MessageType.BROADCAST, packet={"data": ["e"]}),
    "packet data missing": with_data(MessageType.BROADCAST, packet={"type": 2}),
    "packet data empty": with_data(MessageType.BROADCAST, packet={"type": 2, "data": []}),
    "packet data is a map": with_data(MessageType.BROADCAST, packet={"type": 2, "data": {}}),
    "packet event is a number": with_data(
        MessageType.BROADCAST, packet={"type": 2, "data": [1, "x"]}
    ),
    "packet event is binary": with_data(MessageType.BROADCAST, packet={"type": 2, "data": [b"e"]}),
    # requestId
    "requestId is a number": with_data(MessageType.BROADCAST, requestId=1234),
    "requestId is binary": with_data(MessageType.FETCH_SOCKETS, requestId=b"5eed5eed5eed5eed"),
    "requestId upper case": with_data(MessageType.FETCH_SOCKETS, requestId="5EED5EED5EED5EED"),
    "requestId not hex": with_data(MessageType.BROADCAST_ACK, requestId="not-hex!"),
    "requestId empty": with_data(MessageType.SERVER_SIDE_EMIT, requestId=""),
    "requestId with newline": with_data(MessageType.FETCH_SOCKETS, requestId=REQUEST_ID + "\n"),
    "requestId too long": with_data(MessageType.BROADCAST_CLIENT_COUNT, requestId="a" * 65),
    # join / leave
    "rooms is text": with_data(MessageType.SOCKETS_JOIN, rooms="room1"),
    "rooms holds a number": with_data(MessageType.SOCKETS_LEAVE, rooms=[1]),
    "rooms holds a map": with_data(MessageType.SOCKETS_JOIN, rooms=[{"room": 1}]),
    # disconnect
    "close is text": with_data(MessageType.DISCONNECT_SOCKETS, close="true"),
    "close is a number": with_data(MessageType.DISCONNECT_SOCKETS, close=1),
    # fetch response
    "sockets missing": with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=...),
    "sockets is a map": with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets={"id": "x"}),
    "socket is a list": with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=[["x"]]),
    "socket id missing": with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"rooms": []}]),
    "socket id empty": with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"id": ""}]),
    "socket id is a number": with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"id": 7}]),
    "socket rooms is text": with_data(
        MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"id": "x", "rooms": "x"}]
    ),
    "socket rooms holds a number": with_data(
        MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"id": "x", "rooms": ["x", 1]}]
    ),
    "socket id too long": with_data(
        MessageType.FETCH_SOCKETS_RESPONSE,
        sockets=[{"id": "x" * (DEFAULT_LIMITS.max_room_length + 1)}],
    ),
    "socket room too long": with_data(
        MessageType.FETCH_SOCKETS_RESPONSE,
        sockets=[{"id": "x", "rooms": ["x", "r" * (DEFAULT_LIMITS.max_room_length + 1)]}],
    ),
    "socket in too many rooms": with_data(
        MessageType.FETCH_SOCKETS_RESPONSE,
        sockets=[{"id": "x", "rooms": ["r"] * (DEFAULT_LIMITS.max_rooms + 1)}],
    ),
    "socket handshake is text": with_data(
        MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"id": "x", "handshake": "GET /"}]
    ),
    # server-side emit
    "server-side packet missing": with_data(MessageType.SERVER_SIDE_EMIT, packet=...),
    "server-side packet is a map": with_data(
        MessageType.SERVER_SIDE_EMIT, packet={"type": 2, "data": ["e"]}
    ),
    "server-side packet empty": with_data(MessageType.SERVER_SIDE_EMIT, packet=[]),
    "server-side event is a number": with_data(MessageType.SERVER_SIDE_EMIT, packet=[1]),
    "server-side event is nil": with_data(MessageType.SERVER_SIDE_EMIT, packet=[None]),
    # client count
    "clientCount missing": with_data(MessageType.BROADCAST_CLIENT_COUNT, clientCount=...),
    "clientCount is nil": with_data(MessageType.BROADCAST_CLIENT_COUNT, clientCount=None),
    "clientCount negative": with_data(MessageType.BROADCAST_CLIENT_COUNT, clientCount=-1),
    "clientCount is a boolean": with_data(MessageType.BROADCAST_CLIENT_COUNT, clientCount=True),
    "clientCount is a float": with_data(MessageType.BROADCAST_CLIENT_COUNT, clientCount=1.5),
    "clientCount is text": with_data(MessageType.BROADCAST_CLIENT_COUNT, clientCount="1"),
    # a batch of client replies
    "packets is a map": with_data(MessageType.BROADCAST_ACK, packets={"0": ["a"]}),
    "packets is text": with_data(MessageType.BROADCAST_ACK, packets="a"),
    "packets holds a bare value": with_data(MessageType.BROADCAST_ACK, packets=[["a"], "b"]),
    "packets holds two values": with_data(MessageType.BROADCAST_ACK, packets=[["a", "b"]]),
    "packets too many": with_data(
        MessageType.BROADCAST_ACK, packets=[[]] * (DEFAULT_LIMITS.max_sockets + 1)
    ),
}


@pytest.mark.parametrize("obj", list(REFUSED.values()), ids=list(REFUSED))
def test_malformed_message_is_refused(obj: Any) -> None:
    assert_refused(obj)


REFUSED_AS_JSON = {name: obj for name, obj in REFUSED.items() if not has_binary(obj)}


@pytest.mark.parametrize("obj", list(REFUSED_AS_JSON.values()), ids=list(REFUSED_AS_JSON))
def test_malformed_json_message_is_refused(obj: Any) -> None:
    with pytest.raises(DecodeError):
        decode_json(json.dumps(obj))


# ---------------------------------------------------------------------------- bytes and limits


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never used in msgpack
        b"\x84\xa4type",  # truncated
        msgpack.packb(envelope()) + b"\x00",  # trailing bytes
        b"\x81\x01\x02",  # integer map key
        b"\x81\x91\x01\x02",  # list as map key
        b"\x81\xa1t\xa2\xff\xfe",  # invalid UTF-8 in a string
        b"\x91" * 100_000 + b"\xc0",  # nested beyond any sane depth
        b"\xdd\xff\xff\xff\xff",  # array announcing 4 G entries
        b"\xd7\xff" + b"\xff" * 8,  # timestamp with nanoseconds out of range
    ],
    ids=repr,
)
def test_invalid_msgpack_is_refused(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


@pytest.mark.parametrize(
    "text",
    ["", "{", "[" * 100_000, "null", "[]", '"x"', b"\xff\xfe\x00", '{"type": NaN}', "1" * 5000],
    ids=lambda text: repr(text[:20]),
)
def test_invalid_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(DecodeError):
        decode_json(text)


def test_non_bytes_are_refused_by_decode() -> None:
    with pytest.raises(DecodeError):
        decode("not bytes")  # type: ignore[arg-type]


def test_message_larger_than_the_limit_is_refused() -> None:
    raw = GOLDEN_BY_NAME["broadcast_binary"].envelope
    text = json.dumps(envelope())

    assert decode(raw, limits=Limits(max_message_size=len(raw))).type == 3
    with pytest.raises(DecodeError, match="exceeds"):
        decode(raw, limits=Limits(max_message_size=len(raw) - 1))
    assert decode_json(text, limits=Limits(max_message_size=len(text))).type == 3
    with pytest.raises(DecodeError, match="exceeds"):
        decode_json(text, limits=Limits(max_message_size=len(text) - 1))


def test_default_limit_refuses_a_huge_message() -> None:
    raw = msgpack.packb(with_data(MessageType.SERVER_SIDE_EMIT, packet=["e", b"\x00" * 5_000_000]))

    with pytest.raises(DecodeError, match="exceeds"):
        decode(raw)


def test_too_many_rooms_are_refused() -> None:
    limits = Limits(max_rooms=2)

    assert validate(with_opts(rooms=["a", "b"]), limits=limits).options().rooms == ("a", "b")
    assert_refused(with_opts(rooms=["a", "b", "c"]), limits)
    assert_refused(with_opts(**{"except": ["a", "b", "c"]}), limits)
    assert_refused(with_data(MessageType.SOCKETS_JOIN, rooms=["a", "b", "c"]), limits)
    sockets = [{"id": "x", "rooms": ["a", "b", "c"]}]
    assert_refused(with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=sockets), limits)


def test_too_many_sockets_are_refused() -> None:
    limits = Limits(max_sockets=1)
    two = [{"id": "x"}, {"id": "y"}]

    assert validate(with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=two[:1]), limits=limits)
    assert_refused(with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=two), limits)


def test_long_names_are_refused_at_their_limits() -> None:
    limits = Limits(max_room_length=3, max_namespace_length=4, max_uid_length=5)

    assert validate(envelope(uid="u" * 5, nsp="/abc"), limits=limits).uid == "uuuuu"
    assert_refused(envelope(uid="u" * 6), limits)
    assert_refused(envelope(nsp="/abcd"), limits)
    assert_refused(with_opts(rooms=["abcd"]), limits)
    assert_refused(with_data(MessageType.FETCH_SOCKETS_RESPONSE, sockets=[{"id": "abcd"}]), limits)
