"""The reference messages produced by Node's socket.io-adapter, and the same messages built
with our API.

``tests/golden/node_messages.json`` is written by ``tests/golden/generate.mjs``: each case holds
the envelope as Node's adapter handed it to ``doPublish``/``doPublishResponse`` (binary values
described as ``{"$bin": hex}``, a ``Date`` as ``{"$date": epoch ms}``, JavaScript ``undefined``
as ``{"$undefined": true}``), its
msgpack encoding by ``@msgpack/msgpack`` and the encoding of its ``data`` alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType, broadcast_data

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
GOLDEN_FILE = GOLDEN_DIR / "node_messages.json"

# The ids the generator pins (Node draws them at random).
NODE_UID = "a1b2c3d4e5f60718"
PEER_UID = "0f1e2d3c4b5a6978"
REQUEST_ID = "5eed5eed5eed5eed"
SID_ALICE = "AbCdEfGhIjKlMnOpQrSt"
SID_BOB = "uVwXyZ0123456789-_aB"

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Undefined:
    """JavaScript's ``undefined`` in a golden description (msgpack encodes it as nil)."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = Undefined()


def from_description(value: Any) -> Any:
    """The Python value of a golden description, keeping ``undefined`` recognisable."""
    if isinstance(value, list):
        return [from_description(item) for item in value]
    if isinstance(value, dict):
        if value.keys() == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        if value.keys() == {"$date"}:
            # what msgpack's timestamp=3 decoding gives
            return EPOCH + timedelta(milliseconds=value["$date"])
        if value.keys() == {"$undefined"}:
            return UNDEFINED
        return {key: from_description(item) for key, item in value.items()}
    return value


def as_decoded(value: Any) -> Any:
    """What msgpack decodes a described value to: ``undefined`` travels as nil."""
    if value is UNDEFINED:
        return None
    if isinstance(value, list):
        return [as_decoded(item) for item in value]
    if isinstance(value, dict):
        return {key: as_decoded(item) for key, item in value.items()}
    return value


def without_undefined(value: Any) -> Any:
    """The value with ``undefined`` map entries dropped, as JSON.stringify would do."""
    if isinstance(value, list):
        return [without_undefined(item) for item in value]
    if isinstance(value, dict):
        return {
            key: without_undefined(item) for key, item in value.items() if item is not UNDEFINED
        }
    return value


def holds_date(value: Any) -> bool:
    """Whether a value holds a ``datetime`` (a JavaScript ``Date``), which JSON cannot carry."""
    if isinstance(value, datetime):
        return True
    if isinstance(value, list):
        return any(holds_date(item) for item in value)
    if isinstance(value, dict):
        return any(holds_date(item) for item in value.values())
    return False


def holds_undefined(value: Any) -> bool:
    if value is UNDEFINED:
        return True
    if isinstance(value, list):
        return any(holds_undefined(item) for item in value)
    if isinstance(value, dict):
        return any(holds_undefined(item) for item in value.values())
    return False


@dataclass(frozen=True)
class GoldenCase:
    """One message as Node's cluster adapter published it."""

    name: str
    how: str
    requester_uid: str | None
    message: dict[str, Any]
    envelope: bytes
    data: bytes | None

    @property
    def type(self) -> int:
        return int(self.message["type"])

    def __str__(self) -> str:
        return self.name


def load_golden() -> tuple[dict[str, Any], list[GoldenCase]]:
    document = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    cases = [
        GoldenCase(
            name=case["name"],
            how=case["how"],
            requester_uid=case["requesterUid"],
            message=from_description(case["message"]),
            envelope=bytes.fromhex(case["msgpack"]),
            data=None if case["data_msgpack"] is None else bytes.fromhex(case["data_msgpack"]),
        )
        for case in document["cases"]
    ]
    return document, cases


GOLDEN_DOCUMENT, GOLDEN_CASES = load_golden()
GOLDEN_BY_NAME = {case.name: case for case in GOLDEN_CASES}


# ---------------------------------------------------------------------------- our side


def _message(
    type_: MessageType, data: dict[str, Any] | None = None, nsp: str = "/"
) -> ClusterMessage:
    return ClusterMessage(type_, NODE_UID, nsp, data)


def _opts(
    rooms: tuple[str, ...] = (), except_rooms: tuple[str, ...] = (), **flags: Any
) -> BroadcastOptions:
    return BroadcastOptions(rooms=rooms, except_rooms=except_rooms, flags=flags)


def _handshake(address: str, query: dict[str, str], auth: dict[str, Any]) -> dict[str, Any]:
    # socket.io's key order, which the adapter keeps (it only removes sessionStore)
    return {
        "headers": {
            "host": "127.0.0.1:3000",
            "user-agent": "node-XMLHttpRequest",
            "cookie": "io=abc; lang=en",
            "set-cookie": ["a=1", "b=2"],
        },
        "time": "Sun Nov 22 2026 10:00:00 GMT+0000 (Coordinated Universal Time)",
        "address": address,
        "xdomain": False,
        "secure": False,
        "issued": 1795341600000,
        "url": "/socket.io/?EIO=4&transport=polling&t=PabcD12",
        "query": {"EIO": "4", "transport": "polling", "t": "PabcD12", **query},
        "auth": auth,
    }


def _socket(sid: str, rooms: list[str], handshake: dict[str, Any], data: Any) -> dict[str, Any]:
    return {"id": sid, "handshake": handshake, "rooms": rooms, "data": data}


_AN_ACK = {"requestId": REQUEST_ID}

# Each golden case, built the way our code builds it. Where the generator's comment explains
# how Node came to publish a case, the builder mirrors that call.
BUILDERS: dict[str, Callable[[], ClusterMessage]] = {
    "initial_heartbeat": lambda: _message(MessageType.INITIAL_HEARTBEAT),
    "heartbeat": lambda: _message(MessageType.HEARTBEAT),
    "broadcast": lambda: _message(
        MessageType.BROADCAST, broadcast_data(_opts(), ["hello", "world", 42])
    ),
    "broadcast_rooms_except_flags": lambda: _message(
        MessageType.BROADCAST,
        broadcast_data(
            _opts(("room1", "room2"), ("room3",), volatile=True, compress=False),
            ["news", {"title": "héllo ☃", "count": -7, "ratio": 0.25, "tags": []}],
        ),
    ),
    "broadcast_from_socket": lambda: _message(
        MessageType.BROADCAST, broadcast_data(_opts((), (SID_ALICE,)), ["typing"])
    ),
    "broadcast_binary": lambda: _message(
        MessageType.BROADCAST,
        broadcast_data(
            _opts(),
            [
                "upload",
                b"\x00\x01\x02\xfe\xff",
                {"file": b"PNG\r\n", "name": "a.png"},
                3.5,
                None,
                True,
                "x" * 40,
                2**40,
            ],
        ),
    ),
    "broadcast_date": lambda: _message(
        MessageType.BROADCAST,
        broadcast_data(
            _opts(),
            [
                "at",
                datetime(2026, 11, 22, 10, 0, 0, 123_000, tzinfo=timezone.utc),
                datetime(1969, 7, 20, 20, 17, 40, 500_000, tzinfo=timezone.utc),
            ],
        ),
    ),
    "broadcast_remote_socket": lambda: _message(
        MessageType.BROADCAST,
        broadcast_data(_opts((SID_BOB,), expectSingleResponse=True), ["direct", 1]),
    ),
    "broadcast_namespace": lambda: _message(
        MessageType.BROADCAST, broadcast_data(_opts(("ops",)), ["alert", "disk"]), nsp="/admin"
    ),
    "broadcast_with_ack": lambda: _message(
        MessageType.BROADCAST,
        broadcast_data(_opts(("room1",), timeout=5000), ["question", 1], REQUEST_ID),
    ),
    "broadcast_with_ack_remote_socket": lambda: _message(
        MessageType.BROADCAST,
        broadcast_data(
            _opts((SID_BOB,), expectSingleResponse=True, timeout=1000),
            ["ping", b"\x07"],
            REQUEST_ID,
        ),
    ),
    "sockets_join": lambda: _message(
        MessageType.SOCKETS_JOIN,
        {"opts": _opts(("room1",), ("room2",)).to_wire(), "rooms": ["room3", "room4"]},
    ),
    "sockets_join_all": lambda: _message(
        MessageType.SOCKETS_JOIN, {"opts": _opts().to_wire(), "rooms": ["lobby"]}
    ),
    "sockets_leave": lambda: _message(
        MessageType.SOCKETS_LEAVE, {"opts": _opts(("room1",)).to_wire(), "rooms": ["room1"]}
    ),
    "disconnect_sockets": lambda: _message(
        MessageType.DISCONNECT_SOCKETS, {"opts": _opts(("room1",)).to_wire(), "close": False}
    ),
    "disconnect_sockets_close": lambda: _message(
        MessageType.DISCONNECT_SOCKETS, {"opts": _opts((), ("vip",)).to_wire(), "close": True}
    ),
    "fetch_sockets": lambda: _message(
        MessageType.FETCH_SOCKETS, {"opts": _opts().to_wire(), "requestId": REQUEST_ID}
    ),
    "fetch_sockets_timeout_rooms": lambda: _message(
        MessageType.FETCH_SOCKETS,
        {"opts": _opts(("room1",), ("room2",), timeout=3000).to_wire(), "requestId": REQUEST_ID},
    ),
    "fetch_sockets_response": lambda: _message(
        MessageType.FETCH_SOCKETS_RESPONSE,
        {
            "requestId": REQUEST_ID,
            "sockets": [
                _socket(SID_ALICE, [SID_ALICE, "room1"], _handshake("::1", {}, {}), {}),
                _socket(
                    SID_BOB,
                    [SID_BOB, "room1", "room2"],
                    _handshake("127.0.0.1", {"room": "x"}, {"token": "t0k3n"}),
                    {"user": "bob", "level": 3, "avatar": b"\x89PNG"},
                ),
            ],
        },
    ),
    "fetch_sockets_response_empty": lambda: _message(
        MessageType.FETCH_SOCKETS_RESPONSE, {"requestId": REQUEST_ID, "sockets": []}
    ),
    "server_side_emit": lambda: _message(
        MessageType.SERVER_SIDE_EMIT, {"packet": ["hello", "world", {"n": 1}]}
    ),
    "server_side_emit_with_ack": lambda: _message(
        MessageType.SERVER_SIDE_EMIT, {"requestId": REQUEST_ID, "packet": ["ping", 2]}
    ),
    "server_side_emit_response": lambda: _message(
        MessageType.SERVER_SIDE_EMIT_RESPONSE, {**_AN_ACK, "packet": {"ok": True}}
    ),
    # no value: we omit ``packet`` where Node sends nil (see test_encodes_like_node)
    "server_side_emit_response_no_value": lambda: _message(
        MessageType.SERVER_SIDE_EMIT_RESPONSE, {**_AN_ACK}
    ),
    "broadcast_client_count": lambda: _message(
        MessageType.BROADCAST_CLIENT_COUNT, {**_AN_ACK, "clientCount": 1}
    ),
    "broadcast_ack": lambda: _message(MessageType.BROADCAST_ACK, {**_AN_ACK, "packet": "yes"}),
    "broadcast_client_count_zero": lambda: _message(
        MessageType.BROADCAST_CLIENT_COUNT, {**_AN_ACK, "clientCount": 0}
    ),
    "broadcast_ack_binary": lambda: _message(
        MessageType.BROADCAST_ACK, {**_AN_ACK, "packet": b"\x01\x02\x03"}
    ),
    "broadcast_ack_no_value": lambda: _message(MessageType.BROADCAST_ACK, {**_AN_ACK}),
    "adapter_close": lambda: _message(MessageType.ADAPTER_CLOSE),
}
