"""Pub/Sub framing of cluster messages, as Node's ``@socket.io/gcp-pubsub-adapter`` 0.1 does it.

- ``data`` = msgpack of the whole envelope (``type``, ``data`` when present, ``uid``,
  ``nsp``, in that key order, as Node encodes it);
- string attributes ``nsp`` and ``uid``, plus ``requesterUid`` on responses only.

Ours, never sent by Node: a start-up probe (attribute ``probe``, ``uid`` = ``"probe"``,
``requesterUid`` = the probing node, empty ``data``), and offloaded payloads (attribute
``payloadRef`` = the store's pointer, ``data`` = the envelope without its ``data`` map).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from .. import protocol
from ..brokers.pubsub import ATTR_NSP, ATTR_PAYLOAD, ATTR_PROBE, ATTR_REQUESTER, ATTR_UID
from ..exceptions import DecodeError
from ..protocol import ClusterMessage, Limits

__all__ = [
    "Received",
    "classify",
    "decode_envelope",
    "encode_head",
    "encode_message",
    "message_size",
]


def encode_message(
    message: ClusterMessage, requester_uid: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """``(data, attributes)`` of ``message`` (``requester_uid``: a response's addressee)."""
    attributes = {ATTR_NSP: message.nsp, ATTR_UID: message.uid}
    if requester_uid is not None:
        attributes[ATTR_REQUESTER] = requester_uid
    return protocol.encode(message), attributes


def encode_head(message: ClusterMessage) -> bytes:
    """The envelope without its ``data`` map: what an offloaded message carries."""
    return protocol.encode(ClusterMessage(message.type, message.uid, message.nsp, None))


def message_size(data: bytes, attributes: Mapping[str, str]) -> int:
    """The size Pub/Sub counts against its limit: data plus attribute names and values."""
    return len(data) + sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())


@dataclass(frozen=True)
class Received:
    """What a received message is, before decoding its data.

    ``kind``: ``"message"`` (decode and deliver), ``"probe"`` (a start-up probe of this
    node, ``token`` set) or ``"skip"`` (not for this node: its own message, a response for
    another node, no namespace attribute).
    """

    kind: str
    token: str | None = None
    pointer: str | None = None


_SKIP = Received("skip")
_MESSAGE = Received("message")


def classify(attributes: Mapping[str, str], own_uid: str) -> Received:
    """Decide from the attributes alone, as Node's listener does: drop own messages and
    responses for other nodes (the subscription filter already does, where it is applied)."""
    if attributes.get(ATTR_UID) == own_uid:
        return _SKIP
    requester = attributes.get(ATTR_REQUESTER)
    if requester is not None and requester != own_uid:
        return _SKIP
    if ATTR_PROBE in attributes:
        return Received("probe", token=attributes[ATTR_PROBE])
    if ATTR_NSP not in attributes:
        return _SKIP  # Node ignores a message without a namespace too
    pointer = attributes.get(ATTR_PAYLOAD)
    return Received("message", pointer=pointer) if pointer is not None else _MESSAGE


def decode_envelope(
    data: bytes, attributes: Mapping[str, str], limits: Limits, payload: bytes | None = None
) -> ClusterMessage:
    """Decode a received message's ``data`` (and its offloaded ``payload``, if any).

    The envelope's ``uid`` and ``nsp`` must match the attributes: the attributes decided
    where the message went.
    """
    if payload is None:
        message = protocol.decode(data, limits=limits)
    else:
        head: Any = protocol.decode_data(data, limits=limits)
        if not isinstance(head, dict):
            raise DecodeError("the envelope of an offloaded message must be a map")
        answer = head.get("type") == protocol.MessageType.FETCH_SOCKETS_RESPONSE
        body = protocol.decode_data(payload, limits=limits, fetch_response=answer)
        message = protocol.validate_parts(
            head.get("type"), head.get("uid"), head.get("nsp"), body, limits=limits
        )
    if message.nsp != attributes.get(ATTR_NSP) or message.uid != attributes.get(ATTR_UID):
        raise DecodeError("the envelope's uid or nsp differs from the message attributes")
    return message


def probe_data() -> bytes:
    """The data of a probe: an empty msgpack map (nobody decodes it)."""
    return msgpack.packb({})  # type: ignore[no-any-return]
