"""Round trips through msgpack and JSON, and what our encoder leaves out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgpack
import pytest

from socketio_cloud.protocol import (
    EMITTER_UID,
    BroadcastOptions,
    ClusterMessage,
    MessageType,
    broadcast_data,
    decode,
    decode_data,
    decode_json,
    encode,
    encode_data,
    encode_json,
    has_binary,
    new_request_id,
    new_uid,
    validate_parts,
)

from .golden import BUILDERS, NODE_UID, REQUEST_ID, holds_date

# Every message type, built with our API: the golden builders plus shapes Node's adapter does
# not publish but emitters do.
SAMPLES: dict[str, ClusterMessage] = {name: build() for name, build in BUILDERS.items()}
SAMPLES["emitter_broadcast"] = ClusterMessage(
    MessageType.BROADCAST,
    EMITTER_UID,
    "/chat",
    {
        "packet": {"type": 2, "data": ["hello", "world"], "nsp": "/chat"},
        "opts": {"rooms": ["room1"], "except": [], "flags": {}},
    },
)
SAMPLES["emitter_server_side_emit"] = ClusterMessage(
    MessageType.SERVER_SIDE_EMIT, EMITTER_UID, "/", {"packet": ["tick", 1.5, None, [1, [2]]]}
)
SAMPLES["unicode_namespace_and_rooms"] = ClusterMessage(
    MessageType.SOCKETS_LEAVE,
    NODE_UID,
    "/ünï",
    {"opts": BroadcastOptions(rooms=("部屋",)).to_wire(), "rooms": ["部屋", "", "☃" * 300]},
)


@pytest.fixture(params=sorted(SAMPLES))
def sample(request: pytest.FixtureRequest) -> ClusterMessage:
    return SAMPLES[request.param]


def _nil_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _nil_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _nil_paths(item, (*path, index))]
    return []


# ---------------------------------------------------------------------------- round trips


def test_msgpack_round_trip(sample: ClusterMessage) -> None:
    assert decode(encode(sample)) == sample


def test_data_attribute_round_trip(sample: ClusterMessage) -> None:
    data = None if sample.data is None else decode_data(encode_data(sample.data))

    assert validate_parts(int(sample.type), sample.uid, sample.nsp, data) == sample


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name, message in SAMPLES.items()
        if not has_binary(message.data) and not holds_date(message.data)
    ),
)
def test_json_round_trip(name: str) -> None:
    sample = SAMPLES[name]

    assert decode_json(encode_json(sample)) == sample
    assert decode_json(encode_json(sample).encode()) == sample


def test_json_refuses_binary() -> None:
    binary = [m for m in SAMPLES.values() if has_binary(m.data)]

    assert binary, "the samples should include binary messages"
    for message in binary:
        with pytest.raises(TypeError):
            encode_json(message)


def test_json_keeps_node_key_order() -> None:
    assert encode_json(SAMPLES["broadcast_with_ack"]) == (
        '{"type":3,"data":{"packet":{"type":2,"data":["question",1]},'
        f'"requestId":"{REQUEST_ID}",'
        '"opts":{"rooms":["room1"],"except":[],"flags":{"timeout":5000}}},'
        f'"uid":"{NODE_UID}","nsp":"/"}}'
    )


def test_json_writes_dates_as_javascript_iso_text() -> None:
    # what JSON.stringify does with a Date on Node's JSON paths
    text = encode_json(SAMPLES["broadcast_date"])
    assert 'Z"' in text and "T" in text


def test_naive_datetimes_are_refused() -> None:
    # a timestamp needs a time zone; msgpack would take a naive one as local time
    message = ClusterMessage(
        MessageType.SERVER_SIDE_EMIT, NODE_UID, "/", {"packet": ["at", datetime(2026, 1, 1)]}
    )

    with pytest.raises(TypeError):
        encode(message)


def test_tuples_encode_as_lists() -> None:
    as_list = ClusterMessage(MessageType.SERVER_SIDE_EMIT, NODE_UID, "/", {"packet": ["a", [1]]})
    as_tuple = ClusterMessage(MessageType.SERVER_SIDE_EMIT, NODE_UID, "/", {"packet": ("a", (1,))})

    assert encode(as_tuple) == encode(as_list)
    assert encode_json(as_tuple) == encode_json(as_list)


def test_memoryview_encodes_as_binary() -> None:
    message = ClusterMessage(
        MessageType.BROADCAST_ACK, NODE_UID, "/", {"requestId": REQUEST_ID, "packet": b"\x01\x02"}
    )
    as_view = ClusterMessage(
        MessageType.BROADCAST_ACK,
        NODE_UID,
        "/",
        {"requestId": REQUEST_ID, "packet": memoryview(b"\x01\x02")},
    )

    assert encode(as_view) == encode(message)


def test_unencodable_values_raise_type_error() -> None:
    message = ClusterMessage(
        MessageType.SERVER_SIDE_EMIT, NODE_UID, "/", {"packet": ["a", object()]}
    )

    with pytest.raises(TypeError):
        encode(message)
    with pytest.raises(TypeError):
        encode_json(message)


# ---------------------------------------------------------------------------- absent means omitted


def test_messages_without_data_have_no_data_key() -> None:
    for message_type in (
        MessageType.INITIAL_HEARTBEAT,
        MessageType.HEARTBEAT,
        MessageType.ADAPTER_CLOSE,
    ):
        wire = msgpack.unpackb(encode(ClusterMessage(message_type, NODE_UID, "/")))
        assert list(wire) == ["type", "uid", "nsp"]


def test_plain_broadcast_has_no_request_id() -> None:
    data = broadcast_data(BroadcastOptions(), ["hello"])

    assert list(data) == ["packet", "opts"]
    assert list(data["packet"]) == ["type", "data"]


def test_ack_broadcast_puts_request_id_between_packet_and_opts() -> None:
    data = broadcast_data(BroadcastOptions(flags={"timeout": 1000}), ["hello"], REQUEST_ID)

    assert list(data) == ["packet", "requestId", "opts"]


def test_broadcast_options_always_carry_rooms_except_and_flags() -> None:
    assert BroadcastOptions().to_wire() == {"rooms": [], "except": [], "flags": {}}


def test_messages_built_by_our_api_carry_no_nil(sample: ClusterMessage) -> None:
    nils = _nil_paths(msgpack.unpackb(encode(sample)))

    # application values (packet arguments, ack values) may be null; nothing else is
    assert all(path[:2] == ("data", "packet") for path in nils), nils


def test_only_application_nulls_are_sent_as_nil() -> None:
    assert _nil_paths(msgpack.unpackb(encode(SAMPLES["broadcast_binary"]))) == [
        ("data", "packet", "data", 4)
    ]
    assert _nil_paths(msgpack.unpackb(encode(SAMPLES["broadcast_ack_no_value"]))) == []


# ---------------------------------------------------------------------------- has_binary


@pytest.mark.parametrize(
    "value",
    [
        b"",
        bytearray(b"x"),
        memoryview(b"x"),
        ["a", b"x"],
        ("a", (1, b"x")),
        {"k": {"k": [b"x"]}},
    ],
    ids=repr,
)
def test_has_binary_finds_bytes_anywhere(value: Any) -> None:
    assert has_binary(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "bytes",
        1,
        1.5,
        True,
        [],
        {},
        ["a", ["b", {"c": None}]],
        {b"key": "bytes keys are keys"},
    ],
    ids=repr,
)
def test_has_binary_is_false_without_bytes(value: Any) -> None:
    assert not has_binary(value)


# ---------------------------------------------------------------------------- small helpers


def test_new_ids_look_like_nodes_ids() -> None:
    uids = {new_uid() for _ in range(50)}
    request_ids = {new_request_id() for _ in range(50)}

    assert len(uids) == 50 and len(request_ids) == 50
    for value in uids | request_ids:
        assert len(value) == 16
        assert int(value, 16) >= 0 and value == value.lower()


@pytest.mark.parametrize(
    ("flags", "seconds"),
    [
        ({"timeout": 5000}, 5.0),
        ({"timeout": 250}, 0.25),
        ({"timeout": 0}, None),
        ({"timeout": -1}, None),
        ({"timeout": True}, None),
        ({"timeout": "5000"}, None),
        ({}, None),
    ],
)
def test_broadcast_options_timeout_is_seconds(flags: dict[str, Any], seconds: float | None) -> None:
    assert BroadcastOptions(flags=flags).timeout == seconds


def test_response_types() -> None:
    responses = {m for m in MessageType if ClusterMessage(m, NODE_UID, "/").is_response}

    assert responses == {
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_CLIENT_COUNT,
        MessageType.BROADCAST_ACK,
    }
