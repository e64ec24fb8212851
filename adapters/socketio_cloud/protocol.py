"""The Node.js Socket.IO cluster-adapter wire protocol: message types, envelopes, codecs.

A cluster message is ``{type, uid, nsp, data?}``; ``data`` depends on ``type``. Messages are
encoded with msgpack (binary values travel as msgpack ``bin``) or, on text-only paths, as JSON.
Keys whose value is absent are omitted, never sent as nil: Node tells ``null`` from
``undefined`` and would, for instance, take a nil ``requestId`` for an acknowledgement request.

Everything that comes from a broker is untrusted. :func:`decode` and :func:`validate` check
every field the cluster core reads and raise :class:`~socketio_cloud.exceptions.DecodeError`
for anything else, so the core can use a :class:`ClusterMessage` without further checks.
Packet arguments are application data and are passed through as they are.
"""

from __future__ import annotations

import contextlib
import gc
import json
import json.encoder
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Final

import msgpack

from .exceptions import DecodeError

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EMITTER_UID",
    "EVERYONE",
    "RESPONSE_TYPES",
    "BroadcastOptions",
    "ClusterMessage",
    "Limits",
    "MessageType",
    "PackedMap",
    "decode",
    "decode_data",
    "decode_json",
    "encode",
    "encode_data",
    "encode_json",
    "has_binary",
    "new_request_id",
    "new_uid",
    "validate",
]

EMITTER_UID: Final = "emitter"
DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024


class MessageType(IntEnum):
    """Cluster message types, numbered as in Node's ``cluster-adapter.ts``."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


RESPONSE_TYPES: Final = frozenset(
    {
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_CLIENT_COUNT,
        MessageType.BROADCAST_ACK,
    }
)

# Types whose payload may carry application binary data (Streams and Postgres switch to
# msgpack for these when it does).
BINARY_CAPABLE_TYPES: Final = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_ACK,
    }
)

_REQUEST_ID = re.compile(r"^[0-9a-f]{1,64}$")


@dataclass(frozen=True)
class Limits:
    """Bounds applied when decoding untrusted messages."""

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_rooms: int = 10_000
    max_room_length: int = 1_024
    max_namespace_length: int = 1_024
    max_uid_length: int = 128
    max_sockets: int = 100_000


DEFAULT_LIMITS: Final = Limits()


@dataclass(frozen=True)
class BroadcastOptions:
    """Which sockets an operation targets: the union of ``rooms`` (all when empty) minus
    every member of the ``except_rooms``; ``flags`` are Node's operator flags, copied verbatim.
    """

    rooms: tuple[str, ...] = ()
    except_rooms: tuple[str, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "rooms": list(self.rooms),
            "except": list(self.except_rooms),
            "flags": dict(self.flags),
        }

    @property
    def timeout(self) -> float | None:
        """The ``timeout`` flag in seconds (Node sends milliseconds), if set."""
        value = self.flags.get("timeout")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value) / 1000.0
        return None


@dataclass(frozen=True)
class ClusterMessage:
    """One cluster message. ``data`` has been validated for ``type`` when it came from
    :func:`decode` or :func:`validate`; it is the wire map (camelCase keys, absent keys
    omitted)."""

    type: MessageType
    uid: str
    nsp: str
    data: Mapping[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        # Node builds {type, data} and then sets uid and nsp: keep that key order so that
        # our bytes equal theirs.
        wire: dict[str, Any] = {"type": int(self.type)}
        if self.data is not None:
            wire["data"] = self.data
        wire["uid"] = self.uid
        wire["nsp"] = self.nsp
        return wire

    @property
    def is_response(self) -> bool:
        return self.type in RESPONSE_TYPES

    @property
    def request_id(self) -> str | None:
        if self.data is None:
            return None
        value = self.data.get("requestId")
        return value if isinstance(value, str) else None

    def options(self) -> BroadcastOptions:
        """The decoded ``opts`` of a message that carries one (types 3-7)."""
        return options_from_wire(self.data.get("opts") if self.data else None)


# ---------------------------------------------------------------------------- identifiers


def new_uid() -> str:
    """A node id as Node makes them: 8 random bytes in lowercase hex."""
    import secrets

    return secrets.token_hex(8)


def new_request_id() -> str:
    """A request id as Node makes them: 8 random bytes in lowercase hex."""
    import secrets

    return secrets.token_hex(8)


# ---------------------------------------------------------------------------- encoding


def _pack_default(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    raise TypeError(f"cannot encode {type(value).__name__} in a cluster message")


def encode(message: ClusterMessage) -> bytes:
    """The whole envelope as msgpack (Pub/Sub, Service Bus, Streams requests, attachments)."""
    # datetime=True: aware datetimes travel as timestamps (ext -1), as Node sends a Date and
    # as decode() returns it
    return msgpack.packb(  # type: ignore[no-any-return]
        message.to_wire(), use_bin_type=True, datetime=True, default=_pack_default
    )


def encode_data(data: Mapping[str, Any]) -> bytes:
    """Only the ``data`` map as msgpack (the SQS ``data`` attribute)."""
    return msgpack.packb(  # type: ignore[no-any-return]
        data, use_bin_type=True, datetime=True, default=_pack_default
    )


def js_date_json(value: datetime) -> str:
    """JavaScript's ``Date.prototype.toJSON()`` text for a datetime (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, datetime):
        # what JSON.stringify does with a Date
        return js_date_json(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON in a cluster message")


def compact_json(*, ensure_ascii: bool = True) -> Callable[[Any], str]:
    """``json.JSONEncoder(separators=(",", ":"), ensure_ascii=...).encode``, built once.

    The standard encoder makes a new C encoder and a closure in each call, behind two
    Python frames, on the path of every emit. Same output and the same errors (TypeError
    for what JSON cannot hold, ValueError for circular data); without the C accelerator,
    the standard encoder itself.
    """
    standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return standard.encode
    strings = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    # no markers: shared between calls they could outlive one that failed half-way
    chunks = make(None, standard.default, strings, None, ":", ",", False, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return strings(value)
        try:
            return "".join(chunks(value, 0))
        except RecursionError:
            raise ValueError("Circular reference detected (or data nested too deep)") from None

    return encode


def encode_json(message: ClusterMessage) -> str:
    """The whole envelope as compact JSON; raises ``TypeError`` if it holds binary data
    (check with :func:`has_binary` first and use a msgpack path instead)."""
    return json.dumps(message.to_wire(), separators=(",", ":"), default=_json_default)


def has_binary(value: Any) -> bool:
    """Whether a value holds ``bytes`` anywhere (JSON cannot carry it)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, (list, tuple)):
        return any(has_binary(item) for item in value)
    if isinstance(value, Mapping):
        return any(has_binary(item) for item in value.values())
    return False


# ---------------------------------------------------------------------------- decoding


#: Messages from this size on are unpacked with the garbage collector paused.
LARGE_MESSAGE = 64 * 1024


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects at once.

    Every container allocated counts toward a collection, and on a node holding thousands
    of sockets each collection walks them all: building the answer to a ``fetch_sockets`` of
    30,000 sockets spent about half its time in the collector (msgpack gives the same advice
    for large messages). Nothing built here forms cycles that need collecting meanwhile.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class PackedMap(bytes):
    """A msgpack map left encoded until it is read: the ``handshake`` of each socket in a
    large ``fetch_sockets`` answer. Handshakes are most of such an answer's bytes and most
    of its objects, and few callers read them; :class:`~socketio_cloud.RemoteSocket` unpacks
    one when its ``handshake`` is first read. Being bytes, it is not a container the garbage
    collector tracks."""

    __slots__ = ()

    def unpack(self) -> dict[str, Any]:
        """The map. Raises :class:`DecodeError` if its contents are not valid msgpack text
        (its structure was checked when it was set aside)."""
        try:
            value = msgpack.unpackb(self, raw=False, timestamp=3, strict_map_key=True)
        except Exception as exc:
            raise DecodeError(f"invalid msgpack: {exc}") from None
        if not isinstance(value, dict):  # pragma: no cover - only maps are set aside
            raise DecodeError("expected a map")
        return value


# msgpack's first byte of a map (fixmap, map 16, map 32) and of an array
_MAP_HEADS: Final = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_ARRAY_HEADS: Final = frozenset(range(0x90, 0xA0)) | {0xDC, 0xDD}


def _unpack(raw: bytes, limits: Limits, *, fetch_response: bool = False) -> Any:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes, got {type(raw).__name__}")
    if len(raw) > limits.max_message_size:
        raise DecodeError(f"message of {len(raw)} bytes exceeds {limits.max_message_size}")
    try:
        if len(raw) >= LARGE_MESSAGE:
            with gc_paused():
                return _unpack_large(bytes(raw), fetch_response)
        return msgpack.unpackb(raw, raw=False, timestamp=3, strict_map_key=True)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises many types for hostile input
        raise DecodeError(f"invalid msgpack: {exc}") from None


def _unpack_large(raw: bytes, fetch_response: bool) -> Any:
    """``unpackb``, except that the handshakes of a ``fetch_sockets`` answer's sockets stay
    packed (:class:`PackedMap`): those of an envelope whose ``type`` (read before its
    ``data``, as Node and we write it) is FETCH_SOCKETS_RESPONSE, or of a data map when the
    caller knows it is one (``fetch_response``)."""
    if raw[0] not in _MAP_HEADS:
        return msgpack.unpackb(raw, raw=False, timestamp=3, strict_map_key=True)
    unpacker = msgpack.Unpacker(
        raw=False, timestamp=3, strict_map_key=True, max_buffer_size=len(raw)
    )
    unpacker.feed(raw)
    value: dict[Any, Any] = {}
    if fetch_response:
        value = _unpack_answer_data(unpacker, raw)
    else:
        for _ in range(unpacker.read_map_header()):
            key = _map_key(unpacker)
            if (
                key == "data"
                and value.get("type") == MessageType.FETCH_SOCKETS_RESPONSE
                and raw[unpacker.tell()] in _MAP_HEADS
            ):
                value[key] = _unpack_answer_data(unpacker, raw)
            else:
                value[key] = unpacker.unpack()
    if unpacker.tell() != len(raw):
        raise DecodeError("extra data after the message")
    return value


def _map_key(unpacker: msgpack.Unpacker) -> Any:
    key = unpacker.unpack()
    if type(key) is not str:
        _check_key(key)
    return key


def _check_key(key: Any) -> None:
    """What ``strict_map_key`` allows: text or bytes."""
    if not isinstance(key, (str, bytes)):
        raise DecodeError(f"{type(key).__name__} is not allowed for map key")


def _unpack_answer_data(unpacker: msgpack.Unpacker, raw: bytes) -> dict[Any, Any]:
    data: dict[Any, Any] = {}
    for _ in range(unpacker.read_map_header()):
        key = _map_key(unpacker)
        if key == "sockets" and raw[unpacker.tell()] in _ARRAY_HEADS:
            data[key] = _unpack_sockets(unpacker, raw)
        else:
            data[key] = unpacker.unpack()
    return data


def _unpack_sockets(unpacker: msgpack.Unpacker, raw: bytes) -> list[Any]:
    # tens of thousands of sockets: the unpacker's methods are looked up once
    unpack, tell, skip = unpacker.unpack, unpacker.tell, unpacker.skip
    read_map_header, map_heads = unpacker.read_map_header, _MAP_HEADS
    sockets: list[Any] = []
    append = sockets.append
    for _ in range(unpacker.read_array_header()):
        try:
            fields = read_map_header()
        except ValueError:  # msgpack's "unexpected type"
            raise DecodeError("socket must be a map") from None
        socket: dict[Any, Any] = {}
        for _ in range(fields):
            name = unpack()
            if name == "handshake":
                start = tell()
                if raw[start] in map_heads:
                    skip()
                    socket[name] = PackedMap(raw[start : tell()])
                    continue
            elif type(name) is not str:
                _check_key(name)
            socket[name] = unpack()
        append(socket)
    return sockets


def decode(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ClusterMessage:
    """Decode and validate a msgpack envelope."""
    return validate(_unpack(raw, limits), limits=limits)


def decode_data(
    raw: bytes, *, limits: Limits = DEFAULT_LIMITS, fetch_response: bool = False
) -> Any:
    """Decode a msgpack ``data`` map (validated later by :func:`validate_parts`);
    ``fetch_response``: the data of a FETCH_SOCKETS_RESPONSE, whose sockets' handshakes a
    large message leaves packed (see :class:`PackedMap`)."""
    return _unpack(raw, limits, fetch_response=fetch_response)


def decode_json(text: str | bytes, *, limits: Limits = DEFAULT_LIMITS) -> ClusterMessage:
    """Decode and validate a JSON envelope."""
    if len(text) > limits.max_message_size:
        raise DecodeError(f"message of {len(text)} bytes exceeds {limits.max_message_size}")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    return validate(obj, limits=limits)


def validate(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> ClusterMessage:
    """Validate a decoded envelope map and return it as a :class:`ClusterMessage`."""
    if not isinstance(obj, dict):
        raise DecodeError(f"envelope must be a map, got {type(obj).__name__}")
    return validate_parts(
        obj.get("type"), obj.get("uid"), obj.get("nsp"), obj.get("data"), limits=limits
    )


# the type as msgpack (an int) or as text (SQS bodies, stream fields) carries it
_TYPES_BY_WIRE: Final[dict[int | str, MessageType]] = {
    **{int(kind): kind for kind in MessageType},
    **{str(int(kind)): kind for kind in MessageType},
}


def validate_parts(
    type_: Any, uid: Any, nsp: Any, data: Any, *, limits: Limits = DEFAULT_LIMITS
) -> ClusterMessage:
    """Validate the parts of an envelope that a transport framed separately.

    ``type_`` may be an int or its decimal text (SQS bodies and stream fields carry text).
    """
    # the type as every node writes it, looked up in one step: this runs for every message
    # (not a bool: True would find type 1)
    mtype = _TYPES_BY_WIRE.get(type_) if type(type_) is int or type(type_) is str else None
    if mtype is None:
        # isascii: str.isdigit() also accepts digits int() cannot parse, like "²"
        if isinstance(type_, str) and type_.isascii() and type_.isdigit() and len(type_) <= 3:
            type_ = int(type_)
        if not isinstance(type_, int) or isinstance(type_, bool):
            raise DecodeError("type must be an integer")
        try:
            mtype = MessageType(type_)
        except ValueError:
            raise DecodeError(f"unknown message type {type_}") from None
    if not (type(uid) is str and 0 < len(uid) <= limits.max_uid_length):
        _check_str(uid, "uid", limits.max_uid_length, allow_empty=False)
    if not (type(nsp) is str and 0 < len(nsp) <= limits.max_namespace_length):
        _check_str(nsp, "nsp", limits.max_namespace_length, allow_empty=False)
    if not nsp.startswith("/"):
        raise DecodeError("nsp must start with '/'")
    checker = _DATA_CHECKS.get(mtype)
    if checker is None:
        # heartbeats and close carry no data; ignore whatever came along
        return ClusterMessage(mtype, uid, nsp, None)
    if not isinstance(data, dict):
        raise DecodeError(f"{mtype.name} needs a data map")
    checker(data, limits)
    return ClusterMessage(mtype, uid, nsp, data)


def _check_str(value: Any, name: str, max_length: int, *, allow_empty: bool = True) -> None:
    if not isinstance(value, str):
        raise DecodeError(f"{name} must be a string")
    if len(value) > max_length:
        raise DecodeError(f"{name} longer than {max_length}")
    if not allow_empty and not value:
        raise DecodeError(f"{name} must not be empty")


def _check_request_id(data: dict[str, Any], *, required: bool) -> None:
    if "requestId" not in data or data["requestId"] is None:
        if required:
            raise DecodeError("requestId missing")
        data.pop("requestId", None)
        return
    value = data["requestId"]
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise DecodeError("requestId must be a short hex string")


def _check_rooms(value: Any, name: str, limits: Limits) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{name} must be a list")
    if len(value) > limits.max_rooms:
        raise DecodeError(f"{name} has more than {limits.max_rooms} entries")
    for room in value:
        _check_str(room, f"{name} entry", limits.max_room_length)
    return value


def _check_opts(data: dict[str, Any], limits: Limits) -> None:
    opts = data.get("opts")
    if opts is None:
        data["opts"] = {"rooms": [], "except": [], "flags": {}}
        return
    if not isinstance(opts, dict):
        raise DecodeError("opts must be a map")
    # most broadcasts name no room: nothing to check then
    rooms = opts.get("rooms")
    if type(rooms) is not list or rooms:
        opts["rooms"] = _check_rooms(rooms, "opts.rooms", limits)
    excepted = opts.get("except")
    if type(excepted) is not list or excepted:
        opts["except"] = _check_rooms(excepted, "opts.except", limits)
    flags = opts.get("flags")
    if flags is None:
        opts["flags"] = {}
    elif not isinstance(flags, dict):
        raise DecodeError("opts.flags must be a map")


def _check_broadcast(data: dict[str, Any], limits: Limits) -> None:
    _check_opts(data, limits)
    if data.get("requestId") is not None:
        _check_request_id(data, required=False)
    elif "requestId" in data:
        del data["requestId"]
    packet = data.get("packet")
    if not isinstance(packet, dict):
        raise DecodeError("packet must be a map")
    if packet.get("type") not in (2, 5):
        raise DecodeError("only EVENT packets can be broadcast")
    args = packet.get("data")
    if not isinstance(args, list) or not args or not isinstance(args[0], str):
        raise DecodeError("packet.data must be [event, ...args]")


def _check_sockets_join_leave(data: dict[str, Any], limits: Limits) -> None:
    _check_opts(data, limits)
    data["rooms"] = _check_rooms(data.get("rooms"), "rooms", limits)


def _check_disconnect(data: dict[str, Any], limits: Limits) -> None:
    _check_opts(data, limits)
    if not isinstance(data.get("close", False), bool):
        raise DecodeError("close must be a boolean")


def _check_fetch(data: dict[str, Any], limits: Limits) -> None:
    _check_opts(data, limits)
    _check_request_id(data, required=True)


def _check_fetch_response(data: dict[str, Any], limits: Limits) -> None:
    _check_request_id(data, required=True)
    sockets = data.get("sockets")
    if not isinstance(sockets, list):
        raise DecodeError("sockets must be a list")
    if len(sockets) > limits.max_sockets:
        raise DecodeError(f"more than {limits.max_sockets} sockets")
    # tens of thousands of sockets in one answer: the common shapes are checked inline, and
    # anything else goes through the general checks (which raise the precise error)
    max_id, max_rooms = limits.max_room_length, limits.max_rooms
    for socket in sockets:
        if type(socket) is not dict:
            if not isinstance(socket, dict):
                raise DecodeError("socket must be a map")
        sid = socket.get("id")
        if type(sid) is not str or not sid or len(sid) > max_id:
            _check_str(sid, "socket.id", max_id, allow_empty=False)
        rooms = socket.get("rooms")
        if (
            type(rooms) is not list
            or len(rooms) > max_rooms
            or not all(type(room) is str and len(room) <= max_id for room in rooms)
        ):
            socket["rooms"] = _check_rooms(rooms, "socket.rooms", limits)
        handshake = socket.get("handshake")
        if handshake is None:
            socket["handshake"] = {}
        elif (
            type(handshake) is not dict
            and type(handshake) is not PackedMap
            and not isinstance(handshake, dict)
        ):
            raise DecodeError("socket.handshake must be a map")


def _check_server_side_emit(data: dict[str, Any], limits: Limits) -> None:
    _check_request_id(data, required=False)
    packet = data.get("packet")
    if not isinstance(packet, list) or not packet or not isinstance(packet[0], str):
        raise DecodeError("packet must be [event, ...args]")


def _check_value_response(data: dict[str, Any], limits: Limits) -> None:
    _check_request_id(data, required=True)


def _check_broadcast_ack(data: dict[str, Any], limits: Limits) -> None:
    _check_request_id(data, required=True)
    if "packets" not in data:
        return
    packets = data["packets"]
    if type(packets) is not list or len(packets) > limits.max_sockets:
        raise DecodeError(f"packets must be a list of at most {limits.max_sockets} replies")
    for reply in packets:
        if type(reply) is not list or len(reply) > 1:
            raise DecodeError("each of packets must be [] or [value]")


def _check_client_count(data: dict[str, Any], limits: Limits) -> None:
    _check_request_id(data, required=True)
    count = data.get("clientCount")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise DecodeError("clientCount must be a non-negative integer")


_DATA_CHECKS: Final = {
    MessageType.BROADCAST: _check_broadcast,
    MessageType.SOCKETS_JOIN: _check_sockets_join_leave,
    MessageType.SOCKETS_LEAVE: _check_sockets_join_leave,
    MessageType.DISCONNECT_SOCKETS: _check_disconnect,
    MessageType.FETCH_SOCKETS: _check_fetch,
    MessageType.FETCH_SOCKETS_RESPONSE: _check_fetch_response,
    MessageType.SERVER_SIDE_EMIT: _check_server_side_emit,
    MessageType.SERVER_SIDE_EMIT_RESPONSE: _check_value_response,
    MessageType.BROADCAST_CLIENT_COUNT: _check_client_count,
    MessageType.BROADCAST_ACK: _check_broadcast_ack,
}


#: The options of a broadcast to every socket, the most common ones: one shared instance,
#: immutable down to its ``flags``.
EVERYONE: Final = BroadcastOptions(flags=MappingProxyType({}))


def options_from_wire(opts: Any) -> BroadcastOptions:
    """Build :class:`BroadcastOptions` from a validated ``opts`` map (or ``None``)."""
    if not opts or not (opts.get("rooms") or opts.get("except") or opts.get("flags")):
        return EVERYONE
    return BroadcastOptions(
        rooms=tuple(opts.get("rooms") or ()),
        except_rooms=tuple(opts.get("except") or ()),
        flags=opts.get("flags") or {},
    )


# ---------------------------------------------------------------------------- builders


#: A BROADCAST needing acknowledgements with this key set to true accepts its client replies
#: in batches: BROADCAST_ACK messages whose ``packets`` lists several replies (each ``[]`` or
#: ``[value]``). Only our nodes send it and act on it; Node ignores both.
BATCH_REPLIES: Final = "batchReplies"


def broadcast_data(
    opts: BroadcastOptions,
    event_args: list[Any],
    request_id: str | None = None,
    *,
    batch_replies: bool = False,
) -> dict[str, Any]:
    """``data`` of a BROADCAST: an EVENT packet without ``nsp``/``id`` as Node publishes it;
    ``batch_replies`` adds :data:`BATCH_REPLIES` to one needing acknowledgements."""
    packet = {"type": 2, "data": event_args}
    if request_id is None:
        return {"packet": packet, "opts": opts.to_wire()}
    data: dict[str, Any] = {"packet": packet, "requestId": request_id, "opts": opts.to_wire()}
    if batch_replies:
        data[BATCH_REPLIES] = True
    return data


def reply_size(args: tuple[Any, ...]) -> int:
    """About how many bytes a client's reply adds to a batch of replies: exact enough to keep
    a batch far below any broker's limit, cheap for the common small values."""
    if not args:
        return 1
    value = args[0]
    kind = type(value)
    if kind is str:
        return len(value) + 5 if value.isascii() else 4 * len(value) + 5
    if kind is bytes or kind is bytearray:
        return len(value) + 5
    if value is None or kind is bool or kind is int or kind is float:
        return 9
    try:
        return len(encode_data({"v": value}))
    except (TypeError, ValueError, OverflowError):
        return 0  # the batch's own encoding reports it
