"""protocol.compact_json writes what the standard encoder writes, and fails as it fails."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from socketio_cloud.protocol import compact_json

VALUES: list[Any] = [
    {"packet": {"type": 2, "data": ["tick", {"seq": 1, "t": 1764512345678.123}]}},
    ["é", "ü\u2028", "😀", "\x00\x1f", '"quoted" \\ back'],
    {"f": [0.1, 1e300, -0.0, 3.0, math.inf, -math.inf], "i": [0, -1, 2**70], "n": None},
    {"b": [True, False], "nested": [[[{"x": []}]], {}], "": ""},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    "just text",
    [],
    ("a", "tuple"),
]


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("value", VALUES)
def test_output_equals_the_standard_encoders(value: Any, ensure_ascii: bool) -> None:
    standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii)
    assert compact_json(ensure_ascii=ensure_ascii)(value) == standard.encode(value)


def test_nan_is_written_as_the_standard_encoder_writes_it() -> None:
    assert compact_json()([math.nan]) == "[NaN]"


@pytest.mark.parametrize("value", [{"b": b"bytes"}, [object()], {("tuple", "key"): 1}])
def test_what_json_cannot_hold_raises_type_error_and_the_next_call_works(value: Any) -> None:
    encode = compact_json()
    with pytest.raises(TypeError):
        encode(value)
    assert encode({"after": [1, 2]}) == '{"after":[1,2]}'


def test_circular_data_raises_value_error_and_the_next_call_works() -> None:
    encode = compact_json(ensure_ascii=False)
    loop: list[Any] = []
    loop.append(loop)
    shared = {"k": 1}
    with pytest.raises(ValueError):
        encode({"a": loop})
    # the same object twice is not circular
    assert encode([shared, shared]) == '[{"k":1},{"k":1}]'
