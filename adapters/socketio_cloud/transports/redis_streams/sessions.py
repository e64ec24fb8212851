"""Sessions for connection state recovery, stored as ``@socket.io/redis-streams-adapter`` 0.3.x
stores them, so that a client can drop from a Node server and recover on a Python one and
the other way round.

- A session is the string key ``<session_key_prefix><pid>`` whose value is base64 of msgpack
  of ``{sid, pid, rooms, data}``, written with ``SET ... PX <window in ms>``.
- Taking a session reads and deletes the key in one transaction (``MULTI GET DEL EXEC``) and
  checks with ``XRANGE <stream> <offset> <offset>`` that the client's offset is still in the
  stream; without both, the client gets a fresh session.
- The missed broadcasts are read from the entry after the offset (``XRANGE``, at most
  :data:`MAX_REPLAY_CALLS` calls, as Node bounds it) and kept when they are for the
  namespace and the session's rooms (:func:`~socketio_cloud.recovery.missed_args`); each gets
  its entry id as last argument.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ... import protocol
from ...exceptions import DecodeError
from ...protocol import Limits
from ...recovery import missed_args
from ...transport import MissedPackets, Session
from .framing import message_from_entry, text

__all__ = [
    "MAX_REPLAY_CALLS",
    "decode_session",
    "encode_session",
    "is_offset",
    "next_offset",
    "replay",
]

#: XRANGE calls a restore makes at most (Node: ``RESTORE_SESSION_MAX_XRANGE_CALLS``).
MAX_REPLAY_CALLS = 100
#: Entries read per XRANGE call while replaying.
REPLAY_COUNT = 1000

_OFFSET = re.compile(r"^[0-9]+-[0-9]+$")


def is_offset(value: str) -> bool:
    """Whether ``value`` looks like a stream entry id (Node rejects anything else)."""
    return bool(_OFFSET.match(value))


def next_offset(offset: str) -> str:
    """The smallest entry id after ``offset`` (exclusive XRANGE for Redis before 6.2)."""
    timestamp, sequence = offset.split("-")
    return f"{timestamp}-{int(sequence) + 1}"


def encode_session(session: Session) -> str:
    """The stored value of a session: base64 of msgpack of ``{sid, pid, rooms, data}``.

    Raises ``TypeError`` when the session data cannot be packed.
    """
    packed = protocol.encode_data(
        {"sid": session.sid, "pid": session.pid, "rooms": list(session.rooms), "data": session.data}
    )
    return base64.b64encode(packed).decode("ascii")


def decode_session(raw: Any, *, limits: Limits = protocol.DEFAULT_LIMITS) -> Session:
    """A stored session; raises :class:`DecodeError` when it is not one."""
    value = text(raw)
    if len(value) > limits.max_message_size:
        raise DecodeError(f"session of {len(value)} bytes exceeds {limits.max_message_size}")
    try:
        packed = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("session is not base64") from None
    obj = protocol.decode_data(packed, limits=limits)
    if not isinstance(obj, dict):
        raise DecodeError("session is not a map")
    sid, pid, rooms = obj.get("sid"), obj.get("pid"), obj.get("rooms")
    if not isinstance(sid, str) or not isinstance(pid, str):
        raise DecodeError("session without sid or pid")
    if not isinstance(rooms, list) or not all(isinstance(room, str) for room in rooms):
        raise DecodeError("session rooms are not a list of strings")
    return Session(sid, pid, rooms, obj.get("data"))


async def replay(
    redis: Any,
    stream: str,
    namespace: str,
    session: Session,
    offset: str,
    *,
    limits: Limits = protocol.DEFAULT_LIMITS,
) -> MissedPackets:
    """The broadcasts ``session`` missed after ``offset`` in ``stream``."""
    missed = MissedPackets([], offset)
    start = next_offset(offset)
    for _ in range(MAX_REPLAY_CALLS):
        entries = await redis.xrange(stream, start, "+", count=REPLAY_COUNT)
        if not entries:
            break
        for entry_id, fields in entries:
            entry_offset = text(entry_id)
            missed.last_offset = entry_offset
            try:
                message = message_from_entry(fields, limits=limits)
            except (DecodeError, KeyError, ValueError):
                continue  # Node would skip what it cannot decode as well
            if message is None:
                continue
            args = missed_args(message, namespace, session.rooms)
            if args is not None:
                missed.packets.append([*args, entry_offset])
        start = next_offset(missed.last_offset)
    return missed
