"""How cluster messages travel on Service Bus, as Node's ``@socket.io/azure-service-bus-adapter``
frames them (PROTOCOL §3.3), without any SDK type: bytes and string properties in and out.

- body: msgpack of the whole envelope (``type``, ``uid``, ``nsp``, ``data`` when present),
  sent as a single AMQP data section;
- application properties ``nsp`` and ``uid`` (strings), and ``requesterUid`` on responses.

Ours, on top: a message whose body exceeds the broker's limit is published with its encoded
envelope in a payload store, the property ``payloadBlob`` naming it and a body of msgpack nil
(Node nodes cannot read such messages: keep messages under the limit in mixed clusters).

Receiving follows Node's adapter: no ``nsp`` property → ignored; the node's own ``uid`` →
dropped; a ``requesterUid`` naming another node → dropped; then the body is decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import protocol
from ...brokers.servicebus import (
    PROPERTY_NSP,
    PROPERTY_PAYLOAD,
    PROPERTY_REQUESTER,
    PROPERTY_UID,
)
from ...exceptions import DecodeError
from ...protocol import ClusterMessage, Limits

__all__ = [
    "OFFLOADED_BODY",
    "PROPERTY_OVERHEAD",
    "Frame",
    "Received",
    "decode_envelope",
    "encode_frame",
    "offloaded_frame",
    "published_size",
    "read_frame",
]

#: The body of a message whose envelope is in the payload store: msgpack nil.
OFFLOADED_BODY = b"\xc0"

#: Bytes the AMQP encoding adds to a message beyond its body and property strings (section
#: descriptors, the properties map, the header and the broker's own annotations), counted
#: generously so that what passes our check also passes the broker's.
PROPERTY_OVERHEAD = 1024

# Longest property value we read (a uid is 16 characters, a namespace is bounded by limits).
_MAX_PROPERTY_LENGTH = 4096


@dataclass(frozen=True)
class Frame:
    """One Service Bus message as this transport sends it."""

    body: bytes
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """What a received message holds once its properties passed the routing checks: the
    envelope bytes, or the pointer to them in the payload store."""

    body: bytes
    pointer: str | None


def encode_frame(message: ClusterMessage, requester_uid: str | None = None) -> Frame:
    """The frame of ``message`` (a response when ``requester_uid`` is given)."""
    return Frame(protocol.encode(message), _properties(message, requester_uid))


def offloaded_frame(frame: Frame, pointer: str) -> Frame:
    """``frame`` with its body replaced by a pointer into the payload store."""
    return Frame(OFFLOADED_BODY, {**frame.properties, PROPERTY_PAYLOAD: pointer})


def _properties(message: ClusterMessage, requester_uid: str | None) -> dict[str, str]:
    properties = {PROPERTY_NSP: message.nsp, PROPERTY_UID: message.uid}
    if requester_uid is not None:
        properties[PROPERTY_REQUESTER] = requester_uid
    return properties


def published_size(frame: Frame) -> int:
    """The size Service Bus counts for ``frame``, over-estimated by :data:`PROPERTY_OVERHEAD`."""
    strings = sum(len(k.encode()) + len(v.encode()) for k, v in frame.properties.items())
    return len(frame.body) + strings + PROPERTY_OVERHEAD


def _text(properties: Mapping[Any, Any], name: str) -> str | None:
    """A string property, whether the SDK gives names and values as ``str`` or ``bytes``;
    None when absent; :class:`DecodeError` when not a string."""
    value = properties.get(name)
    if value is None:
        value = properties.get(name.encode())
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"property {name} is not UTF-8") from None
    if not isinstance(value, str):
        raise DecodeError(f"property {name} is a {type(value).__name__}, not a string")
    if len(value) > _MAX_PROPERTY_LENGTH:
        raise DecodeError(f"property {name} is too long")
    return value


def read_frame(
    properties: Mapping[Any, Any] | None, body: bytes, own_uid: str, *, limits: Limits
) -> Received | None:
    """Route a received message: None when this node must ignore it (no ``nsp``, its own,
    a response for another node), else its envelope bytes or pointer.

    Raises :class:`DecodeError` for malformed properties or an oversized body.
    """
    if not properties:
        return None
    try:
        nsp = _text(properties, PROPERTY_NSP)
    except DecodeError:
        return None  # Node ignores a non-string nsp as it ignores a missing one
    if nsp is None:
        return None
    if _text(properties, PROPERTY_UID) == own_uid:
        return None
    requester = _text(properties, PROPERTY_REQUESTER)
    if requester is not None and requester != own_uid:
        return None
    if len(body) > limits.max_message_size:
        raise DecodeError(f"body of {len(body)} bytes exceeds {limits.max_message_size}")
    return Received(body, _text(properties, PROPERTY_PAYLOAD))


def decode_envelope(raw: bytes, *, limits: Limits) -> ClusterMessage:
    """The cluster message in ``raw`` envelope bytes (the runtime's inbox drops the node's
    own, whatever the properties said)."""
    return protocol.decode(raw, limits=limits)
