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
  rooms and data back, then every broadcast it missed since ``offset``, in order.

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
from .transport import RestoredSession, Session, SessionStore

__all__ = [
    "DEFAULT_MAX_DISCONNECTION_DURATION",
    "MAX_CONCURRENT_SESSION_CALLS",
    "RECOVERABLE_REASONS",
    "ConnectionRecovery",
    "carries_offset",
    "missed_args",
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

    async def restore(self, namespace: str, auth: Any) -> RestoredSession | None:
        """The session a connecting client asks for with ``auth = {pid, offset}``, if it can
        be restored. Never raises: the client then gets a fresh session."""
        if not isinstance(auth, dict):
            return None
        pid, offset = auth.get("pid"), auth.get("offset")
        if not (isinstance(pid, str) and isinstance(offset, str)):
            return None
        if not pid or len(pid) > _MAX_PID_LENGTH or len(offset) > _MAX_OFFSET_LENGTH:
            return None
        try:
            async with self._calls:
                return await self.store.restore_session(namespace, pid, offset)
        except (TransportError, DecodeError) as exc:
            logger.warning("cannot restore session %s (%s): %s", pid, namespace, exc)
            return None


def with_offset(event_args: list[Any], opts: BroadcastOptions, offset: str | None) -> list[Any]:
    """``event_args`` with the broadcast's offset appended when it carries one."""
    if not offset or not carries_offset(opts):
        return event_args
    return [*event_args, offset]
