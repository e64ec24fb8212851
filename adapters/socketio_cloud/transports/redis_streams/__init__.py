"""The Redis Streams broker, wire-compatible with ``@socket.io/redis-streams-adapter`` 0.3.x.

Split by job: :mod:`.framing` (entry fields, decoding entries, the stream of a namespace,
Node's string hash), :mod:`.transport` (:class:`RedisStreamsTransport`: readers, subscriber,
publishing) and :mod:`.manager` (:class:`RedisStreamsManager`, :class:`RedisStreamsEmitter`).
"""

from __future__ import annotations

from .framing import entry_fields, message_from_entry, stream_for_namespace
from .manager import RedisStreamsEmitter, RedisStreamsManager
from .transport import DEFAULT_URL, RedisStreamsTransport

__all__ = [
    "DEFAULT_URL",
    "RedisStreamsEmitter",
    "RedisStreamsManager",
    "RedisStreamsTransport",
    "entry_fields",
    "message_from_entry",
    "stream_for_namespace",
]
