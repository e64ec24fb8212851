"""RabbitMQ (AMQP 0-9-1) transport, manager and emitter, with room-routed delivery.

One durable topic exchange per cluster and one queue per node (``x-expires``: a dead node's
queue disappears by itself, so there is nothing to clean up). A node binds its queue to a
room's routing key while it has local members of that room, so a broadcast to a room reaches
only the nodes that serve it. Routing keys are defined in :mod:`socketio_cloud.brokers.amqp`;
the design and the guarantees are in docs/amqp.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

from .. import protocol
from ..brokers import amqp as names
from ..cluster import ClusterManager
from ..emitter import Emitter
from ..exceptions import PayloadTooLarge, TransportError
from ..protocol import ClusterMessage, Limits, MessageType
from ..runtime import Backoff, Inbox, LinkState
from ..tasks import TaskSet, cancel_and_wait
from ..transport import MembershipKind, MessageHandler, Transport
from .amqp_bindings import RecentJoins, RoomBindings

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..cluster import ClusterOptions

__all__ = ["AmqpEmitter", "AmqpManager", "AmqpTransport"]

logger = logging.getLogger("socketio_cloud.transports.amqp")

_COUNTERS = (
    "published",
    "received",
    "received_by_room",
    "own",
    "delivered",
    "rejected",
    "redelivered_dropped",
    "binds",
    "unbinds",
    "reconnects",
    "connect_attempts",
)

#: Acknowledge deliveries in batches of at most this many (one frame for the batch).
_ACK_BATCH = 32


class AmqpTransport(Transport):
    """One node's (or an emitter's) connection to RabbitMQ.

    :param url: AMQP URL, ``amqp://user:password@host:port/vhost`` (``amqps://`` for TLS).
    :param exchange: the cluster's topic exchange, declared durable by every node.
    :param queue_prefix: node queues are ``<queue_prefix>#<uid>``.
    :param queue_expires: seconds a node queue survives without a consumer (``x-expires``):
        how long a crashed node's queue lingers, and how long a disconnected node may stay
        away and find its queue (and the messages sent meanwhile) again.
    :param message_ttl: seconds a message may wait in a queue (``x-message-ttl``).
    :param prefetch: deliveries in flight to this node (``basic.qos``), which bounds the
        memory a slow node uses for messages it has received but not handled.
    :param max_room_bindings: room bindings this node keeps before it binds its namespaces'
        room wildcard instead and receives every room broadcast (back to per-room bindings
        below half of it); 0 turns room routing off for this node.
    :param route_grace: seconds during which broadcasts to rooms this sender asked other
        nodes to join (``sockets_join``) go to every node, while those nodes bind the room.
    :param connect_timeout: seconds to wait for the broker when (re)connecting.
    :param limits: bounds for decoding untrusted messages; also the largest message
        published (:class:`PayloadTooLarge` beyond it).
    """

    broker: ClassVar[str] = "amqp"
    membership: ClassVar[MembershipKind] = "heartbeats"

    def __init__(
        self,
        *,
        url: str = names.DEFAULT_URL,
        exchange: str = names.DEFAULT_EXCHANGE,
        queue_prefix: str = names.DEFAULT_QUEUE_PREFIX,
        queue_expires: float = names.DEFAULT_QUEUE_EXPIRES,
        message_ttl: float = names.DEFAULT_MESSAGE_TTL,
        prefetch: int = names.DEFAULT_PREFETCH,
        max_room_bindings: int = names.DEFAULT_MAX_ROOM_BINDINGS,
        route_grace: float = names.DEFAULT_ROUTE_GRACE,
        connect_timeout: float = 10.0,
        limits: Limits | None = None,
    ) -> None:
        if not exchange:
            raise ValueError("exchange must not be empty")
        if queue_expires <= 0 or message_ttl <= 0 or connect_timeout <= 0:
            raise ValueError("queue_expires, message_ttl and connect_timeout must be positive")
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        if max_room_bindings < 0 or route_grace < 0:
            raise ValueError("max_room_bindings and route_grace must not be negative")
        self.url = url
        self.exchange_name = exchange
        self.queue_prefix = queue_prefix
        self.queue_expires = queue_expires
        self.message_ttl = message_ttl
        self.prefetch = prefetch
        self.max_room_bindings = max_room_bindings
        self.route_grace = route_grace
        self.connect_timeout = connect_timeout
        self.limits = limits or protocol.DEFAULT_LIMITS
        self._max_size = min(self.limits.max_message_size, names.BROKER_MAX_MESSAGE_SIZE)
        self.max_message_size = self._max_size

        self._uid = ""
        self._consuming = False
        self._closed = False
        self._link = LinkState("amqp", log=logger)
        self._tasks = TaskSet("amqp")
        self._counters: Counter[str] = Counter()
        self._inbox: Inbox | None = None
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self._lost = asyncio.Event()
        self._first_connect: asyncio.Future[None] | None = None
        self._delivery_task: asyncio.Task[Any] | None = None
        self._consumer_tag = ""
        # room routing: what the node wants bound, what is bound, who waits for it
        self._bindings = RoomBindings(max_room_bindings)
        self._bound: set[str] = set()
        self._recent_joins = RecentJoins(route_grace)
        # the last deliveries handed to the core (as many as may be unacknowledged at the
        # broker) and, after a lost connection, those the broker may deliver again: a
        # redelivered message found there is dropped once (compared by body)
        self._recent_bodies: deque[bytes] = deque(maxlen=prefetch)
        self._maybe_redelivered: Counter[bytes] = Counter()

    # ------------------------------------------------------------------ properties

    @property
    def queue_name(self) -> str:
        """This node's queue (empty before :meth:`start`)."""
        return names.queue_name(self.queue_prefix, self._uid) if self._uid else ""

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def stats(self) -> Mapping[str, int]:
        """Counters: ``published``, ``received`` (deliveries from the broker; of which
        ``received_by_room`` were published to a room's key), ``own`` (own messages
        dropped), ``delivered``/``rejected`` (by the inbox), ``redelivered_dropped``,
        ``binds``, ``unbinds``, ``reconnects`` (connections lost), ``connect_attempts``,
        and the gauges
        ``room_bindings`` and ``fallback`` (1 while every room broadcast is received)."""
        counts = Counter(dict.fromkeys(_COUNTERS, 0))
        counts.update(self._counters)
        if self._inbox is not None:
            counts.update(self._inbox.stats)
        counts["room_bindings"] = sum(1 for key in self._bound if ".r." in key)
        counts["fallback"] = int(self._bindings.fallback)
        return dict(counts)

    @property
    def room_routing(self) -> bool:
        """Whether this node receives only the room broadcasts of rooms it has members in."""
        return not self._bindings.fallback

    # ------------------------------------------------------------------ lifecycle

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        self._uid = uid
        self._link.owner = f"node {uid}"
        self._inbox = Inbox("amqp", on_message, uid=uid)
        self._consuming = True
        await self._begin()

    async def open_publisher(self) -> None:
        self._link.owner = "emitter"
        await self._begin()

    async def _begin(self) -> None:
        if self._closed:
            raise TransportError("the AMQP transport is closed")
        first = self._first_connect
        if first is not None and not (first.done() and first.exception() is not None):
            await asyncio.shield(first)
            return
        self._first_connect = asyncio.get_running_loop().create_future()
        self._tasks.spawn(self._supervise(), name="amqp-connection")
        await asyncio.shield(self._first_connect)

    async def add_namespace(self, namespace: str) -> None:
        if self._bindings.add_namespace(namespace) and self._consuming:
            await self.sync_bindings()

    async def close(self) -> None:
        """Stop consuming, delete the node's queue, close the connection. Idempotent."""
        await self._shutdown(delete_queue=True)

    async def abort(self) -> None:
        """Drop the connection and leave the queue behind (it expires by itself)."""
        await self._shutdown(delete_queue=False)

    async def _shutdown(self, *, delete_queue: bool) -> None:
        if self._closed:
            return
        self._closed = True
        await self._tasks.stop()
        queue, connection = self._queue, self._connection
        if delete_queue and queue is not None and connection is not None:
            try:
                if self._consumer_tag:
                    await queue.cancel(self._consumer_tag, timeout=self.connect_timeout)
                await queue.delete(if_unused=False, if_empty=False, timeout=self.connect_timeout)
            except Exception as exc:  # the queue expires by itself anyway
                logger.info("could not delete queue %s: %s", self.queue_name, exc)
        await self._drop_connection()
        self._link.close()
        self._bindings.release()

    # ------------------------------------------------------------------ connection

    async def _supervise(self) -> None:
        """Connect, set up, follow room changes; on a lost connection start over after a
        backoff delay (never a hot loop)."""
        assert self._first_connect is not None
        backoff = Backoff(0.2, 10.0)
        while not self._closed:
            try:
                await self._connect()
            except Exception as exc:
                self._link.failed("connection", exc)
                await self._drop_connection()
                if not self._first_connect.done():
                    self._first_connect.set_exception(
                        TransportError(f"cannot reach the AMQP broker: {exc}")
                    )
                    return
                await asyncio.sleep(backoff.next_delay())
                continue
            self._link.ok("connection")
            self._link.ok("publisher")
            backoff.reset()
            if not self._first_connect.done():
                self._first_connect.set_result(None)
            try:
                await self._follow_rooms()
            except Exception as exc:
                self._link.failed("connection", exc)
            await self._drop_connection()
            if not self._closed:
                self._counters["reconnects"] += 1
                await asyncio.sleep(backoff.next_delay())

    async def _connect(self) -> None:
        self._counters["connect_attempts"] += 1
        self._lost.clear()
        connection = await aio_pika.connect(self.url, timeout=self.connect_timeout)
        self._connection = connection
        # callbacks of a connection that was replaced meanwhile must not touch the new one
        on_close = partial(self._on_close, connection)
        connection.close_callbacks.add(on_close)
        publisher = await connection.channel(publisher_confirms=True)
        publisher.close_callbacks.add(on_close)
        self._exchange = await publisher.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        if not self._consuming:
            return
        consumer = await connection.channel(publisher_confirms=False)
        consumer.close_callbacks.add(on_close)
        # the broker cancels the consumer when the queue is deleted under it (by an operator,
        # or a policy): start over, which declares the queue again
        underlay = await consumer.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(partial(self._on_cancelled, connection))
        await consumer.set_qos(prefetch_count=self.prefetch)
        queue = await consumer.declare_queue(
            self.queue_name,
            durable=False,
            exclusive=False,
            auto_delete=False,
            arguments={
                "x-expires": round(self.queue_expires * 1000),
                "x-message-ttl": round(self.message_ttl * 1000),
            },
        )
        self._queue = queue
        # the queue may have outlived a lost connection with its bindings, or be new after
        # a broker restart: bind everything wanted, drop what is no longer wanted
        version = self._bindings.version
        wanted = self._bindings.wanted_keys(self._uid)
        stale = self._bound - wanted
        self._bound = set()
        for key in sorted(wanted):
            await queue.bind(self.exchange_name, key, timeout=self.connect_timeout)
            self._bound.add(key)
            self._counters["binds"] += 1
        for key in sorted(stale):
            await queue.unbind(self.exchange_name, key, timeout=self.connect_timeout)
            self._counters["unbinds"] += 1
        self._bindings.applied(version)
        deliveries: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._delivery_task = self._tasks.spawn(
            self._handle_deliveries(deliveries, consumer), name="amqp-deliveries"
        )

        async def on_delivery(message: AbstractIncomingMessage) -> None:
            deliveries.put_nowait(message)

        self._consumer_tag = await queue.consume(on_delivery, no_ack=False)

    def _on_close(
        self, connection: AbstractConnection, _sender: Any, exc: BaseException | None = None
    ) -> None:
        if connection is not self._connection:
            return
        if not self._closed:
            self._link.failed("connection", exc or "closed")
        self._lost.set()
        self._bindings.changed.set()

    async def _on_cancelled(self, connection: AbstractConnection, _frame: Any) -> None:
        self._on_close(connection, None, TransportError("the broker cancelled the consumer"))

    async def _drop_connection(self) -> None:
        connection = self._connection
        self._connection = None
        task, self._delivery_task = self._delivery_task, None
        if task is not None and task is not asyncio.current_task():
            await cancel_and_wait([task])
        self._exchange = None
        self._queue = None
        if self._recent_bodies:
            self._maybe_redelivered.update(self._recent_bodies)
            self._recent_bodies.clear()
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), self.connect_timeout)
            except Exception as exc:
                logger.debug("closing the AMQP connection failed: %s", exc)

    # ------------------------------------------------------------------ receiving

    async def _handle_deliveries(
        self, deliveries: asyncio.Queue[AbstractIncomingMessage], channel: AbstractChannel
    ) -> None:
        """Hand deliveries to the inbox one at a time, in order; acknowledge in batches."""
        inbox = self._inbox
        assert inbox is not None
        uid = self._uid
        limits = self.limits
        counters = self._counters
        recent = self._recent_bodies
        unacked = 0
        while True:
            message = await deliveries.get()
            if channel.is_closed:
                return  # the broker delivers what was not acknowledged again
            counters["received"] += 1
            if ".r." in (message.routing_key or ""):
                counters["received_by_room"] += 1
            body = message.body
            if message.redelivered and self._maybe_redelivered[body] > 0:
                self._maybe_redelivered[body] -= 1
                counters["redelivered_dropped"] += 1
            elif message.app_id == uid:
                counters["own"] += 1
            else:
                if self._maybe_redelivered and not message.redelivered:
                    self._maybe_redelivered.clear()
                # remembered before the core has it: if the connection drops meanwhile,
                # the broker's second copy must not reach clients again
                recent.append(body)
                await inbox.accept(partial(protocol.decode, body, limits=limits), size=len(body))
            unacked += 1
            if deliveries.empty() or unacked >= _ACK_BATCH:
                try:
                    await message.ack(multiple=True)
                except Exception as exc:
                    self._link.failed("connection", exc)
                    return
                unacked = 0

    # ------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        keys = names.routing_keys(message, self._recent_joins.rooms(message.nsp))
        if message.type is MessageType.SOCKETS_JOIN:
            self._recent_joins.remember(message)
        await self._send(message, keys[0], keys[1:])
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        await self._send(message, names.response_key(requester_uid), [])

    async def _send(self, message: ClusterMessage, key: str, cc: list[str]) -> None:
        exchange = self._exchange
        if exchange is None:
            error = "closed" if self._closed else "not connected"
            self._link.failed("publisher", error)
            raise TransportError(f"cannot publish: the AMQP transport is {error}")
        body = protocol.encode(message)
        if len(body) > self._max_size:
            raise PayloadTooLarge(len(body), self._max_size)
        amqp_message = aio_pika.Message(
            body,
            app_id=message.uid,
            content_type=names.CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
            headers={"CC": list(cc)} if cc else None,
        )
        try:
            # awaits the broker's confirm (the channel is in confirm mode)
            await exchange.publish(
                amqp_message, routing_key=key, mandatory=False, timeout=self.connect_timeout
            )
        except Exception as exc:
            self._link.failed("publisher", exc)
            raise TransportError(f"AMQP publish failed: {exc}") from exc
        self._link.ok("publisher")
        self._counters["published"] += 1

    # ------------------------------------------------------------------ room bindings

    def room_created(self, namespace: str, room: str) -> None:
        """The node has a first local member of ``room``: bind its key (in the background;
        :meth:`rooms_settled` waits for it)."""
        self._bindings.room_created(namespace, room)

    def room_deleted(self, namespace: str, room: str) -> None:
        """The node's last local member left ``room``: unbind its key (in the background)."""
        self._bindings.room_deleted(namespace, room)

    async def rooms_settled(self) -> None:
        """Return once every room change made so far is bound at the broker (the core awaits
        this in ``enter_room`` and ``sockets_join``)."""
        await self.sync_bindings()

    async def sync_bindings(self, timeout: float | None = None) -> bool:
        """Wait until every room change made so far is bound at the broker.

        Returns False without waiting when the transport is not connected (the bindings are
        made when it reconnects), or after ``timeout`` seconds (default ``connect_timeout``).
        """
        if not self._consuming or self._closed:
            return False
        if self._bindings.is_applied():
            return True
        if not self.connected:
            return False
        if await self._bindings.wait(timeout or self.connect_timeout):
            return True
        logger.warning("room bindings not confirmed within the timeout")
        return False

    async def _follow_rooms(self) -> None:
        """Apply room changes until the connection is lost: bind new keys before unbinding
        old ones, so a switch to or from the wildcard never misses a broadcast."""
        if not self._consuming:
            await self._lost.wait()
            raise ConnectionError("connection lost")
        bindings = self._bindings
        while True:
            await bindings.changed.wait()
            bindings.changed.clear()
            if self._lost.is_set():
                raise ConnectionError("connection lost")
            queue = self._queue
            assert queue is not None
            version = bindings.version
            wanted = bindings.wanted_keys(self._uid)
            for key in sorted(wanted - self._bound):
                await queue.bind(self.exchange_name, key, timeout=self.connect_timeout)
                self._bound.add(key)
                self._counters["binds"] += 1
            for key in sorted(self._bound - wanted):
                await queue.unbind(self.exchange_name, key, timeout=self.connect_timeout)
                self._bound.discard(key)
                self._counters["unbinds"] += 1
            bindings.applied(version)


class AmqpManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` on RabbitMQ (AMQP 0-9-1), whose
    room broadcasts reach only the nodes with members in those rooms.

    Every option of :class:`AmqpTransport` is accepted, and those of ``ClusterManager``
    (``heartbeat_interval``, ``requests_timeout``, ...). ``enter_room`` returns once the
    room is bound at the broker, so a broadcast published anywhere after it returned reaches
    the socket.

    >>> mgr = AmqpManager(url="amqp://guest:guest@localhost:5672/", exchange="chat")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    """

    transport: AmqpTransport

    def __init__(
        self,
        *,
        url: str = names.DEFAULT_URL,
        exchange: str = names.DEFAULT_EXCHANGE,
        queue_prefix: str = names.DEFAULT_QUEUE_PREFIX,
        queue_expires: float = names.DEFAULT_QUEUE_EXPIRES,
        message_ttl: float = names.DEFAULT_MESSAGE_TTL,
        prefetch: int = names.DEFAULT_PREFETCH,
        max_room_bindings: int = names.DEFAULT_MAX_ROOM_BINDINGS,
        route_grace: float = names.DEFAULT_ROUTE_GRACE,
        connect_timeout: float = 10.0,
        **cluster: Unpack[ClusterOptions],
    ) -> None:
        transport = AmqpTransport(
            url=url,
            exchange=exchange,
            queue_prefix=queue_prefix,
            queue_expires=queue_expires,
            message_ttl=message_ttl,
            prefetch=prefetch,
            max_room_bindings=max_room_bindings,
            route_grace=route_grace,
            connect_timeout=connect_timeout,
            limits=cluster.get("limits"),
        )
        super().__init__(transport, **cluster)


class AmqpEmitter(Emitter):
    """A write-only :class:`~socketio_cloud.emitter.Emitter` on the cluster's exchange.

    >>> emitter = AmqpEmitter(url="amqp://guest:guest@localhost:5672/", exchange="chat")
    >>> await emitter.to("room1").emit("hello", "world")
    """

    transport: AmqpTransport

    def __init__(
        self,
        *,
        url: str = names.DEFAULT_URL,
        exchange: str = names.DEFAULT_EXCHANGE,
        route_grace: float = names.DEFAULT_ROUTE_GRACE,
        connect_timeout: float = 10.0,
        limits: Limits | None = None,
        namespace: str = "/",
    ) -> None:
        transport = AmqpTransport(
            url=url,
            exchange=exchange,
            route_grace=route_grace,
            connect_timeout=connect_timeout,
            limits=limits,
        )
        super().__init__(transport, namespace=namespace)
