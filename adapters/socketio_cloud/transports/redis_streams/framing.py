"""How cluster messages travel on Redis, as ``@socket.io/redis-streams-adapter`` 0.3.x
frames them.

- BROADCAST without ack, SOCKETS_JOIN, SOCKETS_LEAVE, DISCONNECT_SOCKETS and everything an
  emitter sends are stream entries (``XADD <stream> MAXLEN ~ <max_len> *``) with the string
  fields ``uid``, ``nsp``, ``type`` (decimal) and, when the message has data, ``data``: JSON,
  or base64 of msgpack when the type may carry binary data (3, 8, 9, 10, 12) and does.
- Requests (BROADCAST with ack, SERVER_SIDE_EMIT, FETCH_SOCKETS) are PUBLISHed as msgpack of
  the whole envelope on ``<channel_prefix>#<nsp>#``; responses on
  ``<channel_prefix>#<nsp>#<requester uid>#``.
- With several streams, a namespace goes to the stream Node's ``hashCode`` picks.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.scanner
from collections.abc import Mapping
from typing import Any

from ... import protocol
from ...exceptions import DecodeError
from ...protocol import ClusterMessage, Limits, MessageType

__all__ = [
    "entry_fields",
    "is_ephemeral",
    "js_hash",
    "message_from_entry",
    "public_channel",
    "response_channel",
    "stream_for_namespace",
    "text",
]

# Messages Node sends with PUBLISH instead of XADD (``isEphemeral`` in the Node adapter):
# requests whose answers only matter to nodes alive right now.
_EPHEMERAL_TYPES = frozenset({MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS})


def public_channel(channel_prefix: str, namespace: str) -> str:
    """The channel requests for ``namespace`` are published on."""
    return f"{channel_prefix}#{namespace}#"


def response_channel(channel_prefix: str, namespace: str, uid: str) -> str:
    """The channel responses to node ``uid`` are published on."""
    return f"{channel_prefix}#{namespace}#{uid}#"


def is_ephemeral(message: ClusterMessage) -> bool:
    """Whether Node sends this message with PUBLISH (requests) rather than XADD."""
    if message.type == MessageType.BROADCAST:
        return message.request_id is not None
    return message.type in _EPHEMERAL_TYPES


def js_hash(text: str) -> int:
    """Node's ``hashCode``: times 31 plus each UTF-16 code unit, wrapped to a signed int32."""
    units = text.encode("utf-16-le")
    value = 0
    for i in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def stream_for_namespace(namespace: str, stream_name: str, stream_count: int) -> str:
    """The stream that carries ``namespace``: ``stream_name``, or ``<stream_name>-<i>`` with
    ``i = hash(namespace) % stream_count`` when there are several streams.

    The remainder keeps the sign of the hash, as in JavaScript, so a namespace with a
    negative hash maps to a stream like ``socket.io--1`` that Node nodes never read.
    Python nodes read it too, to stay compatible with whatever Node writes.
    """
    if stream_count == 1:
        return stream_name
    value = js_hash(namespace)
    index = abs(value) % stream_count
    return f"{stream_name}-{-index if value < 0 else index}"


# JSON.stringify's output: compact, non-ASCII characters kept as they are. One encoder for
# every entry: json.dumps with these options builds a new one per call.
_JSON = protocol.compact_json(ensure_ascii=False)


def entry_fields(message: ClusterMessage) -> dict[str, str]:
    """The stream entry fields of a message, exactly as Node writes them."""
    fields = {"uid": message.uid, "nsp": message.nsp, "type": str(int(message.type))}
    if message.data is not None:
        # JSON refuses bytes, so the walk for binary values is only needed when it refuses
        # something: on the path of every emit, that walk costs more than the encoding.
        try:
            fields["data"] = _JSON(message.data)
        except TypeError:
            if not (
                message.type in protocol.BINARY_CAPABLE_TYPES and protocol.has_binary(message.data)
            ):
                raise
            packed = protocol.encode_data(message.data)
            fields["data"] = base64.b64encode(packed).decode("ascii")
    return fields


def text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("stream field is not UTF-8") from None
    if isinstance(value, str):
        return value
    raise DecodeError(f"unexpected stream field of type {type(value).__name__}")


# json.loads without its three Python frames and whitespace matching, for the JSON every
# node writes (no whitespace around it); anything else goes to json.loads itself
_SCAN_JSON = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _json_object(raw: str) -> Any:
    try:
        value, end = _SCAN_JSON(raw, 0)
    except StopIteration:
        return json.loads(raw)  # raises the error json.loads would
    if end != len(raw):
        return json.loads(raw)  # trailing whitespace is valid JSON, anything else is not
    return value


def _field(fields: Mapping[Any, Any], raw_name: bytes, name: str) -> str | None:
    """A field of an entry as text; its name as Redis sends it (bytes) or decoded."""
    value = fields.get(raw_name)
    if value is None:
        value = fields.get(name)
        if value is None:
            return None
    if type(value) is bytes:  # as Redis sends it: decoded here, one call less per field
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("stream field is not UTF-8") from None
    return text(value)


def message_from_entry(
    fields: Mapping[Any, Any], *, limits: Limits = protocol.DEFAULT_LIMITS
) -> ClusterMessage | None:
    """Decode a stream entry; None for entries without ``nsp`` (Node skips those too).

    Raises :class:`DecodeError` for malformed entries.
    """
    nsp = _field(fields, b"nsp", "nsp")
    if not nsp:
        return None
    raw = _field(fields, b"data", "data") or ""
    if len(raw) > limits.max_message_size:
        raise DecodeError(f"data of {len(raw)} bytes exceeds {limits.max_message_size}")
    data: Any = None
    if raw.startswith("{"):
        try:
            data = _json_object(raw)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"invalid JSON data: {exc}") from None
    elif raw:
        try:
            packed = base64.b64decode(raw)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"invalid base64 data: {exc}") from None
        data = protocol.decode_data(packed, limits=limits)
    uid = _field(fields, b"uid", "uid")
    type_ = _field(fields, b"type", "type")
    return protocol.validate_parts(type_, uid, nsp, data, limits=limits)
