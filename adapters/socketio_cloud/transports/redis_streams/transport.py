"""The Redis Streams transport, wire-compatible with ``@socket.io/redis-streams-adapter`` 0.3.x
(framing: :mod:`~socketio_cloud.transports.redis_streams.framing`).

A node subscribes to the request and response channels of every namespace it serves on one
connection, so ``PUBSUB NUMSUB`` of the public channel counts the nodes serving a namespace:
there are no heartbeats (``membership = "broker"``).

The stream entry id is the message offset. Readers follow each stream with ``XREAD BLOCK``
from the entry that was last when the node started, then from the last entry they read, so
a reconnection after a Redis outage resumes exactly where reading stopped (as long as the
reader is fewer than about ``max_len`` entries behind: older entries are trimmed).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeAlias

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from ... import protocol
from ...exceptions import PayloadTooLarge, TransportError
from ...protocol import ClusterMessage, Limits
from ...runtime import Backoff, Inbox, LinkState, bounded, start_now
from ...transport import (
    MembershipKind,
    MessageHandler,
    MissedPackets,
    Session,
    SessionStore,
    Transport,
)
from .framing import (
    entry_fields,
    is_ephemeral,
    message_from_entry,
    public_channel,
    response_channel,
    stream_for_namespace,
    text,
)
from .sessions import decode_session, encode_session, is_offset, replay

__all__ = ["DEFAULT_URL", "RedisStreamsTransport"]

logger = logging.getLogger("socketio_cloud.transports.redis_streams")

DEFAULT_URL = "redis://localhost:6379/0"

# How long a subscription may take to be confirmed by Redis.
_SUBSCRIBE_TIMEOUT = 10.0
# An XREAD still unanswered this long after its BLOCK ended is on a dead connection.
_READ_TIMEOUT_MARGIN = 10.0
# How long close() lets the readers stop before it cuts their connections.
_STOP_TIMEOUT = 2.0
# how long the writer waits for Redis to answer a batch, when the client sets no socket timeout
_COMMAND_TIMEOUT = 10.0
# Reconnection delays: doubled from the first to the cap, with jitter.
_BACKOFF_FIRST = 0.1
_BACKOFF_CAP = 2.0


# how much a stream reader takes from its socket at a time
_READ_SIZE = 65536

_hiredis: Any
try:
    import hiredis as _hiredis
except ImportError:  # the redis extra installs it; without it redis-py reads replies
    _hiredis = None
# the type hiredis gives RESP3 pushes (hiredis 3)
_PUSH = getattr(_hiredis, "PushNotification", None)

_RedisHiredisParser: Any
try:
    from redis._parsers import _AsyncHiredisParser as _RedisHiredisParser
except ImportError:  # a redis-py that names it otherwise: its connections parse in Python
    _RedisHiredisParser = None

# namespaces whose stream name is remembered (emitters may name any number of them)
_MAX_CACHED_STREAM_NAMES = 1024

_POOL_STATE_PREFIXES = ("maint_notifications", "orig_", "himport_registry")


#: What becomes of a queued command: the future of its reply (or error), or, for
#: responses, the callback told of a failure.
_Outcome: TypeAlias = "asyncio.Future[str | None] | Callable[[BaseException], None]"
#: A queued command: its key, whether it is a PUBLISH (else an XADD), its bytes, its outcome.
_Command: TypeAlias = "tuple[str, bool, bytes, _Outcome]"


def _bulk(*args: str | bytes) -> bytes:
    """Arguments of a command in Redis's wire format (RESP bulk strings)."""
    parts = []
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


def _resp_head(count: int, *args: str | bytes) -> bytes:
    """The start of a command of ``count`` arguments in RESP, with its first ``args``."""
    return b"*%d\r\n" % count + _bulk(*args)


def _resp(*args: str | bytes) -> bytes:
    """One command in RESP, as redis-py would send it."""
    return _resp_head(len(args), *args)


def _publish_resp(channel: str, payload: bytes) -> bytes:
    """``PUBLISH channel payload`` in RESP: :func:`_resp`'s bytes in one formatting, as a
    broadcast with acknowledgements publishes one response per client."""
    name = channel.encode()
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(name),
        name,
        len(payload),
        payload,
    )


# the stream entry fields' names, as they are written in every XADD
_FIELD_NAMES = {name: _bulk(name) for name in ("uid", "nsp", "type", "data")}


def _pool_kwargs(pool: ConnectionPool) -> dict[str, Any]:
    """The pool's connection settings without the state redis-py keeps per pool
    (maintenance notifications and the like)."""
    return {
        key: value
        for key, value in pool.connection_kwargs.items()
        if not key.startswith(_POOL_STATE_PREFIXES)
    }


def _writer_connection_kwargs(pool: ConnectionPool) -> dict[str, Any]:
    """Settings for the writer's own connection, beside the user's pool: same server and
    credentials. No socket timeout: redis-py bounds a send with it through
    ``asyncio.wait_for``, which runs the send in a task of its own (a loop iteration later);
    the writer bounds each exchange itself."""
    kwargs = _pool_kwargs(pool)
    kwargs.pop("max_connections", None)
    kwargs["socket_timeout"] = None
    return kwargs


def _parses_with_hiredis(connection: AbstractConnection) -> bool:
    """Whether replies on ``connection`` may be parsed with hiredis here: only where
    redis-py parses them with hiredis too (its default when hiredis is installed). A client
    given a Python ``parser_class`` keeps redis-py's own reading path throughout."""
    return (
        _hiredis is not None
        and _RedisHiredisParser is not None
        and isinstance(getattr(connection, "_parser", None), _RedisHiredisParser)
    )


def _new_parser() -> Any:
    """A hiredis parser giving bytes, and error replies as redis-py's ``ResponseError``."""
    return _hiredis.Reader(replyError=ResponseError)


def _next_reply(parser: Any, pushes: bool = False) -> Any:
    """The next complete reply held by ``parser``, False if none yet; RESP3 pushes are
    skipped (none is asked for on command connections) unless ``pushes`` (a subscriber's
    messages are pushes). Bytes that are not RESP raise redis-py's ``ConnectionError``: the
    connection is unusable."""
    try:
        reply = parser.gets()
        while type(reply) is _PUSH and not pushes:
            reply = parser.gets()
    except _hiredis.HiredisError as exc:
        raise RedisConnectionError(f"unreadable reply from Redis: {exc}") from None
    return reply


class _RawReader:
    """Replies read straight from a redis-py connection's stream with a hiredis parser of
    this object's own, where redis-py itself parses with hiredis
    (:func:`_parses_with_hiredis`) and the connection is built on asyncio streams, as in
    redis-py 5 to 8; elsewhere redis-py reads them."""

    def __init__(self) -> None:
        self._stream: asyncio.StreamReader | None = None
        self._parser: Any = None

    def _source(self, connection: AbstractConnection) -> tuple[asyncio.StreamReader, Any] | None:
        """The connection's stream and this object's parser for it; None where redis-py is
        to read the replies."""
        stream = getattr(connection, "_reader", None)
        if not isinstance(stream, asyncio.StreamReader) or not _parses_with_hiredis(connection):
            return None
        if stream is not self._stream:  # new after each reconnection
            self._stream = stream
            self._parser = _new_parser()
        return stream, self._parser

    @staticmethod
    async def _feed(stream: asyncio.StreamReader, parser: Any) -> None:
        """Hand the parser what the socket has next (waiting for it)."""
        data = await stream.read(_READ_SIZE)
        if not data:
            raise RedisConnectionError("Redis closed the connection")
        parser.feed(data)


class _Replies(_RawReader):
    """Packed commands written and replies read on one redis-py connection, as Redis sent
    them (no reply callback).

    Replies are read raw (:class:`_RawReader`): redis-py's read path (its timeout and push
    handling, four coroutine frames) would run between a stream entry's arrival and its
    first delivery. A command is written at once when the connection is open, so that an
    emit's XADD is on the wire before anything else (a timer for its reply, say) is set up.
    Where redis-py reads the replies, it sends the commands too.
    """

    @staticmethod
    def write_now(connection: AbstractConnection, command: bytes) -> bool:
        """Write ``command`` if the connection is open; False if it was not written."""
        writer = getattr(connection, "_writer", None)
        if not isinstance(writer, asyncio.StreamWriter) or not _parses_with_hiredis(connection):
            return False
        if not connection.is_connected or writer.is_closing():
            return False
        writer.write(command)
        return True

    @staticmethod
    async def send(connection: AbstractConnection, command: bytes, written: bool) -> None:
        """Finish sending ``command``: wait for room in the socket's buffer if it was
        written (:meth:`write_now`), else connect if need be and send it through redis-py."""
        if not written:
            await connection.send_packed_command(command, check_health=False)
            return
        writer = connection._writer
        if writer is not None:  # else the connection was lost: reading the reply says so
            await writer.drain()

    async def read(self, connection: AbstractConnection) -> Any:
        """The next reply; an error reply is raised as redis-py's ``ResponseError``."""
        source = self._source(connection)
        if source is None:
            return await connection.read_response()
        stream, parser = source
        reply = _next_reply(parser)
        while reply is False:
            await self._feed(stream, parser)
            reply = _next_reply(parser)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def exchange(self, connection: AbstractConnection, command: bytes) -> Any:
        """Send one command and read its reply."""
        await self.send(connection, command, self.write_now(connection, command))
        return await self.read(connection)


class _Pushes(_RawReader):
    """What Redis sends a subscriber connection, read raw (:class:`_RawReader`): every reply
    one read of the socket completes, parsed in one go. redis-py's ``get_message`` runs
    about ten Python calls per message (its retry, timeout and push layers), which a
    broadcast with acknowledgements pays once per acknowledgement."""

    async def read(self, connection: AbstractConnection) -> list[Any] | None:
        """The next replies, at least one (pub/sub messages as Redis sends them, as lists:
        ``[b"message", channel, data]``; error replies are left out); None where redis-py
        is to read them instead."""
        source = self._source(connection)
        if source is None:
            return None
        stream, parser = source
        replies: list[Any] = []
        while True:
            reply = _next_reply(parser, pushes=True)
            if reply is False:
                if replies:
                    return replies
                await self._feed(stream, parser)
            elif isinstance(reply, ResponseError):
                # a subscription Redis refused: its waiter times out and says so
                logger.warning("Redis refused a pub/sub command: %s", reply)
            elif isinstance(reply, list):
                replies.append(reply)


class _ReplyProtocol(asyncio.Protocol):
    """Takes a reader connection's socket over from redis-py's stream protocol once it is
    connected: replies are parsed with hiredis as their bytes arrive, and each is handed to
    ``on_reply`` at once, in ``data_received``. A stream entry is thus delivered before the
    reader's task is even woken, without the stream buffer, the task's wake-up and the
    coroutine frames between them. What ``on_reply`` returns (the rest of its work, if a
    handler had to wait) is the outcome the reader awaits (:meth:`expect`).

    redis-py's protocol is still told when the connection is lost, so that redis-py's own
    disconnect and close waits work as before.
    """

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        previous: asyncio.BaseProtocol,
        on_reply: Callable[[Any], Any],
    ) -> None:
        self.transport = transport
        self._previous = previous
        self._on_reply = on_reply
        self._parser = _new_parser()
        self._outcome: asyncio.Future[Any] | None = None

    def expect(self) -> asyncio.Future[Any]:
        """The outcome of the next reply (set it up before sending its command)."""
        self._outcome = asyncio.get_running_loop().create_future()
        return self._outcome

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while True:
            try:
                reply = _next_reply(self._parser)
            except RedisConnectionError as exc:
                self._settle(exc)
                self.transport.close()
                return
            if reply is False:
                return
            if isinstance(reply, ResponseError):
                self._settle(reply)
                continue
            outcome = self._outcome
            if outcome is None or outcome.done():
                # no command waits for it (its reader gave up): the connection is unusable
                self.transport.close()
                return
            self._outcome = None
            # the collector waits until the reply's entries are delivered: a collection
            # that falls in front of the first client's frame would delay it
            collecting = gc.isenabled()
            if collecting:
                gc.disable()
            try:
                outcome.set_result(self._on_reply(reply))
            except Exception as exc:  # the reader raises it where it awaits the outcome
                outcome.set_exception(exc)
            finally:
                if collecting:
                    gc.enable()

    def _settle(self, error: BaseException) -> None:
        outcome, self._outcome = self._outcome, None
        if outcome is not None and not outcome.done():
            outcome.set_exception(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))
        self._previous.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def pause_writing(self) -> None:
        self._previous.pause_writing()

    def resume_writing(self) -> None:
        self._previous.resume_writing()

    @classmethod
    async def take_over(
        cls, connection: AbstractConnection, on_reply: Callable[[Any], Any]
    ) -> _ReplyProtocol | None:
        """The connection's reply protocol, connecting and taking it over if need be; None
        where it cannot be done (redis-py not parsing with hiredis, a connection it does
        not build on asyncio streams): the reader then uses :class:`_Replies`."""
        if not _parses_with_hiredis(connection):
            return None
        writer = getattr(connection, "_writer", None)
        if isinstance(writer, asyncio.StreamWriter) and writer.transport.is_closing():
            # lost between two reads, which redis-py cannot have noticed: start afresh
            await connection.disconnect()
        if not connection.is_connected:
            await connection.connect()  # type: ignore[no-untyped-call]
        writer = getattr(connection, "_writer", None)
        if not isinstance(writer, asyncio.StreamWriter):
            return None
        transport = writer.transport
        current = transport.get_protocol()
        if isinstance(current, cls):
            return current
        # uvloop's transports have the interface without deriving from asyncio's classes
        if not isinstance(current, asyncio.StreamReaderProtocol) or not callable(
            getattr(transport, "set_protocol", None)
        ):
            return None
        taken = cls(transport, current, on_reply)
        transport.set_protocol(taken)
        return taken


def _pairs(flat: Any) -> dict[Any, Any]:
    """A stream entry's fields, ``[name, value, name, value, ...]`` on the wire, as a map
    (a later duplicate name wins, as in redis-py's reply callback)."""
    if isinstance(flat, dict):
        return flat
    values = iter(flat or ())
    return dict(zip(values, values, strict=False))


async def _as_received(message: Any) -> Any:
    """What redis-py hands each pub/sub message to (it returns what this returns). Its own
    handler builds a debug log line of the whole message whatever the log level: about
    10 ms for a 4 MB ``fetch_sockets`` answer, on the asking node's critical path."""
    return message


def _push_handler(client: Redis) -> Callable[[Any], Awaitable[Any]] | None:
    """The pub/sub push handler for ``client``'s connections: :func:`_as_received` where
    their parser takes one (hiredis, RESP3), else None (redis-py's RESP2 parser has no
    pushes, and its pub/sub fails if given a handler)."""
    parser_class = client.connection_pool.connection_kwargs.get("parser_class")
    if parser_class is None or hasattr(parser_class, "set_pubsub_push_handler"):
        return _as_received
    return None


def _duplicate(client: Redis) -> Redis:
    """A client on its own pool with the same server and credentials as ``client``.

    Readers block for seconds and must see raw bytes, whatever the user's client does;
    they retry nothing themselves because the read loops reconnect with backoff. Their
    reads have no socket timeout: the XREAD loop bounds each read itself, and redis-py's
    per-read timeout was seen to swallow the cancellation of a blocked read.
    """
    pool = client.connection_pool
    kwargs = _pool_kwargs(pool)
    kwargs.update(
        decode_responses=False,
        socket_timeout=None,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        retry_on_error=[],
    )
    kwargs.pop("max_connections", None)
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))


# ---------------------------------------------------------------------------- transport


class RedisStreamsTransport(Transport, SessionStore):
    """One node's (or an emitter's) link to Redis, framed as the Node Streams adapter 0.3.

    Options (Node names in snake_case; Node defaults):

    - ``redis``: a ``redis.asyncio.Redis`` client used to publish (the caller keeps owning
      it; its retry policy applies to publishing), or ``url`` (default
      ``redis://localhost:6379/0``) to let the transport make and own one that retries once,
      so that a publish while Redis is down fails fast with :class:`TransportError`.
      Readers use their own connections to the same server.
    - ``stream_name`` (``"socket.io"``) and ``stream_count`` (1): with several streams a
      namespace goes to ``<stream_name>-<i>``; every node reads them all.
    - ``channel_prefix`` (``"socket.io"``): pub/sub channels ``<prefix>#<nsp>#`` and
      ``<prefix>#<nsp>#<uid>#``.
    - ``max_len`` (10000): approximate stream length cap (``XADD MAXLEN ~``).
    - ``read_count`` (100) and ``block_time`` (5.0 seconds; Node's ``blockTimeInMs`` 5000):
      ``XREAD COUNT`` and ``BLOCK``.
    - ``session_key_prefix`` (``"sio:session:"``): the keys of the sessions kept for
      connection state recovery (:mod:`.sessions`), shared with Node servers.
    - ``limits``: bounds for decoding untrusted messages; also the largest message this
      transport publishes (:class:`PayloadTooLarge` beyond it, since receivers drop it).
    """

    membership: ClassVar[MembershipKind] = "broker"
    broker: ClassVar[str] = "redis-streams"

    def __init__(
        self,
        *,
        redis: Redis | None = None,
        url: str | None = None,
        stream_name: str = "socket.io",
        stream_count: int = 1,
        channel_prefix: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        block_time: float = 5.0,
        session_key_prefix: str = "sio:session:",
        limits: Limits | None = None,
    ) -> None:
        if redis is not None and url is not None:
            raise ValueError("pass either a Redis client or a URL, not both")
        if stream_count < 1:
            raise ValueError("stream_count must be at least 1")
        if block_time <= 0 or read_count < 1 or max_len < 1:
            raise ValueError("block_time, read_count and max_len must be positive")
        self._url = url or DEFAULT_URL
        self._redis = redis
        self._owns_redis = redis is None
        self.stream_name = stream_name
        self.stream_count = stream_count
        self.channel_prefix = channel_prefix
        self.max_len = max_len
        self.read_count = read_count
        self.block_time = block_time
        self.session_key_prefix = session_key_prefix
        self.limits = limits or protocol.DEFAULT_LIMITS
        self.max_message_size = self.limits.max_message_size

        self._uid = ""
        self._uid_bytes = b""
        self._inbox: Inbox | None = None
        self._namespaces: set[str] = set()
        self._reader: Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last_ids: dict[str, str] = {}
        self._subscriptions: dict[bytes, asyncio.Future[None]] = {}
        self._link = LinkState("Redis", owner="emitter", log=logger)
        self._reader_links: set[str] = set()
        # commands waiting for the writer, in publish order, packed as Redis reads them
        self._outbox: list[_Command] = []
        # the task sending the outbox, or a future while publish() sends from its caller
        self._writer: asyncio.Future[None] | None = None
        self._writer_replies = _Replies()
        self._streams: dict[str, str] = {}  # namespace -> its stream (stream_for)
        # the writer's own connection: one writer at a time sends on it, in order
        self._connection: AbstractConnection | None = None
        self._command_timeout = _COMMAND_TIMEOUT
        # the packed start of an XADD, per stream and number of fields
        self._xadd_heads: dict[tuple[str, int], bytes] = {}
        self._counts: Counter[str] = Counter()
        self._opened = False
        self._started = False
        self._reading = False
        self._closed = False

    # ------------------------------------------------------------------ naming

    def stream_for(self, namespace: str) -> str:
        """The stream carrying ``namespace``'s messages."""
        stream = self._streams.get(namespace)
        if stream is None:
            stream = stream_for_namespace(namespace, self.stream_name, self.stream_count)
            if len(self._streams) < _MAX_CACHED_STREAM_NAMES:
                self._streams[namespace] = stream
        return stream

    def public_channel(self, namespace: str) -> str:
        """The channel requests for ``namespace`` are published on."""
        return public_channel(self.channel_prefix, namespace)

    def response_channel(self, namespace: str, uid: str) -> str:
        """The channel responses to node ``uid`` are published on."""
        return response_channel(self.channel_prefix, namespace, uid)

    @property
    def last_entry_ids(self) -> dict[str, str]:
        """The last entry id read from each stream (where reading resumes)."""
        return dict(self._last_ids)

    @property
    def connected(self) -> bool:
        """Whether the last publish and every reader succeeded in reaching Redis."""
        return self._link.connected

    @property
    def stats(self) -> dict[str, int]:
        """``xadd`` (entries added), ``publish`` (requests and responses), ``round_trips``
        (commands or pipelines that sent them), ``own``
        (own entries skipped unread), ``delivered`` and ``rejected`` (received messages)."""
        counts = Counter(self._counts)
        if self._inbox is not None:
            counts.update(self._inbox.stats)
        return dict(counts)

    # ------------------------------------------------------------------ lifecycle

    async def open_publisher(self) -> None:
        if self._redis is None:
            # one quick retry covers a connection that died while idle; more would
            # only delay the error while Redis is down
            self._redis = Redis.from_url(
                self._url, retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)
            )
            self._owns_redis = True
        if not self._opened:
            # reachable until a command fails, as a client that has not tried yet
            self._opened = True
            self._link.ok("commands")

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise RuntimeError("transport already started")
        if self._closed:
            raise TransportError("the Redis transport is closed")
        self._link.owner = f"node {uid}"
        await self.open_publisher()
        assert self._redis is not None
        self._uid = uid
        self._uid_bytes = uid.encode()
        self._inbox = Inbox(self.broker, on_message, uid=uid)
        self._started = self._reading = True
        self._reader = _duplicate(self._redis)
        self._pubsub = self._reader.pubsub(push_handler_func=_push_handler(self._reader))
        streams = [self.stream_name]
        if self.stream_count > 1:
            streams = [f"{self.stream_name}-{i}" for i in range(self.stream_count)]
        streams += [self.stream_for(nsp) for nsp in sorted(self._namespaces)]
        try:
            for stream in dict.fromkeys(streams):
                await self._follow(stream)
            for namespace in sorted(self._namespaces):
                await self._subscribe(namespace)
        except BaseException as exc:
            # leave the transport as it was, so that the node can try again
            await self._stop_reading()
            self._started = False
            if isinstance(exc, TransportError):
                self._link.failed("commands", exc)
            raise
        self._link.ok("commands")
        logger.debug("node %s reading %s", uid, ", ".join(self._tasks))

    async def add_namespace(self, namespace: str) -> None:
        if namespace in self._namespaces:
            return
        self._namespaces.add(namespace)
        if not self._reading:
            return  # start() takes care of it
        stream = self.stream_for(namespace)
        if stream not in self._tasks:
            await self._follow(stream)
        await self._subscribe(namespace)

    async def remove_namespace(self, namespace: str) -> None:
        """Unsubscribe the namespace's channels: NUMSUB no longer counts this node for it."""
        self._namespaces.discard(namespace)
        if self._pubsub is None or not self._reading:
            return
        channels = [self.public_channel(namespace), self.response_channel(namespace, self._uid)]
        try:
            await self._pubsub.unsubscribe(*channels)
        except (RedisError, OSError) as exc:
            raise TransportError(f"cannot unsubscribe from {channels}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        if self._writer is not None:
            # what was queued before close() is sent, as it would have been when awaited
            await asyncio.wait([self._writer], timeout=_STOP_TIMEOUT)
        self._closed = True
        self._link.close()
        await self._stop_reading()
        if self._connection is not None:
            await self._connection.disconnect()
            self._connection = None
        if self._owns_redis and self._redis is not None:
            await self._redis.aclose()

    async def _stop_reading(self) -> None:
        self._reading = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)
            if pending and self._reader is not None:
                # a read that ignored its cancellation ends when its socket closes
                await self._reader.connection_pool.disconnect()
                _, pending = await asyncio.wait(pending, timeout=_STOP_TIMEOUT)
            if pending:
                logger.warning("%d Redis reader(s) did not stop", len(pending))
        for future in self._subscriptions.values():
            future.cancel()
        # closing the subscriber connection unsubscribes: NUMSUB drops this node at once
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._reader is not None:
            await self._reader.connection_pool.aclose()
            await self._reader.aclose()
        self._tasks.clear()
        self._subscriptions.clear()
        self._last_ids.clear()
        for link in self._reader_links:
            self._link.forget(link)
        self._reader_links.clear()
        self._reader = self._pubsub = None

    # ------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        if self._writer is not None or self._outbox:
            return await self.publish_soon(message)
        # Nothing is queued or on its way: send from the caller's task. A writer task would
        # start one event-loop iteration later, and on an otherwise idle node that iteration
        # is a measurable part of a delivery's latency. Whatever is queued meanwhile waits
        # behind this command, as it would behind a writer's batch.
        loop = asyncio.get_running_loop()
        result: asyncio.Future[str | None] = loop.create_future()
        command = self._command(message, result)
        # on the wire before anything else is set up: that is the emit's latency
        try:
            written = self._writer_replies.write_now(self._writer_connection(), command[2])
        except (TransportError, OSError):
            written = False  # sending it again says what is wrong, where it is counted
        sending = self._writer = loop.create_future()  # close() waits for it too
        try:
            await self._send_batch([command], written)
        finally:
            sending.set_result(None)
            self._writer = None
            if self._outbox:
                self._writer = asyncio.ensure_future(self._write())
        return result.result()

    def publish_soon(self, message: ClusterMessage) -> asyncio.Future[str | None]:
        """Queue ``message`` behind every message queued before it.

        Commands queued in the same loop turn, or while the previous batch is on its way,
        go to Redis in one pipeline (one round trip); a single writer sends the batches one
        after the other, so stream entries keep their publish order in the stream, and
        requests (PUBLISH) keep theirs relative to entries too.
        """
        result: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._queue(self._command(message, result))
        return result

    def _command(self, message: ClusterMessage, outcome: _Outcome) -> _Command:
        """The command that sends ``message``: an XADD of its stream entry's fields, or a
        PUBLISH of its payload (ephemeral messages), packed at once (bytes are all the
        outbox keeps of it until it is sent)."""
        if message.uid != protocol.EMITTER_UID and is_ephemeral(message):
            return self._publish_command(self.public_channel(message.nsp), message, outcome)
        fields = entry_fields(message)
        key = self.stream_for(message.nsp)
        head = self._xadd_heads.get((key, len(fields)))
        if head is None:
            head = self._xadd_heads[key, len(fields)] = _resp_head(
                6 + 2 * len(fields), b"XADD", key, b"MAXLEN", b"~", str(self.max_len), b"*"
            )
        parts = [head]
        size = 0
        for name, value in fields.items():
            data = value.encode()
            size += len(name) + len(data)
            parts.append(_FIELD_NAMES.get(name) or _bulk(name))
            parts.append(b"$%d\r\n" % len(data))
            parts.append(data)
            parts.append(b"\r\n")
        if size > self.limits.max_message_size:
            self._check_size(size)
        return key, False, b"".join(parts), outcome

    def _publish_command(
        self, channel: str, message: ClusterMessage, outcome: _Outcome
    ) -> _Command:
        """A PUBLISH of ``message``'s msgpack envelope to ``channel`` (requests, responses)."""
        payload = protocol.encode(message)
        self._check_size(len(payload))
        return channel, True, _publish_resp(channel, payload), outcome

    def _queue(self, command: _Command) -> None:
        self._publisher()
        self._outbox.append(command)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        """Send the outbox in pipelines until it is empty."""
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                await self._send_batch(batch)
        finally:
            self._writer = None

    async def _send_batch(self, batch: list[_Command], written: bool = False) -> None:
        """Send a batch and settle each command's outcome; ``written``: the batch (of one
        command) is on the wire already (:meth:`_Replies.write_now`)."""
        try:
            replies = await self._execute([command[2] for command in batch], written)
        except (RedisError, OSError, TransportError) as exc:
            self._link.failed("commands", exc)
            replies = [exc] * len(batch)
        else:
            self._counts["round_trips"] += 1
            self._link.ok("commands")
        for (key, published, _, outcome), reply in zip(batch, replies, strict=True):
            if isinstance(reply, BaseException):
                self._counts["publish_failed" if published else "xadd_failed"] += 1
                where = f"channel {key!r}" if published else f"stream {key!r}"
                error = TransportError(f"cannot publish to Redis {where}: {reply}")
                error.__cause__ = reply
                if not isinstance(outcome, asyncio.Future):
                    outcome(error)
                elif not outcome.done():  # else its caller gave up waiting
                    outcome.set_exception(error)
            else:
                self._counts["publish" if published else "xadd"] += 1
                if isinstance(outcome, asyncio.Future) and not outcome.done():
                    outcome.set_result(None if published else text(reply))

    async def _execute(self, packed: list[bytes], written: bool = False) -> list[Any]:
        """Send packed commands in one write and read their replies; errors Redis returns
        for a command come back in the list.

        On the writer's own connection rather than through redis-py's pipeline, whose
        per-command bookkeeping cost as much as the rest of a response's handling (a
        broadcast with acks answers once per client). Like redis-py with the owned client's
        retry, a connection found dead before any reply is read is replaced and the
        commands are sent once more.
        """
        connection = self._writer_connection()
        payload = packed[0] if len(packed) == 1 else b"".join(packed)
        replies: list[Any] = []
        raw = self._writer_replies

        async def exchange(written: bool) -> None:
            await raw.send(connection, payload, written)
            for _ in packed:
                try:
                    replies.append(await raw.read(connection))
                except ResponseError as exc:
                    replies.append(exc)

        for attempt in (1, 2):
            replies.clear()
            try:
                # on the wire before the bound's timer is set: that is the emit's latency
                if attempt == 2 or not written:
                    written = raw.write_now(connection, payload)
                await bounded(exchange(written), self._command_timeout)
                return replies
            except asyncio.TimeoutError:
                await connection.disconnect()
                raise TransportError(
                    f"Redis did not answer within {self._command_timeout} s"
                ) from None
            except (RedisConnectionError, OSError):
                await connection.disconnect()
                if replies or attempt == 2:
                    raise
            except BaseException:
                # cancelled or worse mid-exchange: the connection's state is unknown
                await connection.disconnect()
                raise
        raise AssertionError("unreachable")

    def _writer_connection(self) -> AbstractConnection:
        redis = self._publisher()
        if self._connection is None:
            pool = redis.connection_pool
            self._connection = pool.connection_class(**_writer_connection_kwargs(pool))
            timeout = pool.connection_kwargs.get("socket_timeout")
            self._command_timeout = float(timeout) if timeout else _COMMAND_TIMEOUT
        return self._connection

    def publish_response_soon(
        self,
        requester_uid: str,
        message: ClusterMessage,
        on_error: Callable[[BaseException], None],
    ) -> bool:
        channel = self.response_channel(message.nsp, requester_uid)
        self._queue(self._publish_command(channel, message, on_error))
        return True

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        result: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        channel = self.response_channel(message.nsp, requester_uid)
        self._queue(self._publish_command(channel, message, result))
        await result

    async def server_count(self, namespace: str) -> int:
        channel = self.public_channel(namespace)
        try:
            counts = await self._publisher().pubsub_numsub(channel)
        except (RedisError, OSError) as exc:
            raise TransportError(f"cannot count subscribers of {channel!r}: {exc}") from exc
        count = int(counts[0][1]) if counts else 0
        # this node counts itself even while its subscription is being restored
        return max(count, 1)

    def _publisher(self) -> Redis:
        if self._redis is None or self._closed:
            raise TransportError("the Redis transport is not open")
        return self._redis

    def _check_size(self, size: int) -> None:
        limit = self.limits.max_message_size
        if size > limit:
            raise PayloadTooLarge(size, limit, "receivers would drop it (Limits.max_message_size)")

    # ------------------------------------------------------------------ sessions

    async def save_session(self, namespace: str, session: Session, ttl: float) -> None:
        value = encode_session(session)
        key = self.session_key_prefix + session.pid
        try:
            await self._publisher().set(key, value, px=max(1, round(ttl * 1000)))
        except (RedisError, OSError) as exc:
            self._link.failed("commands", exc)
            raise TransportError(f"cannot store session {key!r}: {exc}") from exc

    async def take_session(self, namespace: str, pid: str, offset: str) -> Session | None:
        if not is_offset(offset):
            return None
        key = self.session_key_prefix + pid
        redis = self._publisher()
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.delete(key)
                raw, _ = await pipe.execute()
            if raw is None or not await redis.xrange(self.stream_for(namespace), offset, offset):
                return None
        except (RedisError, OSError) as exc:
            self._link.failed("commands", exc)
            raise TransportError(f"cannot take session {key!r}: {exc}") from exc
        return decode_session(raw, limits=self.limits)

    async def missed_packets(self, namespace: str, session: Session, offset: str) -> MissedPackets:
        stream = self.stream_for(namespace)
        try:
            return await replay(
                self._publisher(), stream, namespace, session, offset, limits=self.limits
            )
        except (RedisError, OSError) as exc:
            self._link.failed("commands", exc)
            raise TransportError(f"cannot read Redis stream {stream!r}: {exc}") from exc

    # ------------------------------------------------------------------ consuming

    async def _follow(self, stream: str) -> None:
        """Start reading ``stream`` from its current end."""
        assert self._reader is not None
        try:
            # Resolving "$" to an id here, rather than in the first XREAD, means nothing
            # added after start() returns can be missed while the reader task gets going.
            last = await self._reader.xrevrange(stream, count=1)
        except (RedisError, OSError) as exc:
            raise TransportError(f"cannot read Redis stream {stream!r}: {exc}") from exc
        self._last_ids[stream] = text(last[0][0]) if last else "0-0"
        self._reader_links.add(f"stream {stream}")
        self._link.ok(f"stream {stream}")
        self._tasks[stream] = asyncio.create_task(
            self._read_stream(stream), name=f"redis-streams reader {stream}"
        )

    async def _read_stream(self, stream: str) -> None:
        assert self._reader is not None
        pool = self._reader.connection_pool
        # The reader's own connection, XREAD sent as packed bytes and the reply read raw:
        # redis-py's command path (pool, packing, reply callbacks that turn every entry into
        # a dict) costs tens of microseconds per read, and the part after the reply arrives
        # is added to every delivery.
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await self._read_loop(stream, connection, _Replies())
        finally:
            await connection.disconnect()
            await pool.release(connection)

    async def _read_loop(
        self, stream: str, connection: AbstractConnection, replies: _Replies
    ) -> None:
        link = f"stream {stream}"
        # XREAD COUNT n BLOCK ms STREAMS <stream> <id>: the id is added to each read
        head = _resp_head(
            8,
            "XREAD",
            "COUNT",
            str(self.read_count),
            "BLOCK",
            str(max(1, round(self.block_time * 1000))),
            "STREAMS",
            stream,
        )
        bound = self.block_time + _READ_TIMEOUT_MARGIN
        backoff = Backoff(_BACKOFF_FIRST, _BACKOFF_CAP)

        def on_reply(reply: Any) -> Awaitable[None] | None:
            return self._take_reply(stream, reply)

        taken: _ReplyProtocol | None = None
        while self._reading:
            command = head + _bulk(self._last_ids[stream])
            try:
                # once per connection: a lost one is closing, and a new one is taken over
                if taken is None or taken.transport.is_closing():
                    taken = await _ReplyProtocol.take_over(connection, on_reply)
                if taken is not None:
                    outcome = taken.expect()
                    taken.transport.write(command)
                    # the reply is delivered as it arrives; this only learns that it was
                    rest = await bounded(outcome, bound)
                else:
                    rest = self._take_reply(
                        stream, await bounded(replies.exchange(connection, command), bound)
                    )
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                # whatever was half read is dropped with the socket; the next send reconnects
                await connection.disconnect()
                if not self._reading:
                    return
                self._link.failed(link, exc)
                await self._back_off(link, backoff, exc)
                continue
            if rest is not None:
                await rest  # a handler had to wait: the entries after it wait too
            # after the entries: their delivery need not wait for this bookkeeping
            backoff.reset()
            self._link.ok(link)
            # a reader reaching Redis clears an earlier failed command
            self._link.ok("commands")

    def _take_reply(self, stream: str, reply: Any) -> Awaitable[None] | None:
        """Deliver the entries of an XREAD reply, in order, in the caller's frame until a
        handler has to wait; then the rest, to be awaited (:func:`runtime.start_now`)."""
        # RESP2 answers [[name, entries]], RESP3 {name: entries}; nil when BLOCK ran out
        streams = reply.items() if isinstance(reply, dict) else reply or ()
        entries = [entry for _name, listed in streams for entry in listed]
        return self._take_entries(stream, entries) if entries else None

    def _take_entries(self, stream: str, entries: list[Any]) -> Awaitable[None] | None:
        own, inbox = self._uid_bytes, self._inbox
        assert inbox is not None
        for index, (entry_id, flat) in enumerate(entries):
            offset = text(entry_id)
            self._last_ids[stream] = offset
            fields = _pairs(flat)
            # the node's own entries are most of what a sending node reads: drop them on
            # the raw uid field, before any decoding
            if fields.get(b"uid") == own:
                inbox.stats["own"] += 1
                continue
            rest = start_now(self._handle_entry(fields, offset))
            if rest is not None:
                return self._then(rest, stream, entries[index + 1 :])
        return None

    async def _then(self, rest: Awaitable[None], stream: str, entries: list[Any]) -> None:
        await rest
        later = self._take_entries(stream, entries)
        if later is not None:
            await later

    def _wanted(self, message: ClusterMessage | None) -> ClusterMessage | None:
        """Keep ``message`` only if this node should see it.

        Own entries read back are dropped by the inbox (guarantee 2 of the transport
        contract). A node must not answer a request for a namespace it does not serve: on
        Redis the requester counts the answers it waits for per namespace.
        """
        if message is None or message.nsp not in self._namespaces:
            return None
        return message

    async def _handle_entry(self, fields: Mapping[Any, Any], offset: str) -> None:
        assert self._inbox is not None
        await self._inbox.accept(
            lambda: self._wanted(message_from_entry(fields, limits=self.limits)), offset
        )

    async def _subscribe(self, namespace: str) -> None:
        """Subscribe to the namespace's two channels and wait until Redis confirms."""
        assert self._pubsub is not None
        channels = [self.public_channel(namespace), self.response_channel(namespace, self._uid)]
        loop = asyncio.get_running_loop()
        waiters = []
        for channel in channels:
            waiter = loop.create_future()
            self._subscriptions[channel.encode()] = waiter
            waiters.append(waiter)
        try:
            await self._pubsub.subscribe(*channels)
        except (RedisError, OSError) as exc:
            raise TransportError(f"cannot subscribe to {channels}: {exc}") from exc
        if "pubsub" not in self._tasks:
            self._reader_links.add("pubsub")
            self._link.ok("pubsub")
            self._tasks["pubsub"] = asyncio.create_task(
                self._listen(), name="redis-streams subscriber"
            )
        try:
            await asyncio.wait_for(asyncio.gather(*waiters), _SUBSCRIBE_TIMEOUT)
        except asyncio.TimeoutError:
            raise TransportError(f"Redis did not confirm the subscription to {channels}") from None

    async def _listen(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        pushes = _Pushes()
        backoff = Backoff(_BACKOFF_FIRST, _BACKOFF_CAP)
        while self._reading:
            connection = pubsub.connection
            try:
                if connection is not None and not connection.is_connected:
                    await pubsub.connect()  # redis-py subscribes again (its on_connect)
                replies = None if connection is None else await pushes.read(connection)
                if replies is None:
                    # after a failure this reconnects, and redis-py subscribes again
                    reply = await pubsub.get_message(timeout=None)
                    replies = [reply] if reply else []
            except (RedisError, OSError) as exc:
                if not self._reading:
                    return
                self._link.failed("pubsub", exc)
                if connection is not None and not isinstance(exc, ResponseError):
                    await connection.disconnect()  # the next round connects afresh
                await self._back_off("pubsub", backoff, exc)
                continue
            backoff.reset()
            self._link.ok("pubsub")
            for reply in replies:
                if type(reply) is not dict:  # raw, from _Pushes
                    if reply[0] == b"message":
                        # responses (a reply per client to a broadcast with acks) are
                        # handled right here, without a coroutine each
                        pending = self._accept_payload(reply[2])
                        if pending is not None:
                            await pending
                        continue
                    # redis-py keeps its book of subscriptions from these
                    reply = await pubsub.handle_message(reply)  # type: ignore[no-untyped-call]
                kind = reply.get("type")
                if kind == "subscribe":
                    waiter = self._subscriptions.pop(bytes(reply["channel"]), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                elif kind == "message":
                    pending = self._accept_payload(reply["data"])
                    if pending is not None:
                        await pending

    def _accept_payload(self, payload: Any) -> Awaitable[None] | None:
        assert self._inbox is not None
        return self._inbox.accept_now(
            lambda: self._wanted(protocol.decode(payload, limits=self.limits)), size=len(payload)
        )

    async def _back_off(self, link: str, backoff: Backoff, error: BaseException) -> None:
        delay = backoff.next_delay()
        logger.debug("%s failed (%s); retrying in %.2f s", link, error, delay)
        await asyncio.sleep(delay)
