"""Connection state recovery: a client that drops for a moment misses nothing.

Socket.IO protocol v5 as ``socket.io-client`` 4.6+ speaks it, and as Node's
``connectionStateRecovery`` implements it on the server:

- the CONNECT reply carries a private session id, ``{sid, pid}``;
- every event broadcast without acknowledgement (and not volatile) carries, as an extra last
  argument, the offset the broker gave the broadcast; the client keeps the last one;
- when a socket goes away for a reason that may be temporary (transport closed or failed,
  ping timeout), its session (sid, pid, rooms, data) is stored for
  ``max_disconnection_duration`` seconds;
- a client reconnecting with ``auth = {pid, offset, ...}`` within that time gets its old sid,
  rooms and data back, then every broadcast it missed since ``offset``, in order. The socket
  joins its rooms before the log is read; what is delivered to it meanwhile is held back and
  sent after the missed packets unless the log had it (:meth:`ConnectionRecovery.release`),
  so nothing is lost or sent twice whatever the node's own reading of the log is doing.

:class:`ConnectionRecovery` is the node's half of that, used by the managers when recovery is
on; the storage and the replay are the transport's
(:class:`~socketio_cloud.transport.SessionStore`).
:func:`missed_args` says which logged broadcasts a session missed, for every store.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from .exceptions import DecodeError, TransportError
from .protocol import BroadcastOptions, ClusterMessage, MessageType
from .transport import MissedPackets, Session, SessionStore

__all__ = [
    "DEFAULT_MAX_DISCONNECTION_DURATION",
    "MAX_CONCURRENT_SESSION_CALLS",
    "MAX_HELD_PACKETS",
    "RECOVERABLE_REASONS",
    "ConnectionRecovery",
    "carries_offset",
    "missed_args",
    "offset_key",
    "should_include",
    "with_offset",
]

logger = logging.getLogger("socketio_cloud.recovery")

#: Node's default ``maxDisconnectionDuration`` (2 minutes), in seconds.
DEFAULT_MAX_DISCONNECTION_DURATION = 120.0

#: python-engineio's disconnect reasons after which a session is kept: Node keeps it after
#: "transport error", "transport close", "ping timeout" (and its server-shutdown reasons,
#: which python-engineio reports as one of the transport reasons when the server closes).
RECOVERABLE_REASONS = frozenset({"transport error", "transport close", "ping timeout"})

#: Session stores and restores a node runs at the same time, at most: when hundreds of
#: clients drop and come back at once, the others wait their turn instead of opening a
#: broker connection each (connection pools refuse past their size).
MAX_CONCURRENT_SESSION_CALLS = 32

#: Events held back for one socket while its missed packets are read, at most (it takes a
#: round trip to the broker; beyond this the socket misses events, logged).
MAX_HELD_PACKETS = 10_000

# A pid is ours (20 url-safe characters) or Node's (base64id, 20 characters); anything much
# longer is not a session id and would only make a long key.
_MAX_PID_LENGTH = 64
_MAX_OFFSET_LENGTH = 64


def carries_offset(opts: BroadcastOptions) -> bool:
    """Whether a broadcast without acknowledgement gets its offset appended (Node: not when
    the ``volatile`` flag is set)."""
    return opts.flags.get("volatile") is None


def should_include(rooms: Iterable[str], opts: BroadcastOptions) -> bool:
    """Whether a socket in ``rooms`` was a target of a broadcast with ``opts`` (Node's
    ``shouldIncludePacket``): no target rooms or a shared one, and no excepted room."""
    rooms = list(rooms)
    included = not opts.rooms or any(room in opts.rooms for room in rooms)
    return included and not any(room in opts.except_rooms for room in rooms)


def missed_args(message: ClusterMessage, namespace: str, rooms: Iterable[str]) -> list[Any] | None:
    """The event arguments a session of ``namespace`` in ``rooms`` missed in a logged
    ``message`` (without its offset), or None when the message was not for it."""
    if message.type is not MessageType.BROADCAST or message.nsp != namespace:
        return None
    if message.request_id is not None or message.data is None:
        return None
    packet = message.data.get("packet")
    if not isinstance(packet, dict) or packet.get("id") is not None:
        return None
    opts = message.options()
    if not carries_offset(opts) or not should_include(rooms, opts):
        return None
    args = packet.get("data")
    return list(args) if isinstance(args, list) else None


class ConnectionRecovery:
    """The node's side of connection state recovery: private session ids of its sockets,
    which sockets were recovered, storing sessions on disconnect and restoring them.

    :param store: the transport, which keeps sessions and replays missed broadcasts.
    :param max_disconnection_duration: seconds a session is kept after a disconnect.
    """

    def __init__(
        self,
        store: SessionStore,
        max_disconnection_duration: float = DEFAULT_MAX_DISCONNECTION_DURATION,
    ) -> None:
        if max_disconnection_duration <= 0:
            raise ValueError("max_disconnection_duration must be positive")
        self.store = store
        self.max_disconnection_duration = max_disconnection_duration
        self._pids: dict[tuple[str, str], str] = {}
        self._recovered: set[tuple[str, str]] = set()
        self._calls = asyncio.Semaphore(MAX_CONCURRENT_SESSION_CALLS)
        self._held: dict[tuple[str, str], list[tuple[list[Any], str | None]]] = {}

    # ------------------------------------------------------------------ bookkeeping

    def assign_pid(self, namespace: str, sid: str) -> str:
        """Give a new socket its private session id."""
        pid = secrets.token_urlsafe(15)
        self._pids[(namespace, sid)] = pid
        return pid

    def resumed(self, namespace: str, session: Session) -> None:
        """Record that ``session`` was restored for a socket of ``namespace``."""
        self._pids[(namespace, session.sid)] = session.pid
        self._recovered.add((namespace, session.sid))

    def pid(self, namespace: str, sid: str) -> str | None:
        """The private session id of a local socket, if it has one."""
        return self._pids.get((namespace, sid))

    def is_recovered(self, namespace: str, sid: str) -> bool:
        """Whether a local socket got its previous session back when it connected."""
        return (namespace, sid) in self._recovered

    def forget(self, namespace: str, sid: str) -> None:
        """Drop what is kept about a socket that is gone."""
        self._pids.pop((namespace, sid), None)
        self._recovered.discard((namespace, sid))
        self._held.pop((namespace, sid), None)

    @property
    def tracked(self) -> int:
        """How many sockets this node keeps a private session id for."""
        return len(self._pids)

    # ------------------------------------------------------------------ storage

    async def save(self, namespace: str, session: Session) -> None:
        """Store a disconnected socket's session for the window. Never raises: a session
        that cannot be stored only means the client gets a fresh one."""
        try:
            async with self._calls:
                await self.store.save_session(namespace, session, self.max_disconnection_duration)
        except (TransportError, TypeError, ValueError) as exc:
            logger.warning("cannot store the session of %s (%s): %s", session.sid, namespace, exc)

    async def take(self, namespace: str, auth: Any) -> tuple[Session, str] | None:
        """The session a connecting client asks for with ``auth = {pid, offset}`` and the
        offset, if it can be restored (it is then deleted from the store). Never raises: the
        client then gets a fresh session."""
        if not isinstance(auth, dict):
            return None
        pid, offset = auth.get("pid"), auth.get("offset")
        if not (isinstance(pid, str) and isinstance(offset, str)):
            return None
        if not pid or len(pid) > _MAX_PID_LENGTH or len(offset) > _MAX_OFFSET_LENGTH:
            return None
        try:
            async with self._calls:
                session = await self.store.take_session(namespace, pid, offset)
        except (TransportError, DecodeError) as exc:
            logger.warning("cannot restore session %s (%s): %s", pid, namespace, exc)
            return None
        return (session, offset) if session is not None else None

    async def replay(self, namespace: str, session: Session, offset: str) -> MissedPackets:
        """What ``session`` missed since ``offset``; nothing (logged) when the broker cannot
        be read: the socket keeps its session but misses those events."""
        try:
            async with self._calls:
                return await self.store.missed_packets(namespace, session, offset)
        except TransportError as exc:
            logger.warning("cannot replay what %s missed (%s): %s", session.sid, namespace, exc)
            return MissedPackets([], offset)

    # ------------------------------------------------------------------ restoring sockets

    def hold_back(self, namespace: str, sid: str) -> None:
        """Keep what is delivered to a socket being restored until its replay is known."""
        self._held[(namespace, sid)] = []

    @property
    def holding(self) -> bool:
        """Whether some socket of this node is being restored."""
        return bool(self._held)

    def held(
        self,
        namespace: str,
        recipients: list[tuple[str, str]],
        event_args: list[Any],
        offset: str | None,
    ) -> list[tuple[str, str]]:
        """Keep ``event_args`` for the recipients being restored; the others are returned."""
        others = []
        for recipient in recipients:
            held = self._held.get((namespace, recipient[0]))
            if held is None:
                others.append(recipient)
            elif len(held) < MAX_HELD_PACKETS:
                held.append((event_args, offset))
            else:
                logger.warning("socket %s being restored missed an event", recipient[0])
        return others

    def release(self, namespace: str, sid: str, missed: MissedPackets) -> list[list[Any]]:
        """Stop holding a restored socket's deliveries; what it must be sent, in order: the
        missed packets, then what was held back and is not among them."""
        held = self._held.pop((namespace, sid), [])
        last = offset_key(missed.last_offset)
        packets = list(missed.packets)
        for event_args, offset in held:
            if offset is None or offset_key(offset) > last:
                packets.append(event_args)
        return packets

    def stop_holding(self, namespace: str, sid: str) -> None:
        """Forget a socket whose restore was abandoned."""
        self._held.pop((namespace, sid), None)


def offset_key(offset: str) -> tuple[int, int]:
    """A stream offset (``<ms>-<seq>``) as something that sorts in log order; offsets of
    another shape sort first."""
    first, _, second = offset.partition("-")
    try:
        return int(first), int(second or 0)
    except ValueError:
        return (-1, -1)


def with_offset(event_args: list[Any], opts: BroadcastOptions, offset: str | None) -> list[Any]:
    """``event_args`` with the broadcast's offset appended when it carries one."""
    if not offset or not carries_offset(opts):
        return event_args
    return [*event_args, offset]
