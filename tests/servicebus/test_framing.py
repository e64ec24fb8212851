"""How cluster messages are framed on Service Bus: Node's bytes and properties, routing on
receipt, size accounting, offload pointers, and the facts the transport and cleanup share."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgpack
import pytest

from socketio_cloud.brokers.servicebus import (
    check_subscription_prefix,
    is_node_subscription_name,
    last_activity,
    node_subscription_name,
    subscription_filter,
    subscription_path,
)
from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import DEFAULT_LIMITS, ClusterMessage, Limits, MessageType
from socketio_cloud.transports.servicebus.framing import (
    OFFLOADED_BODY,
    PROPERTY_OVERHEAD,
    Frame,
    decode_envelope,
    encode_frame,
    offloaded_frame,
    published_size,
    read_frame,
)
from tests.protocol.golden import (
    BUILDERS,
    GOLDEN_CASES,
    GoldenCase,
    as_decoded,
    holds_undefined,
    without_undefined,
)

ME = "0123456789abcdef"
PEER = "fedcba9876543210"


@pytest.fixture(params=GOLDEN_CASES, ids=str)
def golden(request: pytest.FixtureRequest) -> GoldenCase:
    case: GoldenCase = request.param
    return case


# ---------------------------------------------------------------------------- sending


def test_body_is_the_msgpack_envelope_node_publishes(golden: GoldenCase) -> None:
    message = BUILDERS[golden.name]()
    frame = encode_frame(message, golden.requester_uid)
    if holds_undefined(golden.message):
        # Node writes a missing callback argument as an `undefined` map entry; we leave the
        # key out (tests/protocol/test_node_golden.py): the same meaning, other bytes
        assert decode_envelope(frame.body, limits=DEFAULT_LIMITS) == message
        assert message.to_wire() == without_undefined(golden.message)
        return
    assert frame.body == golden.envelope


def test_properties_are_nsp_and_uid_and_requester_on_responses(golden: GoldenCase) -> None:
    message = BUILDERS[golden.name]()
    frame = encode_frame(message, golden.requester_uid)
    expected = {"nsp": golden.message["nsp"], "uid": golden.message["uid"]}
    if golden.requester_uid is not None:
        expected["requesterUid"] = golden.requester_uid
    assert frame.properties == expected
    assert all(isinstance(value, str) for value in frame.properties.values())


def test_node_frames_decode_to_the_message_they_carry(golden: GoldenCase) -> None:
    properties = {"nsp": golden.message["nsp"], "uid": golden.message["uid"]}
    if golden.requester_uid is not None:
        properties["requesterUid"] = golden.requester_uid
    own = golden.requester_uid or ME
    received = read_frame(properties, golden.envelope, own, limits=DEFAULT_LIMITS)
    assert received is not None and received.pointer is None
    message = decode_envelope(received.body, limits=DEFAULT_LIMITS)
    assert message is not None
    assert message.to_wire() == as_decoded(golden.message)


def test_offloaded_frame_keeps_properties_and_names_the_blob() -> None:
    frame = encode_frame(ClusterMessage(MessageType.HEARTBEAT, ME, "/"))
    moved = offloaded_frame(frame, "payloads/socketio-cloud/x")
    assert moved.body == OFFLOADED_BODY == msgpack.packb(None)
    assert moved.properties == {**frame.properties, "payloadBlob": "payloads/socketio-cloud/x"}


def test_published_size_counts_body_properties_and_overhead() -> None:
    frame = Frame(b"x" * 100, {"nsp": "/", "uid": ME})
    assert published_size(frame) == 100 + 3 + 1 + 3 + 16 + PROPERTY_OVERHEAD


# ---------------------------------------------------------------------------- receiving


def props(**values: object) -> dict[bytes, object]:
    """Application properties as the SDK hands them over: bytes names and string values."""
    return {
        name.encode(): value.encode() if isinstance(value, str) else value
        for name, value in values.items()
    }


BODY = encode_frame(ClusterMessage(MessageType.HEARTBEAT, PEER, "/")).body


def test_a_peer_message_with_bytes_properties_is_accepted() -> None:
    received = read_frame(props(nsp="/", uid=PEER), BODY, ME, limits=DEFAULT_LIMITS)
    assert received is not None
    assert decode_envelope(received.body, limits=DEFAULT_LIMITS) == ClusterMessage(
        MessageType.HEARTBEAT, PEER, "/"
    )


def test_str_properties_are_accepted_too() -> None:
    assert read_frame({"nsp": "/", "uid": PEER}, BODY, ME, limits=DEFAULT_LIMITS) is not None


@pytest.mark.parametrize(
    "properties",
    [
        None,
        {},
        props(uid=PEER),  # no nsp: Node ignores it
        props(nsp=5, uid=PEER),  # non-string nsp: ignored as well
        props(nsp="/", uid=ME),  # our own
        props(nsp="/", uid=PEER, requesterUid=PEER),  # a response for another node
    ],
)
def test_messages_a_node_ignores(properties: dict[bytes, object] | None) -> None:
    assert read_frame(properties, BODY, ME, limits=DEFAULT_LIMITS) is None


def test_a_response_for_this_node_is_accepted() -> None:
    received = read_frame(
        props(nsp="/", uid=PEER, requesterUid=ME), BODY, ME, limits=DEFAULT_LIMITS
    )
    assert received is not None


def test_the_pointer_of_an_offloaded_payload_is_read() -> None:
    received = read_frame(
        props(nsp="/", uid=PEER, payloadBlob="c/p/x"), OFFLOADED_BODY, ME, limits=DEFAULT_LIMITS
    )
    assert received is not None and received.pointer == "c/p/x"


@pytest.mark.parametrize(
    "properties",
    [
        props(nsp="/", uid=PEER, requesterUid=b"\xff\xfe"),
        {b"nsp": b"/", b"uid": b"\xff"},
        props(nsp="/", uid=7),
        props(nsp="/", uid="x" * 10_000),
    ],
)
def test_malformed_properties_are_decode_errors(properties: dict[bytes, object]) -> None:
    with pytest.raises(DecodeError):
        read_frame(properties, BODY, ME, limits=DEFAULT_LIMITS)


def test_an_oversized_body_is_a_decode_error() -> None:
    limits = Limits(max_message_size=1000)
    with pytest.raises(DecodeError):
        read_frame(props(nsp="/", uid=PEER), b"\x00" * 1001, ME, limits=limits)


@pytest.mark.parametrize("body", [b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"type": 99})])
def test_undecodable_bodies_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_envelope(body, limits=DEFAULT_LIMITS)


# ---------------------------------------------------------------------------- broker facts


def test_node_subscription_names_match_only_their_own_prefix() -> None:
    name = node_subscription_name("socket.io", ME)
    assert name == f"socket.io-{ME}"
    assert is_node_subscription_name(name, "socket.io")
    assert not is_node_subscription_name(f"socket.io-eu-{ME}", "socket.io")
    assert not is_node_subscription_name(f"socket.io-{ME}", "socket.io-eu")
    assert not is_node_subscription_name(f"socketXio-{ME}", "socket.io")  # '.' is literal
    assert not is_node_subscription_name(f"socket.io-{ME}0", "socket.io")
    assert not is_node_subscription_name("socket.io-0123456789ABCDEF", "socket.io")


@pytest.mark.parametrize("prefix", ["", "x" * 34, "a b", "-x", "ä"])
def test_invalid_subscription_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        check_subscription_prefix(prefix)


def test_the_longest_prefix_fits_service_bus_name_limit() -> None:
    check_subscription_prefix("x" * 33)
    assert len(node_subscription_name("x" * 33, ME)) == 50


def test_rule_filter_excludes_own_messages_and_others_responses() -> None:
    assert subscription_filter(ME) == (
        f"uid <> '{ME}' AND (requesterUid IS NULL OR requesterUid = '{ME}')"
    )
    assert "'it''s'" in subscription_filter("it's")


def test_receivers_attach_to_the_subscription_entity_path() -> None:
    assert subscription_path("socket.io", "s") == "socket.io/Subscriptions/s"


def test_last_activity_is_the_latest_timestamp() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert last_activity(t0, t0 + timedelta(seconds=5), None) == t0 + timedelta(seconds=5)
    assert last_activity(None, None, None) is None
