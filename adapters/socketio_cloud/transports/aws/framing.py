"""How cluster messages travel on SNS and SQS, as Node's ``@socket.io/aws-sqs-adapter`` 0.1
frames them (plus our S3 pointer and delivery probe).

A message is published to the topic with ``Message`` = its type as decimal text and the
message attributes ``nsp`` and ``uid`` (String), ``requesterUid`` (String, responses only)
and ``data`` (Binary: msgpack of the message's ``data`` map alone; absent when the message
has no data). A payload stored in S3 replaces ``data`` by the String attribute ``dataS3``
(see :mod:`socketio_cloud.transports.aws.payloads`). Queues receive the raw message (raw
delivery), attributes included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ... import protocol
from ...exceptions import DecodeError
from ...protocol import ClusterMessage, Limits, MessageType

__all__ = [
    "HEARTBEAT_BODIES",
    "POINTER_ATTRIBUTE",
    "Published",
    "Received",
    "decode_message",
    "encode_message",
    "filter_policy",
    "probe_message",
    "published_size",
    "string_attribute",
    "triage",
]

#: String attribute holding ``<bucket>/<key>`` of a payload stored in S3 (ours only).
POINTER_ATTRIBUTE = "dataS3"
#: String attribute of a delivery probe: the token the probing node waits for.
PROBE_ATTRIBUTE = "probe"
#: Body and ``uid`` of a probe (not a message type: every receiver but the prober drops it).
PROBE_SENDER = "probe"
#: SNS message bodies of INITIAL_HEARTBEAT and HEARTBEAT (the type in decimal text).
HEARTBEAT_BODIES = frozenset(
    str(int(kind)) for kind in (MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT)
)


def filter_policy(uid: str) -> dict[str, Any]:
    """The SNS filter policy of node ``uid``'s subscription: nothing from the node itself,
    no responses addressed to other nodes."""
    return {"uid": [{"anything-but": uid}], "requesterUid": [{"exists": False}, uid]}


def published_size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """The size SNS counts against its limit: the body plus each attribute's name, data
    type and value."""
    size = len(body.encode())
    for name, attribute in attributes.items():
        size += len(name.encode()) + len(str(attribute["DataType"]).encode())
        value = attribute.get("BinaryValue", attribute.get("StringValue", ""))
        size += len(value) if isinstance(value, bytes) else len(str(value).encode())
    return size


def string_attribute(value: str) -> dict[str, Any]:
    """A String message attribute."""
    return {"DataType": "String", "StringValue": value}


def _read_string(attributes: Mapping[str, Any], name: str) -> str | None:
    attribute = attributes.get(name)
    if attribute is None:
        return None
    if not isinstance(attribute, Mapping) or not str(attribute.get("DataType", "")).startswith(
        "String"
    ):
        raise DecodeError(f"attribute {name} is not a String")
    value = attribute.get("StringValue")
    if not isinstance(value, str):
        raise DecodeError(f"attribute {name} has no string value")
    return value


@dataclass
class Published:
    """A message as published: body, attributes, its size as SNS counts it, and the msgpack
    ``data`` (None without data), which :meth:`offload` moves to S3."""

    body: str
    attributes: dict[str, dict[str, Any]]
    data: bytes | None

    @property
    def size(self) -> int:
        return published_size(self.body, self.attributes)

    def params(self) -> dict[str, Any]:
        """The ``Message`` and ``MessageAttributes`` of a Publish call or PublishBatch entry."""
        return {"Message": self.body, "MessageAttributes": self.attributes}

    def offload(self, pointer: str) -> None:
        """Replace the ``data`` attribute by a pointer to where the payload was stored."""
        del self.attributes["data"]
        self.attributes[POINTER_ATTRIBUTE] = string_attribute(pointer)


def encode_message(message: ClusterMessage, requester_uid: str | None = None) -> Published:
    """The SNS framing of ``message`` (a response when ``requester_uid`` is given)."""
    attributes = {"nsp": string_attribute(message.nsp), "uid": string_attribute(message.uid)}
    if requester_uid is not None:
        attributes["requesterUid"] = string_attribute(requester_uid)
    data = None
    if message.data is not None:
        data = protocol.encode_data(message.data)
        attributes["data"] = {"DataType": "Binary", "BinaryValue": data}
    return Published(str(int(message.type)), attributes, data)


def probe_message(uid: str, token: str) -> Published:
    """A delivery probe of node ``uid``: addressed to itself as a response, so that every
    other node, Node's included, drops it."""
    return Published(
        PROBE_SENDER,
        {
            "nsp": string_attribute("/"),
            "uid": string_attribute(PROBE_SENDER),
            "requesterUid": string_attribute(uid),
            PROBE_ATTRIBUTE: string_attribute(token),
        },
        None,
    )


@dataclass(frozen=True)
class Received:
    """A received SQS message meant for this node: a probe (``probe`` is its token) or a
    cluster message, whose payload may be in S3 (``pointer``)."""

    raw: Mapping[str, Any]
    attributes: Mapping[str, Any]
    probe: str | None = None
    pointer: str | None = None


def triage(raw: Mapping[str, Any], own_uid: str) -> Received | None:
    """Sort a received SQS message: None when it is not for node ``own_uid`` (a response
    to another node, or the node's own message: both arrive without a filter policy).

    Raises :class:`DecodeError` for malformed attributes.
    """
    attributes = raw.get("MessageAttributes") or {}
    if not isinstance(attributes, Mapping):
        raise DecodeError("message attributes are not a map")
    requester = _read_string(attributes, "requesterUid")
    if requester is not None and requester != own_uid:
        return None
    if PROBE_ATTRIBUTE in attributes:
        return Received(raw, attributes, probe=_read_string(attributes, PROBE_ATTRIBUTE) or "")
    if _read_string(attributes, "uid") == own_uid:
        return None
    return Received(raw, attributes, pointer=_read_string(attributes, POINTER_ATTRIBUTE))


_FETCH_ANSWER = str(int(MessageType.FETCH_SOCKETS_RESPONSE))


def decode_message(
    received: Received, *, limits: Limits, payload: bytes | None = None
) -> ClusterMessage:
    """The cluster message of ``received``; ``payload``: the msgpack data fetched from S3
    when it has a pointer. Raises :class:`DecodeError` for malformed messages."""
    attributes = received.attributes
    data: Any = None
    binary = attributes.get("data")
    # the body is the type: a fetch answer's handshakes may stay packed
    answer = received.raw.get("Body") == _FETCH_ANSWER
    if binary is not None:
        if not isinstance(binary, Mapping) or not isinstance(binary.get("BinaryValue"), bytes):
            raise DecodeError("attribute data is not Binary")
        data = protocol.decode_data(binary["BinaryValue"], limits=limits, fetch_response=answer)
    elif payload is not None:
        data = protocol.decode_data(payload, limits=limits, fetch_response=answer)
    return protocol.validate_parts(
        received.raw.get("Body"),
        _read_string(attributes, "uid"),
        _read_string(attributes, "nsp"),
        data,
        limits=limits,
    )
