"""Large messages: a ``fetch_sockets`` answer keeps its sockets' handshakes packed until they
are read, and decodes to what msgpack itself gives once they are; hostile input still
decodes or raises DecodeError."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio_cloud import protocol
from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import ClusterMessage, MessageType, PackedMap
from socketio_cloud.remote_socket import RemoteSocket

from .golden import GOLDEN_BY_NAME
from .test_fuzz import (
    FUZZ,
    GOLDEN_ENVELOPES,
    _decodes_or_refuses,
    envelopes,
    msgpack_values,
)

ANSWER = MessageType.FETCH_SOCKETS_RESPONSE


@pytest.fixture(autouse=True)
def every_message_is_large() -> Iterator[None]:
    """Every message takes the path of large ones, however small."""
    with mock.patch.object(protocol, "LARGE_MESSAGE", 0):
        yield


def unpacked(value: Any) -> Any:
    """``value`` with every PackedMap in it unpacked."""
    if isinstance(value, PackedMap):
        return value.unpack()
    if isinstance(value, dict):
        return {key: unpacked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unpacked(item) for item in value]
    return value


def packed_handshakes(data: Any) -> list[Any]:
    return [socket.get("handshake") for socket in data["sockets"]]


def _socket(index: int, handshake: Any = None) -> dict[str, Any]:
    handshake = {"address": "::1", "query": {"n": str(index)}} if handshake is None else handshake
    return {"id": f"s{index}", "handshake": handshake, "rooms": [f"s{index}"], "data": {}}


def answer(sockets: list[Any]) -> bytes:
    data = {"requestId": "1" * 16, "sockets": sockets}
    return protocol.encode(ClusterMessage(ANSWER, "a" * 16, "/", data))


def test_the_handshakes_of_an_answer_stay_packed_and_unpack_to_the_same_maps() -> None:
    sockets = [_socket(i) for i in range(3)]
    message = protocol.decode(answer(sockets))
    assert message.data is not None
    assert all(type(h) is PackedMap for h in packed_handshakes(message.data))
    assert unpacked(message.data) == {"requestId": "1" * 16, "sockets": sockets}


def test_node_s_own_answer_decodes_to_the_same_message_either_way() -> None:
    raw = GOLDEN_BY_NAME["fetch_sockets_response"].envelope
    lazy = protocol.decode(raw)
    assert lazy.data is not None
    assert all(type(h) is PackedMap for h in packed_handshakes(lazy.data))
    with mock.patch.object(protocol, "LARGE_MESSAGE", len(raw) + 1):
        eager = protocol.decode(raw)
    assert unpacked(lazy.data) == eager.data
    assert (lazy.type, lazy.uid, lazy.nsp) == (eager.type, eager.uid, eager.nsp)


def test_a_data_map_the_caller_knows_to_be_an_answer_keeps_them_packed_too() -> None:
    data = {"requestId": "1" * 16, "sockets": [_socket(0)]}
    raw = protocol.encode_data(data)
    lazy = protocol.decode_data(raw, fetch_response=True)
    assert type(lazy["sockets"][0]["handshake"]) is PackedMap
    assert unpacked(lazy) == data
    # without the hint a data map is decoded as it is
    assert protocol.decode_data(raw) == data


@pytest.mark.parametrize(
    "wire",
    [
        # the type after the data: not known in time, so nothing is left packed
        {"data": {"requestId": "1" * 16, "sockets": [_socket(0)]}, "type": 8},
        # another type whose data happens to hold sockets
        {"type": 3, "data": {"sockets": [_socket(0)], "packet": {}, "opts": {}}},
    ],
)
def test_other_messages_are_decoded_as_msgpack_decodes_them(wire: dict[str, Any]) -> None:
    raw = msgpack.packb({**wire, "uid": "a" * 16, "nsp": "/"})
    assert protocol._unpack(raw, protocol.DEFAULT_LIMITS) == msgpack.unpackb(raw)


def test_a_handshake_that_is_not_a_map_is_refused() -> None:
    with pytest.raises(DecodeError, match="handshake must be a map"):
        protocol.decode(answer([_socket(0, handshake="text")]))
    # a missing handshake is an empty one, as before
    message = protocol.decode(answer([{"id": "s0", "rooms": [], "data": {}}]))
    assert message.data is not None and message.data["sockets"][0]["handshake"] == {}


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda raw: raw[:-3], "invalid msgpack"),
        (lambda raw: raw + b"\x00", "extra data"),
        # an integer key inside a socket map
        (lambda raw: raw.replace(b"\xa2id", b"\xcd\x01\x00", 1), "not allowed for map key"),
    ],
)
def test_broken_answers_raise_decode_error(mangle: Callable[[bytes], bytes], error: str) -> None:
    with pytest.raises(DecodeError, match=error):
        protocol.decode(mangle(answer([_socket(0), _socket(1)])))


def test_a_handshake_whose_text_is_broken_reads_as_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # valid structure, invalid UTF-8: only unpacking it finds out
    broken = PackedMap(b"\x81\xa1x\xa1\xff")
    with pytest.raises(DecodeError):
        broken.unpack()
    socket = RemoteSocket("s0", "/", frozenset(), {}, broken, object())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="socketio_cloud"):
        assert socket.handshake == {}
    assert "cannot be read" in caplog.text


def test_a_packed_handshake_is_unpacked_once_on_first_read() -> None:
    packed = PackedMap(msgpack.packb({"address": "::1"}))
    socket = RemoteSocket("s0", "/", frozenset({"s0"}), {}, packed, object())  # type: ignore[arg-type]
    first = socket.handshake
    assert first == {"address": "::1"}
    assert socket.handshake is first
    plain = RemoteSocket("s0", "/", frozenset({"s0"}), {}, {"address": "::1"}, object())  # type: ignore[arg-type]
    assert RemoteSocket("s0", "/", frozenset({"s0"}), {}, packed, object()) == plain  # type: ignore[arg-type]


@FUZZ
@given(msgpack_values | envelopes | st.sampled_from(GOLDEN_ENVELOPES))
def test_large_messages_decode_to_what_msgpack_gives(value: Any) -> None:
    raw = value if isinstance(value, bytes) else msgpack.packb(value, use_bin_type=True)
    try:
        expected = msgpack.unpackb(raw, raw=False, timestamp=3, strict_map_key=True)
    except Exception:
        with pytest.raises(DecodeError):
            protocol._unpack(raw, protocol.DEFAULT_LIMITS)
        return
    got = unpacked(protocol._unpack(raw, protocol.DEFAULT_LIMITS))
    # compared packed, where NaN equals NaN
    assert msgpack.packb(got, datetime=True) == msgpack.packb(expected, datetime=True)


@FUZZ
@given(st.sampled_from([answer([_socket(i) for i in range(3)]), *GOLDEN_ENVELOPES]), st.data())
def test_large_messages_truncated_spliced_or_flipped(raw: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    inserted = data.draw(st.binary(max_size=8))
    resume = data.draw(st.integers(min_value=cut, max_value=len(raw)))
    _decodes_or_refuses(lambda: protocol.decode(raw[:cut]))
    _decodes_or_refuses(lambda: protocol.decode(raw[:cut] + inserted + raw[resume:]))
    flipped = bytearray(raw)
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    flipped[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    _decodes_or_refuses(lambda: protocol.decode(bytes(flipped)))


def test_transports_that_frame_the_type_apart_keep_the_handshakes_packed_too() -> None:
    from socketio_cloud.transports.aws.framing import Received, decode_message, encode_message
    from socketio_cloud.transports.pubsub_framing import decode_envelope, encode_head

    sockets = [_socket(i) for i in range(2)]
    message = ClusterMessage(ANSWER, "a" * 16, "/", {"requestId": "1" * 16, "sockets": sockets})
    published = encode_message(message)
    on_sqs = decode_message(
        Received({"Body": published.body}, published.attributes), limits=protocol.DEFAULT_LIMITS
    )
    offloaded = decode_envelope(
        encode_head(message),
        {"nsp": "/", "uid": message.uid, "payloadRef": "p"},
        protocol.DEFAULT_LIMITS,
        protocol.encode_data(message.data or {}),
    )
    for decoded in (on_sqs, offloaded):
        assert decoded.data is not None
        assert all(type(h) is PackedMap for h in packed_handshakes(decoded.data))
        assert unpacked(decoded.data) == message.data
