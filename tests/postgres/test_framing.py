"""The bytes on the wire, as Node's postgres adapter 0.5 and emitter 0.1 write and read them."""

from __future__ import annotations

import msgpack
import pytest

from socketio_cloud import protocol
from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.transports.postgres_framing import (
    AttachmentNotice,
    attachment_notice,
    message_from_attachment,
    notification_text,
    parse_notification,
)

UID = "0123456789abcdef"


def broadcast(*args: object) -> ClusterMessage:
    data = {
        "packet": {"type": 2, "data": ["news", *args]},
        "opts": {"rooms": ["r1"], "except": [], "flags": {}},
    }
    return ClusterMessage(MessageType.BROADCAST, UID, "/", data)


def test_a_broadcast_is_the_json_node_writes() -> None:
    # JSON.stringify of the message Node's ClusterAdapter builds: {type, data, uid, nsp}
    assert notification_text(broadcast({"n": 1}, "é")) == (
        '{"type":3,"data":{"packet":{"type":2,"data":["news",{"n":1},"é"]},'
        '"opts":{"rooms":["r1"],"except":[],"flags":{}}},"uid":"0123456789abcdef","nsp":"/"}'
    )


def test_a_heartbeat_has_no_data() -> None:
    message = ClusterMessage(MessageType.HEARTBEAT, UID, "/admin")
    assert notification_text(message) == '{"type":2,"uid":"0123456789abcdef","nsp":"/admin"}'


def test_binary_data_cannot_be_a_notification() -> None:
    assert notification_text(broadcast(b"\x01")) is None


def test_a_lone_surrogate_is_escaped_rather_than_unsendable() -> None:
    text = notification_text(broadcast("\ud800"))
    assert text is not None and "\\ud800" in text
    text.encode()


def test_attachment_notice_carries_the_id_as_a_string() -> None:
    assert attachment_notice(UID, 3, "42") == (
        '{"uid":"0123456789abcdef","type":3,"attachmentId":"42"}'
    )


def test_node_emitter_message_without_nsp_takes_the_channel_namespace() -> None:
    # what @socket.io/postgres-emitter 0.1.1 sends (no top-level nsp)
    payload = (
        '{"type":3,"data":{"packet":{"type":2,"data":["hi"],"nsp":"/admin"},'
        '"opts":{"rooms":[],"flags":{},"except":[]}},"uid":"emitter"}'
    )
    message, requester = parse_notification(payload, "/admin")
    assert isinstance(message, ClusterMessage) and requester is None
    assert (message.type, message.uid, message.nsp) == (MessageType.BROADCAST, "emitter", "/admin")


@pytest.mark.parametrize("attachment_id", ['"42"', "42"])
def test_attachment_ids_are_accepted_as_text_or_number(attachment_id: str) -> None:
    notice = parse_notification(f'{{"uid":"u","type":3,"attachmentId":{attachment_id}}}', "/")
    assert notice == (AttachmentNotice("u", "42"), None)


def test_a_response_names_its_requester_for_python_nodes() -> None:
    response = ClusterMessage(
        MessageType.SERVER_SIDE_EMIT_RESPONSE, UID, "/", {"requestId": "ab" * 8, "packet": 1}
    )
    text = notification_text(response, "fedcba9876543210")
    assert text == (
        '{"type":10,"data":{"requestId":"abababababababab","packet":1},'
        '"uid":"0123456789abcdef","nsp":"/","requesterUid":"fedcba9876543210"}'
    )
    assert parse_notification(text, "/") == (response, "fedcba9876543210")
    notice = attachment_notice(UID, 10, "7", "fedcba9876543210")
    assert parse_notification(notice, "/") == (AttachmentNotice(UID, "7"), "fedcba9876543210")


def test_an_attachment_is_the_whole_envelope_in_msgpack() -> None:
    message = broadcast(b"\x00\xff")
    decoded = message_from_attachment(protocol.encode(message), "/")
    assert decoded == message
    # and Node's emitter's attachment, without nsp
    raw = msgpack.packb({"type": 9, "data": {"packet": ["ev", b"\x01"]}, "uid": "emitter"})
    assert message_from_attachment(raw, "/x").nsp == "/x"


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[1,2]",
        "null",
        '{"type":3,"uid":"x","nsp":"/","data":{"packet":5}}',
        '{"type":99,"uid":"x","nsp":"/"}',
        '{"uid":"x","type":3,"attachmentId":"1e5"}',
        '{"uid":"x","type":3,"attachmentId":true}',
        '{"uid":"x","type":3,"attachmentId":"12345678901234567890"}',
        '{"type":3,"uid":"x","nsp":"no-slash","data":{"packet":{"type":2,"data":["e"]}}}',
    ],
)
def test_malformed_notifications_are_refused(payload: str) -> None:
    with pytest.raises(DecodeError):
        parse_notification(payload, "/")


def test_a_malformed_attachment_is_refused() -> None:
    with pytest.raises(DecodeError):
        message_from_attachment(b"\xc1", "/")
    with pytest.raises(DecodeError):
        message_from_attachment(msgpack.packb([1, 2]), "/")
