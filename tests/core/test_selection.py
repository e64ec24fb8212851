"""Which local sockets broadcast options select, from python-socketio's room table."""

from __future__ import annotations

from typing import Any

import pytest
from bidict import bidict

from socketio_cloud.local import select_sockets, selected_sockets
from socketio_cloud.protocol import BroadcastOptions, options_from_wire


def _table() -> dict[Any, Any]:
    # as python-socketio keeps it: room -> bidict(sid -> eio_sid); None is everyone
    return {
        None: bidict({"a": "ea", "b": "eb", "c": "ec", "d": "ed"}),
        "red": bidict({"a": "ea", "b": "eb"}),
        "blue": bidict({"b": "eb", "c": "ec"}),
        "empty": bidict(),
    }


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (BroadcastOptions(), ["a", "b", "c", "d"]),
        (BroadcastOptions(rooms=("red",)), ["a", "b"]),
        (BroadcastOptions(rooms=("red", "blue")), ["a", "b", "c"]),
        (BroadcastOptions(except_rooms=("red",)), ["c", "d"]),
        (BroadcastOptions(rooms=("blue",), except_rooms=("red",)), ["c"]),
        (BroadcastOptions(rooms=("red", "blue"), except_rooms=("blue",)), ["a"]),
        (BroadcastOptions(rooms=("nowhere",)), []),
        (BroadcastOptions(rooms=("empty",)), []),
        (BroadcastOptions(except_rooms=("nowhere",)), ["a", "b", "c", "d"]),
    ],
)
def test_options_select_the_union_of_rooms_minus_the_excepted(
    opts: BroadcastOptions, expected: list[str]
) -> None:
    table = _table()
    selected = selected_sockets(table, opts)
    assert list(selected) == expected
    assert [table[None][sid] for sid in expected] == list(selected.values())
    assert select_sockets(table, opts) == [(sid, "e" + sid) for sid in expected]


def test_an_empty_table_selects_nobody() -> None:
    assert not selected_sockets(None, BroadcastOptions())
    assert not selected_sockets({}, BroadcastOptions(rooms=("red",)))
    assert select_sockets({}, BroadcastOptions()) == []


def test_the_pairs_are_a_copy_of_the_table() -> None:
    table = _table()
    pairs = select_sockets(table, BroadcastOptions())
    del table[None]["a"]
    assert pairs[0] == ("a", "ea")


@pytest.mark.parametrize(
    "wire",
    [None, {}, {"rooms": [], "except": [], "flags": {}}, {"rooms": None, "flags": None}],
)
def test_options_of_a_broadcast_to_everyone_are_shared_and_read_only(wire: Any) -> None:
    opts = options_from_wire(wire)
    assert opts == BroadcastOptions()
    assert opts is options_from_wire(wire)
    with pytest.raises(TypeError):
        opts.flags["volatile"] = True  # type: ignore[index]


def test_an_emit_to_everyone_uses_the_shared_options() -> None:
    from socketio_cloud.protocol import EVERYONE

    assert options_from_wire(None) is EVERYONE
    assert EVERYONE.to_wire() == {"rooms": [], "except": [], "flags": {}}


def test_options_with_rooms_or_flags_are_their_own() -> None:
    wire = {"rooms": ["r"], "except": ["x"], "flags": {"volatile": True}}
    opts = options_from_wire(wire)
    assert opts == BroadcastOptions(rooms=("r",), except_rooms=("x",), flags={"volatile": True})
    assert options_from_wire({"rooms": [], "except": [], "flags": {"local": True}}).flags == {
        "local": True
    }
