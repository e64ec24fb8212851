"""PostgreSQL transport (``LISTEN``/``NOTIFY``), wire-compatible with
``@socket.io/postgres-adapter`` 0.5 and ``@socket.io/postgres-emitter`` 0.1.

Each node holds one connection of its pool for listening (as Node does): ``LISTEN`` on
``<channel_prefix>#<nsp>`` for every namespace it serves. It publishes with
``SELECT pg_notify(channel, json)`` through the pool; messages with binary data or of
``payload_threshold`` bytes and more go through the attachments table (framing in
:mod:`.postgres_framing`). Membership is by heartbeats, as in Node.

NOTIFY keeps nothing: what is published while a node's listening connection is down is lost
for that node. The listener notices a lost connection at once (or within
``probe_interval`` for a silent network failure), reconnects with backoff and listens again
on every channel; ``stats["listen_outages"]`` counts those windows.

Old attachment rows are deleted every ``cleanup_interval`` by one node of the cluster only:
the node holding a session-level advisory lock on its listening connection (Node's adapter
has every node run the ``DELETE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from .. import protocol
from ..brokers import postgres as facts
from ..cluster import ClusterManager
from ..emitter import Emitter
from ..exceptions import DecodeError, TransportError
from ..offload import Offload
from ..protocol import DEFAULT_LIMITS, ClusterMessage, Limits
from ..runtime import Backoff, Inbox, LinkState, log_rejected
from ..tasks import TaskSet
from ..transport import MessageHandler, Transport
from . import postgres_framing as framing

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy
    from typing_extensions import Unpack

    from ..cluster import ClusterOptions

    _Connection: TypeAlias = PoolConnectionProxy[Any]

__all__ = ["PostgresAttachments", "PostgresEmitter", "PostgresManager", "PostgresTransport"]

logger = logging.getLogger("socketio_cloud.transports.postgres")

# What a lost or refused connection raises in asyncpg (PostgresError covers server errors
# such as "the database system is shutting down").
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)
# Errors after which one retry on another pool connection is worth it: the pool handed out
# a connection that died while idle (a server restart).
_STALE_CONNECTION = (asyncpg.ConnectionDoesNotExistError, ConnectionResetError)


# Seconds a call may take before the server is considered unreachable.
_CALL_TIMEOUT = 10.0


class PostgresAttachments:
    """The attachments table as a :class:`~socketio_cloud.offload.PayloadStore`: a payload is
    a row, its pointer the row id (decimal text)."""

    def __init__(self, transport: PostgresTransport) -> None:
        self._transport = transport

    async def put(self, sender_uid: str, payload: bytes) -> str:
        pool = self._transport._pool_or_fail()
        row_id = await pool.fetchval(
            facts.INSERT_SQL.format(table=self._transport.table_name),
            payload,
            timeout=_CALL_TIMEOUT,
        )
        self._transport._stats["attachments_stored"] += 1
        return str(row_id)

    async def get(self, pointer: str) -> bytes:
        pool = self._transport._pool_or_fail()
        try:
            payload = await pool.fetchval(
                facts.SELECT_SQL.format(table=self._transport.table_name),
                int(pointer),
                timeout=_CALL_TIMEOUT,
            )
        except asyncpg.DataError as exc:  # an id beyond bigint
            raise DecodeError(f"invalid attachment id {pointer}: {exc}") from None
        if payload is None:
            self._transport._stats["attachments_missing"] += 1
            raise DecodeError(f"attachment {pointer} does not exist (deleted as old?)")
        limit = self._transport.limits.max_message_size
        if len(payload) > limit:
            raise DecodeError(f"attachment {pointer} of {len(payload)} bytes exceeds {limit}")
        self._transport._stats["attachments_fetched"] += 1
        return bytes(payload)


class PostgresTransport(Transport):
    """One node's (or an emitter's) link to PostgreSQL, framed as Node's postgres adapter.

    :param dsn: connection string for a pool the transport creates and owns
        (default ``postgresql://localhost:5432/postgres``; libpq environment variables apply).
    :param pool: an ``asyncpg.Pool`` to use instead (the caller keeps owning it); a node
        holds one of its connections for listening. Node: the ``pg.Pool`` argument.
    :param channel_prefix: channels are ``<channel_prefix>#<nsp>`` (Node ``channelPrefix``,
        ``"socket.io"``); a channel has at most 63 bytes.
    :param table_name: the attachments table (Node ``tableName``, ``"socket_io_attachments"``).
    :param payload_threshold: NOTIFY payloads of this many bytes or more go through the table
        (Node ``payloadThreshold``, 8000, which Node compares with ``>``); at most 8000,
        PostgreSQL's limit.
    :param cleanup_interval: seconds between deletions of attachment rows older than this
        (Node ``cleanupInterval``, 30000 ms); one node of the cluster deletes.
    :param create_table: create the attachments table when it is missing (Node never does).
    :param pool_size: maximum connections of a pool made from ``dsn``.
    :param probe_interval: seconds between checks of the listening connection; a network
        failure that closes nothing is noticed within about this long.
    :param limits: bounds for decoding untrusted messages (and the largest attachment).
    """

    broker = "postgres"

    def __init__(
        self,
        *,
        dsn: str | None = None,
        pool: asyncpg.Pool | None = None,
        channel_prefix: str = facts.DEFAULT_CHANNEL_PREFIX,
        table_name: str = facts.DEFAULT_TABLE,
        payload_threshold: int = facts.DEFAULT_PAYLOAD_THRESHOLD,
        cleanup_interval: float = facts.DEFAULT_CLEANUP_INTERVAL,
        create_table: bool = True,
        pool_size: int = 10,
        probe_interval: float = 5.0,
        limits: Limits | None = None,
    ) -> None:
        if dsn is not None and pool is not None:
            raise ValueError("pass either dsn or pool, not both")
        if not 1 <= payload_threshold <= facts.DEFAULT_PAYLOAD_THRESHOLD:
            raise ValueError("payload_threshold must be between 1 and 8000 bytes")
        if cleanup_interval <= 0 or probe_interval <= 0:
            raise ValueError("cleanup_interval and probe_interval must be positive")
        if pool_size < 2:
            raise ValueError("pool_size must be at least 2 (one connection listens)")
        facts.check_channel(facts.channel_name(channel_prefix, "/"))
        self.dsn = dsn if dsn is not None else facts.DEFAULT_DSN
        self.channel_prefix = channel_prefix
        self.table_name = facts.check_table_name(table_name)
        self.payload_threshold = payload_threshold
        self.cleanup_interval = cleanup_interval
        self.create_table = create_table
        self.pool_size = pool_size
        self.probe_interval = probe_interval
        self.limits = limits or DEFAULT_LIMITS
        # NOTIFY carries less than payload_threshold bytes; the rest goes to the table
        self.offload = Offload(payload_threshold - 1, PostgresAttachments(self), self.limits)
        self.max_message_size = self.offload.max_message_size

        self._pool: asyncpg.Pool | None = pool
        self._owns_pool = pool is None
        self._uid = ""
        self._channels: dict[str, str] = {}  # channel -> namespace
        self._listener: _Connection | None = None
        self._listener_lock = asyncio.Lock()
        self._lost = asyncio.Event()
        self._cleaner = False
        self._next_cleanup = 0.0
        self._inbox: Inbox | None = None
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=10_000)
        self._tasks = TaskSet("postgres transport")
        self._link = LinkState("PostgreSQL", log=logger)
        self._stats: Counter[str] = Counter()
        self._opened = False
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ naming and state

    def channel(self, namespace: str) -> str:
        """The NOTIFY channel of ``namespace``."""
        return facts.channel_name(self.channel_prefix, namespace)

    @property
    def pool(self) -> asyncpg.Pool | None:
        """The connection pool (None before the transport is opened)."""
        return self._pool

    @property
    def is_cleaner(self) -> bool:
        """Whether this node is the one deleting old attachment rows."""
        return self._cleaner

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def stats(self) -> Mapping[str, int]:
        counters = Counter(self._stats)
        if self._inbox is not None:
            counters.update(self._inbox.stats)
        return dict(counters)

    def _pool_or_fail(self) -> asyncpg.Pool:
        if self._pool is None or self._closed:
            raise TransportError("the PostgreSQL transport is not open")
        return self._pool

    # ------------------------------------------------------------------ lifecycle

    async def open_publisher(self) -> None:
        if self._opened:
            return
        if self._closed:
            raise TransportError("the PostgreSQL transport is closed")
        if self._pool is None:
            try:
                # min_size=0: while the server is down, asyncpg would otherwise log a
                # traceback each time it fails to restore an idle connection
                self._pool = await asyncpg.create_pool(
                    self.dsn, min_size=0, max_size=self.pool_size, timeout=_CALL_TIMEOUT
                )
            except _DB_ERRORS as exc:
                self._link.failed("publish", exc)
                raise TransportError(f"cannot connect to PostgreSQL: {exc}") from exc
        if self.create_table:
            await self._create_table()
        else:
            try:
                await self._pool.fetchval("SELECT 1", timeout=_CALL_TIMEOUT)
            except _DB_ERRORS as exc:
                self._link.failed("publish", exc)
                raise TransportError(f"cannot reach PostgreSQL: {exc}") from exc
        self._opened = True
        self._link.ok("publish")

    async def _create_table(self) -> None:
        pool = self._pool_or_fail()
        try:
            await pool.execute(
                facts.CREATE_TABLE_SQL.format(table=self.table_name), timeout=_CALL_TIMEOUT
            )
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError):
            pass  # another node created it at the same moment
        except _DB_ERRORS as exc:
            self._link.failed("publish", exc)
            raise TransportError(f"cannot create table {self.table_name}: {exc}") from exc

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise RuntimeError("transport already started")
        await self.open_publisher()
        self._uid = uid
        self._link.owner = f"node {uid}"
        self._inbox = Inbox(self.broker, on_message, uid=uid)
        await self._connect_listener()
        self._started = True
        self._tasks.spawn(self._consume(), name="postgres consumer")
        self._tasks.spawn(self._supervise(), name="postgres listener")

    async def add_namespace(self, namespace: str) -> None:
        channel = facts.check_channel(self.channel(namespace))
        if channel in self._channels:
            return
        self._channels[channel] = namespace
        async with self._listener_lock:
            listener = self._listener
            if listener is None:
                return  # not started, or reconnecting: the (re)connection listens to it
            try:
                await listener.add_listener(channel, self._on_notification)
            except _DB_ERRORS as exc:
                self._lost.set()
                raise TransportError(f"cannot LISTEN on {channel!r}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._link.close()
        await self._tasks.stop()
        await self._drop_listener()
        if self._owns_pool and self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), _CALL_TIMEOUT)
            except (asyncio.TimeoutError, *_DB_ERRORS):
                self._pool.terminate()

    # ------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        await self._publish(message, None)
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        # As in Node, responses go on the namespace's channel, where Node nodes ignore
        # request ids they do not know; ``requesterUid`` lets other Python nodes drop them.
        await self._publish(message, requester_uid)

    async def _publish(self, message: ClusterMessage, requester_uid: str | None) -> None:
        channel = facts.check_channel(self.channel(message.nsp))
        text = framing.notification_text(message, requester_uid)
        if text is not None and self.offload.fits(len(text.encode())):
            await self._notify(channel, text)
            return
        payload = protocol.encode(message)
        size = len(text.encode()) if text is not None else len(payload)
        try:
            attachment_id = await self.offload.store_payload(message.uid, payload, size)
        except TransportError as exc:
            self._publish_failed(exc)
            raise
        notice = framing.attachment_notice(message.uid, message.type, attachment_id, requester_uid)
        await self._notify(channel, notice)

    async def _notify(self, channel: str, payload: str) -> None:
        pool = self._pool_or_fail()
        for attempt in (1, 2):
            try:
                await pool.execute(facts.NOTIFY_SQL, channel, payload, timeout=_CALL_TIMEOUT)
                break
            except _STALE_CONNECTION as exc:
                if attempt == 2:
                    self._publish_failed(exc)
                    raise TransportError(f"cannot NOTIFY {channel!r}: {exc}") from exc
            except _DB_ERRORS as exc:
                self._publish_failed(exc)
                raise TransportError(f"cannot NOTIFY {channel!r}: {exc}") from exc
        self._stats["notifications"] += 1
        self._link.ok("publish")

    def _publish_failed(self, error: BaseException) -> None:
        self._stats["publish_errors"] += 1
        self._link.failed("publish", error)

    # ------------------------------------------------------------------ listening

    def _on_notification(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        try:
            self._queue.put_nowait((channel, str(payload)))
        except asyncio.QueueFull:
            self._stats["dropped_overflow"] += 1
            log_rejected(self.broker, "the node is not keeping up: notification dropped")

    def _on_termination(self, _conn: Any) -> None:
        self._lost.set()

    async def _connect_listener(self) -> None:
        """Take a pool connection, ``LISTEN`` on every channel; raise TransportError."""
        pool = self._pool_or_fail()
        async with self._listener_lock:
            try:
                listener = await pool.acquire(timeout=_CALL_TIMEOUT)
            except _DB_ERRORS as exc:
                self._link.failed("listen", exc)
                raise TransportError(f"cannot connect to PostgreSQL to listen: {exc}") from exc
            self._lost.clear()
            try:
                listener.add_termination_listener(self._on_termination)
                for channel in list(self._channels):
                    await listener.add_listener(channel, self._on_notification)
            except _DB_ERRORS as exc:
                await self._release(listener)
                self._link.failed("listen", exc)
                raise TransportError(f"cannot LISTEN: {exc}") from exc
            self._listener = listener
            self._cleaner = False
            self._next_cleanup = time.monotonic() + self.cleanup_interval
        self._link.ok("listen")

    async def _drop_listener(self) -> None:
        async with self._listener_lock:
            listener, self._listener = self._listener, None
            self._cleaner = False
            if listener is not None:
                await self._release(listener)

    async def _release(self, listener: _Connection) -> None:
        pool = self._pool
        try:
            listener.remove_termination_listener(self._on_termination)
            if not listener.is_closed():
                for channel in list(self._channels):
                    await listener.remove_listener(channel, self._on_notification)
            if pool is not None:
                # releasing resets the session: UNLISTEN *, advisory locks released
                await pool.release(listener, timeout=_CALL_TIMEOUT)
        except Exception as exc:
            # a connection that died was already handed back to the pool by asyncpg
            logger.debug("releasing the listening connection: %s", exc)
            with contextlib.suppress(Exception):
                listener.terminate()

    async def _supervise(self) -> None:
        """Watch the listening connection; reconnect with backoff when it is lost."""
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                await self._watch()
            except Exception as exc:  # whatever ends the connection, reconnect
                error: BaseException | str = exc
            else:
                error = "connection closed"
            self._link.failed("listen", error)
            self._stats["listen_outages"] += 1
            logger.debug("listening connection lost (%s)", error)
            try:
                await self._drop_listener()
            except Exception:  # never let the supervisor die: it is the only one reconnecting
                logger.exception("dropping the lost listening connection failed")
            while True:
                await asyncio.sleep(backoff.next_delay())
                try:
                    await self._connect_listener()
                except Exception as exc:  # the supervisor must outlive any failure
                    logger.debug("reconnection failed: %s", exc)
                    continue
                break
            backoff.reset()
            self._stats["reconnects"] += 1
            logger.info("listening again on %d channel(s)", len(self._channels))

    async def _watch(self) -> None:
        """Return (or raise) when the listening connection is gone."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self.probe_interval)
                return
            except asyncio.TimeoutError:
                pass
            due = False
            async with self._listener_lock:
                listener = self._listener
                if listener is None or listener.is_closed():
                    return
                await listener.fetchval("SELECT 1", timeout=_CALL_TIMEOUT)
                if time.monotonic() >= self._next_cleanup:
                    self._next_cleanup = time.monotonic() + self.cleanup_interval
                    if not self._cleaner:
                        # the lock lives as long as this connection: when the cleaning
                        # node dies, another one takes over at its next attempt
                        lock = facts.CLEANUP_LOCK_NAME.format(table=self.table_name)
                        self._cleaner = bool(
                            await listener.fetchval(
                                facts.CLEANUP_LOCK_SQL, lock, timeout=_CALL_TIMEOUT
                            )
                        )
                    due = self._cleaner
            self._link.ok("listen")
            if due:
                await self.delete_old_attachments()

    async def delete_old_attachments(self) -> int:
        """Delete attachment rows older than ``cleanup_interval``; return how many went.

        The node holding the cleanup lock calls it every ``cleanup_interval``.
        """
        pool = self._pool_or_fail()
        try:
            status = await pool.execute(
                facts.DELETE_OLD_SQL.format(table=self.table_name),
                timedelta(seconds=self.cleanup_interval),
                timeout=_CALL_TIMEOUT,
            )
        except _DB_ERRORS as exc:
            logger.warning("could not delete old attachments: %s", exc)
            return 0
        deleted = int(status.split()[-1]) if status.startswith("DELETE") else 0
        self._stats["cleanups"] += 1
        self._stats["attachments_deleted"] += deleted
        return deleted

    async def _consume(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        while True:
            channel, payload = await self._queue.get()
            namespace = self._channels.get(channel)
            if namespace is None:
                continue
            await inbox.accept(functools.partial(self._decode, payload, namespace))

    async def _decode(self, payload: str, namespace: str) -> ClusterMessage | None:
        parsed, requester = framing.parse_notification(payload, namespace, limits=self.limits)
        if requester is not None and requester != self._uid:
            return None  # a response to another node
        if isinstance(parsed, framing.AttachmentNotice):
            if parsed.uid == self._uid:
                return None  # our own message: no need to fetch it
            raw = await self.offload.fetch_payload(parsed.attachment_id)
            parsed = framing.message_from_attachment(raw, namespace, limits=self.limits)
        if parsed.uid == self._uid:
            return None
        if self.channel(parsed.nsp) not in self._channels:
            return None  # a namespace this node does not serve
        return parsed


class PostgresManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` on PostgreSQL ``LISTEN``/``NOTIFY``,
    able to share a cluster with Node servers using ``@socket.io/postgres-adapter`` 0.5.

    >>> mgr = PostgresManager(dsn="postgresql://app@db:5432/app")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    The options are those of :class:`PostgresTransport` plus the cluster options of
    :class:`~socketio_cloud.cluster.ClusterManager` (``heartbeat_interval``, ...).
    """

    transport: PostgresTransport

    def __init__(
        self,
        *,
        dsn: str | None = None,
        pool: asyncpg.Pool | None = None,
        channel_prefix: str = facts.DEFAULT_CHANNEL_PREFIX,
        table_name: str = facts.DEFAULT_TABLE,
        payload_threshold: int = facts.DEFAULT_PAYLOAD_THRESHOLD,
        cleanup_interval: float = facts.DEFAULT_CLEANUP_INTERVAL,
        create_table: bool = True,
        pool_size: int = 10,
        probe_interval: float = 5.0,
        **cluster: Unpack[ClusterOptions],
    ) -> None:
        transport = PostgresTransport(
            dsn=dsn,
            pool=pool,
            channel_prefix=channel_prefix,
            table_name=table_name,
            payload_threshold=payload_threshold,
            cleanup_interval=cleanup_interval,
            create_table=create_table,
            pool_size=pool_size,
            probe_interval=probe_interval,
            limits=cluster.get("limits"),
        )
        super().__init__(transport, **cluster)


class PostgresEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` on PostgreSQL, framed as
    ``@socket.io/postgres-emitter`` 0.1 but with the envelope's ``nsp`` set, so that Node
    servers (which route by it) accept its messages too.

    >>> emitter = PostgresEmitter(dsn="postgresql://app@db:5432/app")
    >>> await emitter.to("room1").emit("hello", "world")
    """

    transport: PostgresTransport

    def __init__(
        self,
        *,
        dsn: str | None = None,
        pool: asyncpg.Pool | None = None,
        channel_prefix: str = facts.DEFAULT_CHANNEL_PREFIX,
        table_name: str = facts.DEFAULT_TABLE,
        payload_threshold: int = facts.DEFAULT_PAYLOAD_THRESHOLD,
        create_table: bool = True,
        pool_size: int = 2,
        namespace: str = "/",
    ) -> None:
        transport = PostgresTransport(
            dsn=dsn,
            pool=pool,
            channel_prefix=channel_prefix,
            table_name=table_name,
            payload_threshold=payload_threshold,
            create_table=create_table,
            pool_size=pool_size,
        )
        super().__init__(transport, namespace=namespace)
