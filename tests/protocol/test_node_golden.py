"""Our codec against the bytes Node's socket.io-adapter publishes (``tests/golden``)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from socketio_cloud.protocol import (
    MessageType,
    decode,
    decode_data,
    encode,
    encode_data,
    validate_parts,
)
from tests.support.services import require_service

from .golden import (
    BUILDERS,
    GOLDEN_BY_NAME,
    GOLDEN_CASES,
    GOLDEN_DIR,
    GOLDEN_DOCUMENT,
    GOLDEN_FILE,
    GoldenCase,
    as_decoded,
    holds_undefined,
    without_undefined,
)

GENERATOR_TIMEOUT = 60


@pytest.fixture(params=GOLDEN_CASES, ids=str)
def golden(request: pytest.FixtureRequest) -> GoldenCase:
    case: GoldenCase = request.param
    return case


# ---------------------------------------------------------------------------- the golden file


def test_golden_file_pins_the_node_versions_of_the_protocol_reference() -> None:
    assert GOLDEN_DOCUMENT["versions"] == {
        "socket.io-adapter": "2.5.8",
        "@msgpack/msgpack": "2.8.0",
    }


def test_golden_file_covers_every_message_type() -> None:
    assert {case.type for case in GOLDEN_CASES} == {int(t) for t in MessageType}


def test_golden_file_covers_both_variants_of_broadcast_and_server_side_emit() -> None:
    for message_type in (MessageType.BROADCAST, MessageType.SERVER_SIDE_EMIT):
        variants = {
            "requestId" in case.message["data"]
            for case in GOLDEN_CASES
            if case.type == message_type
        }
        assert variants == {True, False}, message_type.name


def test_golden_responses_are_addressed_to_the_requester() -> None:
    for case in GOLDEN_CASES:
        is_response = case.type in {8, 10, 11, 12}
        assert (case.requester_uid is not None) == is_response, case.name


def test_every_golden_case_has_a_builder() -> None:
    assert set(BUILDERS) == set(GOLDEN_BY_NAME)


# ---------------------------------------------------------------------------- decoding Node


def test_decodes_node_envelope(golden: GoldenCase) -> None:
    message = decode(golden.envelope)

    assert message.type == golden.type
    assert message.uid == golden.message["uid"]
    assert message.nsp == golden.message["nsp"]
    assert message.is_response == (golden.requester_uid is not None)
    expected = golden.message.get("data")
    assert message.data == (None if expected is None else as_decoded(expected))


def test_decodes_node_data_attribute(golden: GoldenCase) -> None:
    # SQS framing: type, uid and nsp travel as attributes, data alone as msgpack
    data = None if golden.data is None else decode_data(golden.data)
    message = validate_parts(str(golden.type), golden.message["uid"], golden.message["nsp"], data)

    assert message == decode(golden.envelope)


def test_request_id_of_node_messages() -> None:
    for case in GOLDEN_CASES:
        expected = (case.message.get("data") or {}).get("requestId")
        assert decode(case.envelope).request_id == expected, case.name


def test_options_of_a_node_broadcast() -> None:
    options = decode(GOLDEN_BY_NAME["broadcast_rooms_except_flags"].envelope).options()

    assert options.rooms == ("room1", "room2")
    assert options.except_rooms == ("room3",)
    assert dict(options.flags) == {"volatile": True, "compress": False}
    assert options.timeout is None


def test_timeout_of_a_node_ack_broadcast_is_in_seconds() -> None:
    options = decode(GOLDEN_BY_NAME["broadcast_with_ack"].envelope).options()

    assert options.timeout == 5.0


def test_binary_arguments_from_node_decode_to_bytes() -> None:
    message = decode(GOLDEN_BY_NAME["broadcast_binary"].envelope)

    assert message.data is not None
    args = message.data["packet"]["data"]
    assert args[1] == b"\x00\x01\x02\xfe\xff"
    assert args[2]["file"] == b"PNG\r\n"


def test_dates_from_node_decode_to_aware_datetimes() -> None:
    message = decode(GOLDEN_BY_NAME["broadcast_date"].envelope)

    assert message.data is not None
    assert message.data["packet"]["data"][1:] == [
        datetime(2026, 11, 22, 10, 0, 0, 123_000, tzinfo=timezone.utc),
        datetime(1969, 7, 20, 20, 17, 40, 500_000, tzinfo=timezone.utc),
    ]


# ---------------------------------------------------------------------------- encoding like Node


def test_encodes_like_node(golden: GoldenCase) -> None:
    ours = BUILDERS[golden.name]()

    if holds_undefined(golden.message):
        # Node passes the callback's missing first argument on as `undefined`, which
        # @msgpack/msgpack writes as nil. We never send nil for an absent value (Node would
        # read a nil requestId as an ack request), so we omit the key; Node reads the missing
        # key as the same `undefined`. Compare what each side means instead of bytes.
        assert encode(ours) != golden.envelope
        assert ours.to_wire() == without_undefined(golden.message)
        assert decode(encode(ours)).to_wire() == without_undefined(golden.message)
        return
    assert encode(ours) == golden.envelope
    if golden.data is None:
        assert ours.data is None
    else:
        assert ours.data is not None
        assert encode_data(ours.data) == golden.data


def test_no_value_answers_decode_to_none_from_node_and_from_us() -> None:
    for name in ("server_side_emit_response_no_value", "broadcast_ack_no_value"):
        from_node = decode(GOLDEN_BY_NAME[name].envelope)
        from_us = decode(encode(BUILDERS[name]()))
        assert from_node.data is not None and from_us.data is not None
        assert from_node.data.get("packet") is None
        assert from_us.data.get("packet") is None


# ---------------------------------------------------------------------------- live Node


@pytest.mark.interop
def test_node_generator_reproduces_the_checked_in_golden_file() -> None:
    node = shutil.which("node")
    require_service(node is not None, "node is not installed")
    require_service(
        (GOLDEN_DIR / "node_modules" / "socket.io-adapter").is_dir(),
        "tests/golden/node_modules is missing (run scripts/bootstrap)",
    )
    assert node is not None
    result = subprocess.run(
        [node, "generate.mjs"],
        cwd=GOLDEN_DIR,
        capture_output=True,
        text=True,
        timeout=GENERATOR_TIMEOUT,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_FILE.read_text(encoding="utf-8"), (
        "Node's output differs from tests/golden/node_messages.json; "
        "regenerate it with `node generate.mjs node_messages.json` in tests/golden and review"
    )
