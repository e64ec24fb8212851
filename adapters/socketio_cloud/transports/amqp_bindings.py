"""What an AMQP node wants bound, and what a sender must not route by room yet.

:class:`RoomBindings` follows the node's local rooms and namespaces and answers which routing
keys its queue should be bound to (per-room keys, or each namespace's room wildcard past the
bound); the transport applies the difference at the broker and reports back, and callers
wait until a change is applied. :class:`RecentJoins` remembers the rooms a sender asked other
nodes to join, whose broadcasts go to every node for a grace period. No broker calls here.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..brokers import amqp as names
from ..protocol import ClusterMessage

__all__ = ["RecentJoins", "RoomBindings"]

logger = logging.getLogger("socketio_cloud.transports.amqp")


class RoomBindings:
    """The keys one node's queue should be bound to, versioned so callers can wait.

    Every change bumps :attr:`version`; the transport calls :meth:`applied` with the version
    it computed its keys at once they are bound, which wakes :meth:`wait` callers.
    """

    def __init__(self, max_room_bindings: int) -> None:
        self.max_room_bindings = max_room_bindings
        self.namespaces: set[str] = set()
        self.rooms: dict[str, set[str]] = {}
        self.fallback = max_room_bindings == 0
        #: Set on every change; the transport's binding task waits on it.
        self.changed = asyncio.Event()
        self.version = 0
        self._applied = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def add_namespace(self, namespace: str) -> bool:
        """Serve ``namespace``; False when it was served already."""
        if namespace in self.namespaces:
            return False
        self.namespaces.add(namespace)
        self._bump()
        return True

    def room_created(self, namespace: str, room: str) -> None:
        """A first local member joined ``room`` (socket-id rooms are not routed)."""
        if names.routed_by_room(room):
            self.rooms.setdefault(namespace, set()).add(room)
            self._bump()

    def room_deleted(self, namespace: str, room: str) -> None:
        """The last local member left ``room``."""
        rooms = self.rooms.get(namespace)
        if rooms is not None and room in rooms:
            rooms.discard(room)
            if not rooms:
                del self.rooms[namespace]
            self._bump()

    def wanted_keys(self, uid: str) -> set[str]:
        """The keys the queue of node ``uid`` should be bound to now.

        Past ``max_room_bindings`` rooms the node takes its namespaces' room wildcards
        instead of one key per room, until it is down to half the bound (hysteresis).
        """
        keys = {names.response_key(uid), names.HEARTBEAT_KEY}
        keys.update(names.all_key(namespace) for namespace in self.namespaces)
        count = sum(len(rooms) for rooms in self.rooms.values())
        if self.max_room_bindings == 0:
            self.fallback = True
        elif not self.fallback and count > self.max_room_bindings:
            self.fallback = True
            logger.warning(
                "node %s has %d rooms, more than max_room_bindings=%d: receiving every room "
                "broadcast until it has at most %d",
                uid,
                count,
                self.max_room_bindings,
                self.max_room_bindings // 2,
            )
        elif self.fallback and count <= self.max_room_bindings // 2:
            self.fallback = False
            logger.info("node %s routes room broadcasts by room again", uid)
        if self.fallback:
            keys.update(names.room_wildcard(ns) for ns in self.namespaces | set(self.rooms))
        else:
            for namespace, rooms in self.rooms.items():
                keys.update(names.room_key(namespace, room) for room in rooms)
        return keys

    def is_applied(self) -> bool:
        """Whether every change so far is bound at the broker."""
        return self._applied >= self.version

    def applied(self, version: int) -> None:
        """The keys computed at ``version`` are bound at the broker."""
        self._applied = max(self._applied, version)
        waiting: list[tuple[int, asyncio.Future[None]]] = []
        for wanted, waiter in self._waiters:
            if wanted <= self._applied:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((wanted, waiter))
        self._waiters = waiting

    async def wait(self, timeout: float) -> bool:
        """Wait until every change made so far is applied; False after ``timeout``."""
        version = self.version
        if self._applied >= version:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((version, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            return False
        return self._applied >= version

    def release(self) -> None:
        """Wake every waiter (the transport is closing)."""
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def _bump(self) -> None:
        self.version += 1
        self.changed.set()


class RecentJoins:
    """Rooms a sender asked other nodes to join in the last ``grace`` seconds, by namespace.

    The joined sockets' node binds such a room only when the SOCKETS_JOIN reaches it; until
    then, the sender's room-scoped messages for that room go to every node.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._rooms: dict[str, dict[str, float]] = {}

    def remember(self, message: ClusterMessage) -> None:
        """Note the rooms of a SOCKETS_JOIN that is being published."""
        if self.grace <= 0 or message.data is None:
            return
        until = time.monotonic() + self.grace
        rooms = self._rooms.setdefault(message.nsp, {})
        for room in message.data.get("rooms", ()):
            rooms[room] = until

    def rooms(self, namespace: str) -> frozenset[str]:
        """The rooms of ``namespace`` joined less than ``grace`` seconds ago."""
        rooms = self._rooms.get(namespace)
        if not rooms:
            return frozenset()
        now = time.monotonic()
        for room in [room for room, until in rooms.items() if until <= now]:
            del rooms[room]
        if not rooms:
            del self._rooms[namespace]
        return frozenset(rooms)
