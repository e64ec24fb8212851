"""Hostile input: whatever a broker delivers, decoding either succeeds or raises DecodeError."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import (
    ClusterMessage,
    MessageType,
    decode,
    decode_json,
    has_binary,
    validate_parts,
)

from .golden import GOLDEN_CASES, NODE_UID, as_decoded, holds_date

# Bounded so that the whole file runs in a few seconds.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The keys our validators look at, so that random maps often reach the deeper checks.
PROTOCOL_KEYS = [
    "type",
    "uid",
    "nsp",
    "data",
    "packet",
    "opts",
    "rooms",
    "except",
    "flags",
    "requestId",
    "close",
    "sockets",
    "id",
    "handshake",
    "clientCount",
]

map_keys = st.sampled_from(PROTOCOL_KEYS) | st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from(["/", "/admin", "5eed5eed5eed5eed", NODE_UID, "room1", ""])
    | st.integers(min_value=0, max_value=14)
)
msgpack_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(map_keys, children, max_size=6)
    ),
    max_leaves=12,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.integers(min_value=0, max_value=14),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(map_keys, children, max_size=6)
    ),
    max_leaves=12,
)
# Envelopes with a valid head and a random data map, so that the data checks of every type
# get exercised (random heads are covered by the plain random structures).
_heads = {
    "type": st.sampled_from([int(t) for t in MessageType]),
    "uid": st.sampled_from([NODE_UID, "emitter"]),
    "nsp": st.sampled_from(["/", "/admin"]),
}
envelopes = st.fixed_dictionaries(
    {**_heads, "data": st.dictionaries(map_keys, msgpack_values, max_size=6)}
)
json_envelopes = st.fixed_dictionaries(
    {**_heads, "data": st.dictionaries(map_keys, json_values, max_size=6)}
)

GOLDEN_ENVELOPES = [case.envelope for case in GOLDEN_CASES]
GOLDEN_OBJECTS = [msgpack.unpackb(raw) for raw in GOLDEN_ENVELOPES]
GOLDEN_JSON = [
    json.dumps(as_decoded(case.message))
    for case in GOLDEN_CASES
    if not has_binary(case.message) and not holds_date(case.message)
]


def _decodes_or_refuses(decoder: Callable[[], ClusterMessage]) -> None:
    """The property every decoder must have on untrusted input."""
    try:
        message = decoder()
    except DecodeError:
        return
    assert isinstance(message.type, MessageType)
    assert isinstance(message.uid, str) and message.uid
    assert isinstance(message.nsp, str) and message.nsp.startswith("/")
    assert message.data is None or isinstance(message.data, dict)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _replaced(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    if not path:
        return new
    result = copy.deepcopy(value)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return result


# ---------------------------------------------------------------------------- random input


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(raw: bytes) -> None:
    _decodes_or_refuses(lambda: decode(raw))


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_random_json_text(text: str | bytes) -> None:
    _decodes_or_refuses(lambda: decode_json(text))


@FUZZ
@given(msgpack_values | envelopes)
def test_random_msgpack_structures(value: Any) -> None:
    _decodes_or_refuses(lambda: decode(msgpack.packb(value, use_bin_type=True)))


@FUZZ
@given(json_values | json_envelopes)
def test_random_json_structures(value: Any) -> None:
    _decodes_or_refuses(lambda: decode_json(json.dumps(value)))


@FUZZ
@given(
    st.sampled_from([int(t) for t in MessageType] + [str(int(t)) for t in MessageType])
    | msgpack_values,
    st.sampled_from([NODE_UID]) | msgpack_values,
    st.sampled_from(["/"]) | msgpack_values,
    msgpack_values,
)
def test_random_parts(type_: Any, uid: Any, nsp: Any, data: Any) -> None:
    _decodes_or_refuses(lambda: validate_parts(type_, uid, nsp, data))


# ---------------------------------------------------------------------------- mutated Node messages


@FUZZ
@given(st.sampled_from(GOLDEN_ENVELOPES), st.data())
def test_golden_with_flipped_bytes(raw: bytes, data: st.DataObject) -> None:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        index = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    _decodes_or_refuses(lambda: decode(bytes(mutated)))


@FUZZ
@given(st.sampled_from(GOLDEN_ENVELOPES), st.data())
def test_golden_truncated_or_spliced(raw: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    inserted = data.draw(st.binary(max_size=8))
    resume = data.draw(st.integers(min_value=cut, max_value=len(raw)))
    _decodes_or_refuses(lambda: decode(raw[:cut]))
    _decodes_or_refuses(lambda: decode(raw[:cut] + inserted + raw[resume:]))


@FUZZ
@given(st.sampled_from(GOLDEN_OBJECTS), st.data())
def test_golden_with_a_field_replaced(obj: Any, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(_paths(obj))))
    new = data.draw(msgpack_values)
    delete = data.draw(st.booleans())
    mutated = _replaced(obj, path, new, delete=delete)

    _decodes_or_refuses(lambda: decode(msgpack.packb(mutated, use_bin_type=True)))
    if isinstance(mutated, dict):
        _decodes_or_refuses(
            lambda: validate_parts(
                mutated.get("type"),
                mutated.get("uid"),
                mutated.get("nsp"),
                copy.deepcopy(mutated.get("data")),
            )
        )


@FUZZ
@given(st.sampled_from(GOLDEN_JSON), st.data())
def test_golden_json_mutated(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    inserted = data.draw(st.text(alphabet='{}[]",:0123456789.-aetrufnl \\', max_size=6))
    resume = data.draw(st.integers(min_value=cut, max_value=len(text)))
    _decodes_or_refuses(lambda: decode_json(text[:cut] + inserted + text[resume:]))


def test_fuzzing_starts_from_messages_that_decode() -> None:
    assert len(GOLDEN_JSON) >= 10
    for raw in GOLDEN_ENVELOPES:
        decode(raw)
    for text in GOLDEN_JSON:
        decode_json(text)
