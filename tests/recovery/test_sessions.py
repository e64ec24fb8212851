"""The pieces of connection state recovery on their own: which logged broadcasts a session
missed, the session format in Redis, and the errors when recovery cannot work."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator

import msgpack
import pytest
import socketio
from redis.asyncio import Redis

from socketio_cloud.exceptions import DecodeError, UnsupportedFeatureError, UnsupportedVersionError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType, broadcast_data
from socketio_cloud.recovery import ConnectionRecovery, missed_args, should_include
from socketio_cloud.transport import MissedPackets, Session
from socketio_cloud.transports.memory import MemoryManager
from socketio_cloud.transports.redis_streams import RedisStreamsManager, RedisStreamsTransport
from socketio_cloud.transports.redis_streams.framing import entry_fields
from socketio_cloud.transports.redis_streams.sessions import decode_session, encode_session
from tests.backends.redis_streams import REDIS_URL, require_redis


def broadcast(
    args: list[object],
    rooms: tuple[str, ...] = (),
    except_rooms: tuple[str, ...] = (),
    flags: dict[str, object] | None = None,
    nsp: str = "/",
    request_id: str | None = None,
) -> ClusterMessage:
    opts = BroadcastOptions(rooms, except_rooms, flags or {})
    return ClusterMessage(
        MessageType.BROADCAST, "uid", nsp, broadcast_data(opts, ["news", *args], request_id)
    )


@pytest.mark.parametrize(
    ("rooms", "except_rooms", "included"),
    [
        ((), (), True),
        (("r1",), (), True),
        (("r2",), (), False),
        (("r2", "sid"), (), True),
        ((), ("r1",), False),
        (("r1",), ("other",), True),
    ],
)
def test_a_session_missed_what_targeted_one_of_its_rooms_and_excepted_none(
    rooms: tuple[str, ...], except_rooms: tuple[str, ...], included: bool
) -> None:
    opts = BroadcastOptions(rooms, except_rooms)
    assert should_include(["sid", "r1"], opts) is included


def test_missed_args_keep_only_plain_broadcasts_of_the_namespace() -> None:
    rooms = ["sid"]
    assert missed_args(broadcast([1]), "/", rooms) == ["news", 1]
    assert missed_args(broadcast([1], nsp="/chat"), "/", rooms) is None
    assert missed_args(broadcast([1], flags={"volatile": True}), "/", rooms) is None
    assert missed_args(broadcast([1], request_id="r"), "/", rooms) is None
    join = ClusterMessage(
        MessageType.SOCKETS_JOIN, "uid", "/", {"opts": BroadcastOptions().to_wire(), "rooms": []}
    )
    assert missed_args(join, "/", rooms) is None


def test_a_session_is_stored_as_base64_msgpack_of_sid_pid_rooms_data() -> None:
    session = Session("sid1", "pid1", ["sid1", "r1"], {"k": b"\x00bin"})
    raw = encode_session(session)
    assert msgpack.unpackb(base64.b64decode(raw)) == {
        "sid": "sid1",
        "pid": "pid1",
        "rooms": ["sid1", "r1"],
        "data": {"k": b"\x00bin"},
    }
    assert decode_session(raw.encode()) == session


@pytest.mark.parametrize(
    "raw",
    [
        "not base64!",
        base64.b64encode(msgpack.packb([1, 2])).decode(),
        base64.b64encode(msgpack.packb({"sid": "s", "rooms": []})).decode(),
        base64.b64encode(msgpack.packb({"sid": "s", "pid": "p", "rooms": [1]})).decode(),
    ],
)
def test_a_stored_value_that_is_not_a_session_is_refused(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode_session(raw)


def test_recovery_on_a_broker_without_a_replayable_log_is_refused() -> None:
    with pytest.raises(UnsupportedFeatureError, match="Redis Streams"):
        MemoryManager(connection_state_recovery=True)


def test_recovery_without_python_socketio_internals_is_refused() -> None:
    manager = RedisStreamsManager(url=REDIS_URL, connection_state_recovery=True)
    manager.socketio_internals = False
    with pytest.raises(UnsupportedVersionError):
        socketio.AsyncServer(async_mode="asgi", client_manager=manager)


@pytest.fixture
async def transport() -> AsyncIterator[RedisStreamsTransport]:
    require_redis()
    name = f"sio-csr-unit-{secrets.token_hex(4)}"
    transport = RedisStreamsTransport(
        url=REDIS_URL, stream_name=name, session_key_prefix=f"{name}:session:"
    )
    await transport.open_publisher()
    yield transport
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{name}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await transport.close()


async def test_a_session_is_taken_once_and_the_broadcasts_after_the_offset_replayed(
    transport: RedisStreamsTransport,
) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        stream = transport.stream_name

        async def add(message: ClusterMessage) -> str:
            entry_id = await redis.xadd(stream, entry_fields(message))  # type: ignore[arg-type]
            return entry_id.decode()

        offset = await add(broadcast([0]))
        before = await add(broadcast([1]))
        await add(broadcast([2], rooms=("elsewhere",)))
        after = await add(broadcast([3], rooms=("r1",)))
        session = Session("sid1", "pid1", ["sid1", "r1"], {"k": "v"})
        await transport.save_session("/", session, ttl=60)
        ttl = await redis.pttl(f"{transport.session_key_prefix}pid1")
        assert 0 < ttl <= 60_000

        taken = await transport.take_session("/", "pid1", offset)
        assert taken == session
        # read and deleted at once: a second attempt gets nothing
        assert await transport.take_session("/", "pid1", offset) is None
        missed = await transport.missed_packets("/", session, offset)
        assert missed.packets == [["news", 1, before], ["news", 3, after]]
        assert missed.last_offset == after
        await add(broadcast([4], rooms=("elsewhere",)))
        last = await add(broadcast([5], rooms=("elsewhere",)))
        missed = await transport.missed_packets("/", session, after)
        assert missed.packets == [] and missed.last_offset == last
    finally:
        await redis.aclose()


async def test_a_session_whose_offset_left_the_stream_is_not_restored(
    transport: RedisStreamsTransport,
) -> None:
    await transport.save_session("/", Session("sid1", "pid1", ["sid1"]), ttl=60)
    assert await transport.take_session("/", "pid1", "1-0") is None
    assert await transport.take_session("/", "pid1", "not an offset") is None


def test_what_reaches_a_socket_being_restored_is_held_then_sent_unless_replayed() -> None:
    recovery = ConnectionRecovery(RedisStreamsTransport(url=REDIS_URL))
    recovery.hold_back("/", "sid1")
    assert recovery.holding
    recipients = [("sid1", "eio1"), ("sid2", "eio2")]
    assert recovery.held("/", recipients, ["e", 1, "5-0"], "5-0") == [("sid2", "eio2")]
    recovery.held("/", recipients, ["e", 2, "5-1"], "5-1")
    recovery.held("/", recipients, ["local"], None)
    recovery.held("/", recipients, ["e", 3, "12-0"], "12-0")
    missed = MissedPackets([["e", 0, "4-0"], ["e", 1, "5-0"], ["e", 2, "5-1"]], "5-1")
    assert recovery.release("/", "sid1", missed) == [
        ["e", 0, "4-0"],
        ["e", 1, "5-0"],
        ["e", 2, "5-1"],
        ["local"],
        ["e", 3, "12-0"],
    ]
    assert not recovery.holding
    assert recovery.held("/", recipients, ["e", 4, "13-0"], "13-0") == recipients
