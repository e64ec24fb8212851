"""Which keys a node wants bound (no broker): rooms, the bound and its hysteresis, waiting."""

from __future__ import annotations

import asyncio

from socketio_cloud.brokers import amqp as names
from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.transports.amqp_bindings import RecentJoins, RoomBindings

UID = "0123456789abcdef"
BASE = {names.response_key(UID), names.HEARTBEAT_KEY, names.all_key("/")}


def _bindings(bound: int = 4) -> RoomBindings:
    bindings = RoomBindings(bound)
    bindings.add_namespace("/")
    return bindings


def test_a_node_wants_its_namespaces_responses_and_heartbeats() -> None:
    assert _bindings().wanted_keys(UID) == BASE


def test_rooms_are_bound_while_they_have_members() -> None:
    bindings = _bindings()
    bindings.room_created("/", "lobby")
    assert bindings.wanted_keys(UID) == BASE | {names.room_key("/", "lobby")}
    bindings.room_deleted("/", "lobby")
    assert bindings.wanted_keys(UID) == BASE


def test_socket_id_rooms_are_never_bound() -> None:
    bindings = _bindings()
    version = bindings.version
    bindings.room_created("/", "AbCdEfGhIjKlMnOpQr_-")
    assert bindings.version == version
    assert bindings.wanted_keys(UID) == BASE


def test_past_the_bound_the_wildcard_replaces_the_rooms_until_half() -> None:
    bindings = _bindings(bound=4)
    for i in range(5):
        bindings.room_created("/", f"r{i}")
    assert bindings.wanted_keys(UID) == BASE | {names.room_wildcard("/")}
    assert bindings.fallback
    for i in range(2):
        bindings.room_deleted("/", f"r{i}")
    assert bindings.fallback and names.room_wildcard("/") in bindings.wanted_keys(UID)
    bindings.room_deleted("/", "r2")
    keys = bindings.wanted_keys(UID)
    assert not bindings.fallback
    assert keys == BASE | {names.room_key("/", "r3"), names.room_key("/", "r4")}


def test_bound_zero_means_every_room_broadcast() -> None:
    bindings = _bindings(bound=0)
    assert names.room_wildcard("/") in bindings.wanted_keys(UID)


async def test_waiters_wake_when_their_change_is_applied() -> None:
    bindings = _bindings()
    bindings.applied(bindings.version)
    assert await bindings.wait(0.1)
    bindings.room_created("/", "a")
    first = bindings.version
    waiter = asyncio.ensure_future(bindings.wait(5))
    await asyncio.sleep(0)
    bindings.room_created("/", "b")
    bindings.applied(first)
    assert await waiter
    assert not bindings.is_applied()
    assert not await bindings.wait(0.05)


def test_recent_joins_expire() -> None:
    joins = RecentJoins(grace=60)
    message = ClusterMessage(
        MessageType.SOCKETS_JOIN, UID, "/", {"opts": {"rooms": []}, "rooms": ["a", "b"]}
    )
    joins.remember(message)
    assert joins.rooms("/") == {"a", "b"}
    assert joins.rooms("/admin") == frozenset()
    RecentJoins(grace=0).remember(message)
    expired = RecentJoins(grace=1e-9)
    expired.remember(message)
    assert expired.rooms("/") == frozenset()
