"""The framing of ``@socket.io/postgres-adapter`` 0.5 and ``@socket.io/postgres-emitter`` 0.1.

- A message is ``NOTIFY``'d on ``<channel_prefix>#<nsp>`` as the JSON text of the whole
  envelope (``{"type", "data"?, "uid", "nsp"}``, compact, UTF-8 as it is).
- A message that holds binary data, or whose JSON text has ``payload_threshold`` bytes or
  more, is stored as msgpack of the whole envelope in the attachments table; the
  notification then is ``{"uid", "type", "attachmentId"}`` with the row id as a JSON string.
- Node's emitter omits the envelope's ``nsp`` (in both forms): the channel's namespace is
  taken instead.
- Node sends responses unaddressed on the namespace's channel. A Python node adds the
  top-level key ``requesterUid`` to its responses (and to their attachment notices), which
  Node ignores, so that other Python nodes drop them without decoding them further.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import protocol
from ..exceptions import DecodeError
from ..protocol import ClusterMessage, Limits

__all__ = [
    "AttachmentNotice",
    "attachment_notice",
    "message_from_attachment",
    "notification_text",
    "parse_notification",
]

# An attachment id is a bigserial: at most 19 digits.
_MAX_ID_DIGITS = 19


@dataclass(frozen=True)
class AttachmentNotice:
    """A notification announcing a message stored in the attachments table."""

    uid: str | None
    attachment_id: str


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, datetime):
        return protocol.js_date_json(value)  # what JSON.stringify does with a Date
    raise TypeError(f"cannot encode {type(value).__name__} as JSON in a cluster message")


def notification_text(message: ClusterMessage, requester_uid: str | None = None) -> str | None:
    """The message as Node's ``JSON.stringify`` writes it (plus ``requesterUid`` for a
    response), or None when it holds binary data (it must go through the attachments table)."""
    if message.data is not None and protocol.has_binary(message.data):
        return None
    wire = message.to_wire()
    if requester_uid is not None:
        wire["requesterUid"] = requester_uid
    try:
        text = json.dumps(wire, separators=(",", ":"), ensure_ascii=False, default=_json_default)
        text.encode()
    except UnicodeEncodeError:
        # a lone surrogate cannot be sent as UTF-8: escape it as JSON allows
        text = json.dumps(wire, separators=(",", ":"), default=_json_default)
    return text


def attachment_notice(
    uid: str, type_: int, attachment_id: str, requester_uid: str | None = None
) -> str:
    """The notification announcing an attachment, with the id as a JSON string (as Node,
    whose driver returns a bigint as text)."""
    notice: dict[str, Any] = {"uid": uid, "type": type_, "attachmentId": attachment_id}
    if requester_uid is not None:
        notice["requesterUid"] = requester_uid
    return json.dumps(notice, separators=(",", ":"))


def _attachment_id(value: Any) -> str:
    if isinstance(value, bool):
        raise DecodeError("attachmentId must be an integer or its decimal text")
    if isinstance(value, int):
        value = str(value)
    if (
        not isinstance(value, str)
        or not value.isascii()
        or not value.isdigit()
        or len(value) > _MAX_ID_DIGITS
    ):
        raise DecodeError(f"invalid attachmentId {value!r}")
    return value


def parse_notification(
    payload: str, namespace: str, *, limits: Limits = protocol.DEFAULT_LIMITS
) -> tuple[ClusterMessage | AttachmentNotice, str | None]:
    """Decode a notification received on ``namespace``'s channel; also return the
    ``requesterUid`` it is addressed to, if any.

    Raises :class:`DecodeError` for anything malformed.
    """
    if len(payload) > limits.max_message_size:
        raise DecodeError(f"notification of {len(payload)} bytes exceeds the limit")
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DecodeError(f"notification must be a JSON object, got {type(obj).__name__}")
    requester = obj.get("requesterUid")
    requester = requester if isinstance(requester, str) else None
    if "attachmentId" in obj:
        uid = obj.get("uid")
        notice = AttachmentNotice(
            uid if isinstance(uid, str) else None, _attachment_id(obj["attachmentId"])
        )
        return notice, requester
    return _validate(obj, namespace, limits), requester


def message_from_attachment(
    raw: bytes, namespace: str, *, limits: Limits = protocol.DEFAULT_LIMITS
) -> ClusterMessage:
    """Decode an attachment row's payload (msgpack of the whole envelope)."""
    return _validate(protocol.decode_data(raw, limits=limits), namespace, limits)


def _validate(obj: Any, namespace: str, limits: Limits) -> ClusterMessage:
    if not isinstance(obj, dict):
        raise DecodeError(f"envelope must be a map, got {type(obj).__name__}")
    # Node's emitter sends no nsp: the message belongs to the channel's namespace
    nsp = obj.get("nsp", namespace)
    return protocol.validate_parts(
        obj.get("type"), obj.get("uid"), nsp, obj.get("data"), limits=limits
    )
