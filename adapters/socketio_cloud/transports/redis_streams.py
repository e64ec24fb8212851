"""Redis Streams transport, wire-compatible with ``@socket.io/redis-streams-adapter`` 0.3.x.

Framing, as the Node adapter does it:

- BROADCAST without ack, SOCKETS_JOIN, SOCKETS_LEAVE, DISCONNECT_SOCKETS and everything an
  emitter sends are stream entries (``XADD <stream> MAXLEN ~ <max_len> *``) with the string
  fields ``uid``, ``nsp``, ``type`` (decimal) and, when the message has data, ``data``: JSON,
  or base64 of msgpack when the type may carry binary data (3, 8, 9, 10, 12) and does.
- Requests (BROADCAST with ack, SERVER_SIDE_EMIT, FETCH_SOCKETS) are PUBLISHed as msgpack of
  the whole envelope on ``<channel_prefix>#<nsp>#``; responses on
  ``<channel_prefix>#<nsp>#<requester uid>#``. A node subscribes to both channels of every
  namespace it serves on one connection, so ``PUBSUB NUMSUB`` of the public channel counts
  the nodes serving a namespace: there are no heartbeats.

The stream entry id is the message offset. Readers follow each stream with ``XREAD BLOCK``
from the entry that was last when the node started, then from the last entry they read, so
a reconnection after a Redis outage resumes exactly where reading stopped (as long as the
reader is fewer than about ``max_len`` entries behind: older entries are trimmed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError

from .. import protocol
from ..cluster import BrokerManager
from ..emitter import Emitter
from ..exceptions import DecodeError, PayloadTooLarge, TransportError
from ..protocol import ClusterMessage, Limits, MessageType
from ..runtime import log_rejected
from ..transport import MembershipKind, MessageHandler, Transport

__all__ = [
    "RedisStreamsEmitter",
    "RedisStreamsManager",
    "RedisStreamsTransport",
    "entry_fields",
    "message_from_entry",
    "stream_for_namespace",
]

logger = logging.getLogger("socketio_cloud.transports.redis_streams")

DEFAULT_URL = "redis://localhost:6379/0"

# Messages Node sends with PUBLISH instead of XADD (``isEphemeral`` in the Node adapter):
# requests whose answers only matter to nodes alive right now.
_EPHEMERAL_TYPES = frozenset({MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS})

# Version 0.3 of the protocol has no heartbeats: membership is PUBSUB NUMSUB.
_HEARTBEAT_TYPES = frozenset(
    {MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT, MessageType.ADAPTER_CLOSE}
)

# How long a subscription may take to be confirmed by Redis.
_SUBSCRIBE_TIMEOUT = 10.0
# An XREAD still unanswered this long after its BLOCK ended is on a dead connection.
_READ_TIMEOUT_MARGIN = 10.0
# How long close() lets the readers stop before it cuts their connections.
_STOP_TIMEOUT = 2.0
# Reconnection delays: doubled from the first to the cap, with jitter.
_BACKOFF_FIRST = 0.1
_BACKOFF_CAP = 2.0


# ---------------------------------------------------------------------------- framing


def _js_hash(text: str) -> int:
    """Node's ``hashCode``: times 31 plus each UTF-16 code unit, wrapped to a signed int32."""
    units = text.encode("utf-16-le")
    value = 0
    for i in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def stream_for_namespace(namespace: str, stream_name: str, stream_count: int) -> str:
    """The stream that carries ``namespace``: ``stream_name``, or ``<stream_name>-<i>`` with
    ``i = hash(namespace) % stream_count`` when there are several streams.

    The remainder keeps the sign of the hash, as in JavaScript, so a namespace with a
    negative hash maps to a stream like ``socket.io--1`` that Node nodes never read.
    Python nodes read it too, to stay compatible with whatever Node writes.
    """
    if stream_count == 1:
        return stream_name
    value = _js_hash(namespace)
    index = abs(value) % stream_count
    return f"{stream_name}-{-index if value < 0 else index}"


def entry_fields(message: ClusterMessage) -> dict[str, str]:
    """The stream entry fields of a message, exactly as Node writes them."""
    fields = {"uid": message.uid, "nsp": message.nsp, "type": str(int(message.type))}
    if message.data is not None:
        if message.type in protocol.BINARY_CAPABLE_TYPES and protocol.has_binary(message.data):
            packed = protocol.encode_data(message.data)
            fields["data"] = base64.b64encode(packed).decode("ascii")
        else:
            # JSON.stringify: compact, non-ASCII characters kept as they are
            fields["data"] = json.dumps(message.data, separators=(",", ":"), ensure_ascii=False)
    return fields


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("stream field is not UTF-8") from None
    if isinstance(value, str):
        return value
    raise DecodeError(f"unexpected stream field of type {type(value).__name__}")


def message_from_entry(
    fields: Mapping[Any, Any], *, limits: Limits = protocol.DEFAULT_LIMITS
) -> ClusterMessage | None:
    """Decode a stream entry; None for entries without ``nsp`` (Node skips those too).

    Raises :class:`DecodeError` for malformed entries.
    """
    values = {_text(key): value for key, value in fields.items()}
    nsp = _text(values["nsp"]) if "nsp" in values else ""
    if not nsp:
        return None
    raw = _text(values["data"]) if "data" in values else ""
    if len(raw) > limits.max_message_size:
        raise DecodeError(f"data of {len(raw)} bytes exceeds {limits.max_message_size}")
    data: Any = None
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"invalid JSON data: {exc}") from None
    elif raw:
        try:
            packed = base64.b64decode(raw)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"invalid base64 data: {exc}") from None
        data = protocol.decode_data(packed, limits=limits)
    uid = _text(values["uid"]) if "uid" in values else None
    type_ = _text(values["type"]) if "type" in values else None
    return protocol.validate_parts(type_, uid, nsp, data, limits=limits)


_POOL_STATE_PREFIXES = ("maint_notifications", "orig_", "himport_registry")


def _duplicate(client: Redis) -> Redis:
    """A client on its own pool with the same server and credentials as ``client``.

    Readers block for seconds and must see raw bytes, whatever the user's client does;
    they retry nothing themselves because the read loops reconnect with backoff. Their
    reads have no socket timeout: the XREAD loop bounds each read itself, and redis-py's
    per-read timeout was seen to swallow the cancellation of a blocked read.
    """
    pool = client.connection_pool
    # leave out the state redis-py keeps per pool (maintenance notifications and the like)
    kwargs = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if not key.startswith(_POOL_STATE_PREFIXES)
    }
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


def _backoff_delay(failures: int) -> float:
    delay: float = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** min(failures, 16))
    return delay * random.uniform(0.5, 1.0)


# ---------------------------------------------------------------------------- transport


class RedisStreamsTransport(Transport):
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
    - ``session_key_prefix`` (``"sio:session:"``): accepted for configuration parity only.
      Node uses it for connection state recovery; python-socketio has no connection state
      recovery, so sessions are neither stored nor restored, and Node clients reconnecting
      to a Python node start a new session.
    - ``limits``: bounds for decoding untrusted messages; also the largest message this
      transport publishes (:class:`PayloadTooLarge` beyond it, since receivers drop it).
    """

    membership: ClassVar[MembershipKind] = "broker"

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
        self._on_message: MessageHandler | None = None
        self._namespaces: set[str] = set()
        self._reader: Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last_ids: dict[str, str] = {}
        self._subscriptions: dict[bytes, asyncio.Future[None]] = {}
        self._links: dict[str, bool] = {}
        self._connected = False
        self._started = False
        self._reading = False
        self._closed = False

    # ------------------------------------------------------------------ naming

    def stream_for(self, namespace: str) -> str:
        """The stream carrying ``namespace``'s messages."""
        return stream_for_namespace(namespace, self.stream_name, self.stream_count)

    def public_channel(self, namespace: str) -> str:
        """The channel requests for ``namespace`` are published on."""
        return f"{self.channel_prefix}#{namespace}#"

    def response_channel(self, namespace: str, uid: str) -> str:
        """The channel responses to node ``uid`` are published on."""
        return f"{self.channel_prefix}#{namespace}#{uid}#"

    @property
    def last_entry_ids(self) -> dict[str, str]:
        """The last entry id read from each stream (where reading resumes)."""
        return dict(self._last_ids)

    @property
    def connected(self) -> bool:
        """Whether the last publish and every reader succeeded in reaching Redis."""
        return self._connected and not self._closed

    # ------------------------------------------------------------------ lifecycle

    async def open_publisher(self) -> None:
        if self._redis is None:
            # one quick retry covers a connection that died while idle; more would
            # only delay the error while Redis is down
            self._redis = Redis.from_url(
                self._url, retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)
            )
            self._owns_redis = True
        if not self._links:
            self._connected = True

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise RuntimeError("transport already started")
        if self._closed:
            raise TransportError("the Redis transport is closed")
        await self.open_publisher()
        assert self._redis is not None
        self._uid = uid
        self._on_message = on_message
        self._started = self._reading = True
        self._reader = _duplicate(self._redis)
        self._pubsub = self._reader.pubsub()
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
                self._set_link("commands", False, exc)
            raise
        self._set_link("commands", True)
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

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._stop_reading()
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
        self._links = {link: ok for link, ok in self._links.items() if link == "commands"}
        self._reader = self._pubsub = None

    # ------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        if message.type in _HEARTBEAT_TYPES:
            return None  # membership comes from PUBSUB NUMSUB; Node sends none of these
        if message.uid != protocol.EMITTER_UID and _is_ephemeral(message):
            await self._publish_packed(self.public_channel(message.nsp), message)
            return None
        fields = entry_fields(message)
        size = sum(len(key) + len(value.encode()) for key, value in fields.items())
        self._check_size(size)
        stream = self.stream_for(message.nsp)
        redis = self._publisher()
        try:
            entry_id = await redis.xadd(
                stream,
                dict(fields),  # type: ignore[arg-type]  # redis-py's dict type is invariant
                maxlen=self.max_len,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            self._set_link("commands", False, exc)
            raise TransportError(f"cannot add to Redis stream {stream!r}: {exc}") from exc
        self._set_link("commands", True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        await self._publish_packed(self.response_channel(message.nsp, requester_uid), message)

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

    async def _publish_packed(self, channel: str, message: ClusterMessage) -> None:
        payload = protocol.encode(message)
        self._check_size(len(payload))
        redis = self._publisher()
        try:
            await redis.publish(channel, payload)
        except (RedisError, OSError) as exc:
            self._set_link("commands", False, exc)
            raise TransportError(f"cannot publish to Redis channel {channel!r}: {exc}") from exc
        self._set_link("commands", True)

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
        self._last_ids[stream] = _text(last[0][0]) if last else "0-0"
        self._links[f"stream {stream}"] = True
        self._tasks[stream] = asyncio.create_task(
            self._read_stream(stream), name=f"redis-streams reader {stream}"
        )

    async def _read_stream(self, stream: str) -> None:
        assert self._reader is not None
        link = f"stream {stream}"
        block_ms = max(1, round(self.block_time * 1000))
        failures = 0
        while self._reading:
            try:
                reply: Any = await asyncio.wait_for(
                    self._reader.xread(
                        {stream: self._last_ids[stream]}, count=self.read_count, block=block_ms
                    ),
                    self.block_time + _READ_TIMEOUT_MARGIN,
                )
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                if not self._reading:
                    return
                self._set_link(link, False, exc)
                await self._back_off(link, failures, exc)
                failures += 1
                continue
            failures = 0
            self._set_link(link, True)
            # a reader reaching Redis clears an earlier failed command
            self._set_link("commands", True)
            # RESP2 answers [[name, entries]], RESP3 {name: entries}
            streams = reply.items() if isinstance(reply, dict) else reply or ()
            for _name, entries in streams:
                for entry_id, fields in entries:
                    offset = _text(entry_id)
                    self._last_ids[stream] = offset
                    await self._handle_entry(fields, offset)

    async def _handle_entry(self, fields: Mapping[Any, Any], offset: str) -> None:
        try:
            message = message_from_entry(fields, limits=self.limits)
        except DecodeError as exc:
            log_rejected("redis-streams", exc)
            return
        if message is not None:
            await self._deliver(message, offset)

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
            self._links["pubsub"] = True
            self._tasks["pubsub"] = asyncio.create_task(
                self._listen(), name="redis-streams subscriber"
            )
        try:
            await asyncio.wait_for(asyncio.gather(*waiters), _SUBSCRIBE_TIMEOUT)
        except asyncio.TimeoutError:
            raise TransportError(f"Redis did not confirm the subscription to {channels}") from None

    async def _listen(self) -> None:
        assert self._pubsub is not None
        failures = 0
        while self._reading:
            try:
                # after a failure this reconnects, and redis-py subscribes again
                reply = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                if not self._reading:
                    return
                self._set_link("pubsub", False, exc)
                await self._back_off("pubsub", failures, exc)
                failures += 1
                continue
            failures = 0
            self._set_link("pubsub", True)
            if not reply:
                continue
            kind = reply.get("type")
            if kind == "subscribe":
                waiter = self._subscriptions.pop(bytes(reply["channel"]), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif kind == "message":
                await self._handle_payload(reply["data"])

    async def _handle_payload(self, payload: Any) -> None:
        try:
            message = protocol.decode(payload, limits=self.limits)
        except DecodeError as exc:
            log_rejected("redis-streams", exc)
            return
        await self._deliver(message, None)

    async def _deliver(self, message: ClusterMessage, offset: str | None) -> None:
        # Node reads its own entries back and drops them; so do we, before the core
        if message.uid == self._uid or message.nsp not in self._namespaces:
            return
        assert self._on_message is not None
        try:
            await self._on_message(message, offset)
        except Exception:
            logger.exception("handling a %s message from %s failed", message.type.name, message.uid)

    async def _back_off(self, link: str, failures: int, error: BaseException) -> None:
        delay = _backoff_delay(failures)
        logger.debug("%s failed (%s); retrying in %.2f s", link, error, delay)
        await asyncio.sleep(delay)

    def _set_link(self, link: str, ok: bool, error: BaseException | None = None) -> None:
        """Record the state of one connection; log when the overall state changes."""
        self._links[link] = ok
        connected = all(self._links.values())
        if connected == self._connected or self._closed:
            return
        self._connected = connected
        who = f"node {self._uid}" if self._uid else "emitter"
        if connected:
            logger.info("%s: Redis is reachable again", who)
        else:
            logger.warning("%s: lost the connection to Redis (%s: %s)", who, link, error)


def _is_ephemeral(message: ClusterMessage) -> bool:
    """Whether Node sends this message with PUBLISH (requests) rather than XADD."""
    if message.type == MessageType.BROADCAST:
        return message.request_id is not None
    return message.type in _EPHEMERAL_TYPES


# ---------------------------------------------------------------------------- public faces


class RedisStreamsManager(BrokerManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` on Redis Streams, able to share a
    cluster with Node servers using ``@socket.io/redis-streams-adapter`` 0.3.x.

    >>> mgr = RedisStreamsManager(url="redis://localhost:6379/0")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    Takes the options of :class:`RedisStreamsTransport` (``redis`` or ``url``,
    ``stream_name``, ``stream_count``, ``channel_prefix``, ``max_len``, ``read_count``,
    ``block_time``, ``session_key_prefix``) and the cluster options of
    :class:`~socketio_cloud.cluster.ClusterManager`. There are no heartbeats on this broker:
    ``server_count()`` is the number of subscribers of the namespace's request channel, and
    requests wait for that many answers minus one. Connection state recovery (Node's
    sessions) is not available: python-socketio does not implement it.
    """

    transport: RedisStreamsTransport

    transport_class = RedisStreamsTransport


class RedisStreamsEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` that adds entries to the cluster's streams,
    as ``@socket.io/redis-streams-emitter`` does; Node and Python servers receive them alike.

    >>> emitter = RedisStreamsEmitter(url="redis://localhost:6379/0")
    >>> await emitter.to("room1").emit("hello", "world")

    Unlike Node's emitter, which always writes to ``stream_name``, it honours
    ``stream_count`` so that its messages reach servers that use several streams.
    """

    transport: RedisStreamsTransport

    def __init__(self, *, namespace: str = "/", **options: Any) -> None:
        """Takes the options of :class:`RedisStreamsTransport` (those about publishing)."""
        super().__init__(RedisStreamsTransport(**options), namespace=namespace)
