"""Google Cloud Pub/Sub transport: the user's topic, one pull subscription per node.

Wire-compatible with Node's ``@socket.io/gcp-pubsub-adapter`` 0.1 (framing in
:mod:`socketio_cloud.transports.pubsub_framing`), so Python and Node nodes can share a
topic. Each node owns the subscription ``<subscription_prefix>-<uid>``.

What this transport adds to the Node design:

- The subscription carries labels (node uid, topic, and an alive mark refreshed every
  ``liveness_interval`` seconds, read by :mod:`socketio_cloud.cleanup.gcp`), an expiration
  policy (Pub/Sub deletes it after ``expiration_ttl`` seconds without pulls: a dead node's
  subscription goes away by itself), a short message retention and the filter
  :func:`~socketio_cloud.brokers.pubsub.subscription_filter` (no own messages, no responses
  for other nodes). If Pub/Sub refuses the filter, the node logs it once and subscribes
  without; every message is checked on receipt anyway (the emulator ignores filters).
- :meth:`PubSubTransport.start` returns once a probe published to the topic came back
  through the node's subscription.
- Receiving uses the asyncio gRPC clients: one pull loop (long polls of up to
  ``max_messages``), one dispatch loop delivering in order, acknowledgements of everything
  pulled in one call per ``ack_delay``. Publishing goes through one sender loop that puts
  everything queued meanwhile into a single publish request (Pub/Sub's 1,000 messages and
  10 MB per request), so messages leave in the order they were published and under load one
  call carries many.
- Lost subscriptions (the cleanup, the expiration policy, a broker restart) are re-created,
  and with ``create_topic`` a lost topic too; failures are retried with backoff and
  reported by :attr:`PubSubTransport.connected`.
- Messages over Pub/Sub's 10 MB go through a payload store (Cloud Storage with
  ``large_payload_bucket``); otherwise publishing raises
  :class:`~socketio_cloud.exceptions.PayloadTooLarge`.

API calls and IAM permissions: :mod:`socketio_cloud.brokers.pubsub`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from google.api_core import exceptions as gexc
from google.pubsub_v1 import types
from google.pubsub_v1.services.publisher import PublisherAsyncClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcAsyncIOTransport
from google.pubsub_v1.services.subscriber import SubscriberAsyncClient
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcAsyncIOTransport

from .. import protocol
from ..brokers.pubsub import (
    ATTR_PAYLOAD,
    ATTR_PROBE,
    ATTR_REQUESTER,
    ATTR_UID,
    DEFAULT_ACK_DEADLINE,
    DEFAULT_EXPIRATION_TTL,
    DEFAULT_LIVENESS_INTERVAL,
    DEFAULT_MESSAGE_RETENTION,
    DEFAULT_SUBSCRIPTION_PREFIX,
    LABEL_ALIVE,
    LABEL_NODE,
    LABEL_TOPIC,
    MIN_EXPIRATION_TTL,
    MIN_MESSAGE_RETENTION,
    PROBE_SENDER,
    PUBSUB_MAX_MESSAGE_SIZE,
    PUBSUB_MAX_REQUEST_SIZE,
    alive_mark,
    label_value,
    node_subscription_id,
    subscription_filter,
    subscription_path,
    topic_path,
)
from ..cluster import ClusterManager
from ..emitter import Emitter
from ..exceptions import PayloadTooLarge, TransportError
from ..offload import Offload, PayloadStore
from ..protocol import ClusterMessage
from ..runtime import Backoff, Inbox, LinkState
from ..tasks import TaskSet
from ..transport import MessageHandler, Transport
from .pubsub_framing import (
    classify,
    decode_envelope,
    encode_head,
    encode_message,
    message_size,
    probe_data,
)
from .pubsub_payloads import GcsPayloadStore

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from typing_extensions import Unpack

    from ..cluster import ClusterOptions

__all__ = ["PubSubEmitter", "PubSubManager", "PubSubTransport"]

logger = logging.getLogger("socketio_cloud.transports.pubsub")

# Every message of a publish request, at most (Pub/Sub's limit).
_MAX_BATCH_MESSAGES = 1000
# Ack ids of one Acknowledge call, at most.
_MAX_ACKS = 1000
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_RESOURCE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.ResourceExhausted,
    gexc.Unknown,
)
# Channel options: no size limit (Pub/Sub's own is 10 MB), keepalives, and reconnect
# attempts at most 5 s apart after an outage (gRPC's default backoff grows to 120 s).
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]


@dataclass
class _Outgoing:
    message: types.PubsubMessage
    size: int
    done: asyncio.Future[None] = field(repr=False)


class PubSubTransport(Transport):
    """A node's (or an emitter's) connection to a Pub/Sub topic.

    :param project: the Google Cloud project of the topic and the subscriptions.
    :param topic: the topic id, or its full path ``projects/P/topics/T`` (Node: the
        ``Topic`` object given to ``createAdapter``).
    :param subscription_prefix: the node's subscription is ``<prefix>-<uid>`` (Node
        ``subscriptionPrefix``, default ``"socket.io"``).
    :param create_topic: create the topic when it does not exist (Node never creates it;
        needs ``pubsub.topics.create``).
    :param labels: extra labels for the subscription.
    :param ack_deadline: seconds to acknowledge a pulled message, 10 to 600 (Node: Pub/Sub's
        default, 10).
    :param message_retention: seconds Pub/Sub keeps an unacknowledged message, 600 to
        604800 (Node: Pub/Sub's default, 7 days).
    :param expiration_ttl: seconds without pulls after which Pub/Sub deletes the
        subscription, at least 86400 (Node: Pub/Sub's default, 31 days).
    :param use_filter: set the subscription filter (Node sets none).
    :param liveness_interval: seconds between refreshes of the alive label (ours).
    :param max_messages: messages per pull, 1 to 1000.
    :param ack_delay: received messages are acknowledged together, at most this many seconds
        after they arrived (0: after every pull, as Node acknowledges each message at once);
        less than half of ``ack_deadline``.
    :param pull_timeout: seconds one long poll may last.
    :param publish_timeout: seconds a publish may take, retries included.
    :param max_pending: messages waiting to be sent before :meth:`publish` waits.
    :param large_payload_bucket: Cloud Storage bucket for messages over 10 MB (ours).
    :param large_payload_prefix: object name prefix in that bucket.
    :param payload_store: any :class:`~socketio_cloud.offload.PayloadStore` instead.
    :param emulator_host: ``host:port`` of a Pub/Sub emulator (default: the
        ``PUBSUB_EMULATOR_HOST`` environment variable; none: Google's endpoint).
    :param credentials: Google credentials (default: the environment's).
    :param ready_timeout: seconds :meth:`start` waits for the subscription to deliver.
    :param limits: bounds for decoding untrusted messages.
    """

    broker = "pubsub"
    membership = "heartbeats"

    def __init__(
        self,
        *,
        project: str,
        topic: str,
        subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
        create_topic: bool = False,
        labels: Mapping[str, str] | None = None,
        ack_deadline: int = DEFAULT_ACK_DEADLINE,
        message_retention: int = DEFAULT_MESSAGE_RETENTION,
        expiration_ttl: int = DEFAULT_EXPIRATION_TTL,
        use_filter: bool = True,
        liveness_interval: float = DEFAULT_LIVENESS_INTERVAL,
        max_messages: int = 100,
        ack_delay: float = 1.0,
        pull_timeout: float = 30.0,
        publish_timeout: float = 10.0,
        max_pending: int = 10_000,
        large_payload_bucket: str | None = None,
        large_payload_prefix: str = "socketio-cloud/",
        payload_store: PayloadStore | None = None,
        emulator_host: str | None = None,
        credentials: Credentials | None = None,
        ready_timeout: float = 30.0,
        limits: protocol.Limits | None = None,
    ) -> None:
        if not _PROJECT.match(project):
            raise ValueError(f"project: not a Google Cloud project id: {project!r}")
        topic_id = topic.rsplit("/", 1)[-1]
        if not _RESOURCE_ID.match(topic_id):
            raise ValueError(f"topic: not a Pub/Sub topic id: {topic!r}")
        if not _RESOURCE_ID.match(node_subscription_id(subscription_prefix, "0" * 16)):
            raise ValueError(
                "subscription_prefix: starts with a letter; letters, digits and . _ ~ + % -"
            )
        if not 10 <= ack_deadline <= 600:
            raise ValueError("ack_deadline must be between 10 and 600 seconds")
        if not MIN_MESSAGE_RETENTION <= message_retention <= 604_800:
            raise ValueError("message_retention must be between 600 and 604800 seconds")
        if expiration_ttl < MIN_EXPIRATION_TTL:
            raise ValueError("expiration_ttl must be at least 86400 seconds")
        if not 1 <= max_messages <= 1000:
            raise ValueError("max_messages must be between 1 and 1000")
        if min(liveness_interval, pull_timeout, publish_timeout, ready_timeout) <= 0:
            raise ValueError("intervals and timeouts must be > 0")
        if not 0 <= ack_delay <= ack_deadline / 2:
            raise ValueError("ack_delay must be between 0 and half of ack_deadline")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if large_payload_bucket and payload_store is not None:
            raise ValueError("give large_payload_bucket or payload_store, not both")
        self.project = project
        self.topic = topic_path(project, topic)
        self.subscription_prefix = subscription_prefix
        self.create_topic = create_topic
        self.labels = dict(labels or {})
        self.ack_deadline = ack_deadline
        self.message_retention = message_retention
        self.expiration_ttl = expiration_ttl
        self.use_filter = use_filter
        self.liveness_interval = liveness_interval
        self.max_messages = max_messages
        self.ack_delay = ack_delay
        self.pull_timeout = pull_timeout
        self.publish_timeout = publish_timeout
        self.ready_timeout = ready_timeout
        self.limits = limits or protocol.DEFAULT_LIMITS
        if emulator_host is None:
            emulator_host = os.environ.get("PUBSUB_EMULATOR_HOST") or None
        self.emulator_host = emulator_host
        self._credentials = credentials
        if large_payload_bucket:
            payload_store = GcsPayloadStore(
                large_payload_bucket, prefix=large_payload_prefix, limits=self.limits
            )
        self._offload = Offload(
            PUBSUB_MAX_MESSAGE_SIZE,
            payload_store,
            self.limits,
            hint="set large_payload_bucket to send it through Cloud Storage",
        )
        self.max_message_size = self._offload.max_message_size

        self._uid = ""
        self.subscription = ""
        self._publisher: PublisherAsyncClient | None = None
        self._subscriber: SubscriberAsyncClient | None = None
        self._inbox: Inbox | None = None
        self._link = LinkState("pubsub", log=logger)
        self._tasks = TaskSet("pubsub")
        self._calls: Counter[str] = Counter()
        self._outbox: list[_Outgoing] = []
        self._outbox_ready = asyncio.Event()
        self._room = asyncio.Semaphore(max_pending)
        self._batches: asyncio.Queue[list[types.ReceivedMessage]] = asyncio.Queue(2)
        self._pending_acks: list[str] = []
        self._acks_due = asyncio.Event()
        self._subscription_ready = asyncio.Event()
        self._recovering: asyncio.Task[None] | None = None
        self._probe: tuple[str, asyncio.Future[None]] | None = None
        self._filtered = False
        self._refresh_labels = True
        self._opened = False
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------------ properties

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def filtered(self) -> bool:
        """Whether the node's subscription was created with its filter."""
        return self._filtered

    @property
    def stats(self) -> Mapping[str, int]:
        counts = Counter(self._calls)
        if self._inbox is not None:
            counts.update(self._inbox.stats)
        return dict(counts)

    # ------------------------------------------------------------------------ clients

    def _channel(self, transport_class: Any) -> Any:
        if self.emulator_host:
            channel = grpc.aio.insecure_channel(self.emulator_host, options=_CHANNEL_OPTIONS)
            return transport_class(host=self.emulator_host, channel=channel)
        channel = transport_class.create_channel(
            credentials=self._credentials, options=_CHANNEL_OPTIONS
        )
        return transport_class(channel=channel)

    async def open_publisher(self) -> None:
        if self._closed:
            raise TransportError("the Pub/Sub transport is closed")
        if self._opened:
            return
        self._opened = True
        self._publisher = PublisherAsyncClient(
            transport=self._channel(PublisherGrpcAsyncIOTransport)
        )
        self._tasks.spawn(self._send_loop(), name="pubsub-send")

    def _subscriber_client(self) -> SubscriberAsyncClient:
        if self._subscriber is None:
            self._subscriber = SubscriberAsyncClient(
                transport=self._channel(SubscriberGrpcAsyncIOTransport)
            )
        return self._subscriber

    async def _call(self, name: str, coro: Any) -> Any:
        """Await one API call, counted in :attr:`stats`."""
        self._calls[name] += 1
        return await coro

    # ------------------------------------------------------------------------ lifecycle

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise TransportError("the Pub/Sub transport was already started")
        self._started = True
        self._uid = uid
        self.subscription = subscription_path(
            self.project, node_subscription_id(self.subscription_prefix, uid)
        )
        self._inbox = Inbox("pubsub", on_message, uid=uid)
        await self.open_publisher()
        try:
            await self._create_subscription()
        except Exception as exc:
            self._link.failed("pull", exc)
            await self.abort()  # nothing to delete: the subscription does not exist
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"cannot create the subscription: {exc}") from exc
        self._subscription_ready.set()
        self._tasks.spawn(self._pull_loop(), name="pubsub-pull")
        self._tasks.spawn(self._dispatch_loop(), name="pubsub-dispatch")
        self._tasks.spawn(self._liveness_loop(), name="pubsub-liveness")
        self._tasks.spawn(self._ack_loop(), name="pubsub-ack")
        try:
            await self._confirm_delivery(self.ready_timeout)
        except BaseException:
            await self.close()
            raise
        logger.info("node %s consumes %s (filter: %s)", uid, self.subscription, self._filtered)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._shutdown()
        if self.subscription and self._subscriber is not None:
            try:
                await self._call(
                    "DeleteSubscription",
                    self._subscriber.delete_subscription(
                        subscription=self.subscription, retry=None, timeout=5.0
                    ),
                )
            except gexc.NotFound:
                pass
            except Exception as exc:
                logger.warning("could not delete %s: %s", self.subscription, exc)
        await self._close_clients()

    async def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._shutdown()
        await self._close_clients()

    async def _shutdown(self) -> None:
        self._link.close()
        if self._recovering is not None:
            self._recovering.cancel()
        await self._tasks.stop()
        for item in self._outbox:
            if not item.done.done():
                item.done.set_exception(TransportError("the Pub/Sub transport is closed"))
        self._outbox.clear()

    async def _close_clients(self) -> None:
        for client in (self._publisher, self._subscriber):
            if client is not None:
                try:
                    await client.transport.close()  # type: ignore[no-untyped-call]
                except Exception as exc:  # closing is best effort
                    logger.debug("closing a gRPC channel: %s", exc)

    # ------------------------------------------------------------------------ resources

    async def _ensure_topic(self) -> None:
        assert self._publisher is not None
        try:
            await self._call(
                "CreateTopic",
                self._publisher.create_topic(name=self.topic, timeout=self.publish_timeout),
            )
            logger.info("created topic %s", self.topic)
        except gexc.AlreadyExists:
            pass

    def _subscription_spec(self, with_filter: bool) -> types.Subscription:
        labels = {
            **self.labels,
            LABEL_NODE: self._uid,
            LABEL_TOPIC: label_value(self.topic.rsplit("/", 1)[-1]),
            LABEL_ALIVE: alive_mark(),
        }
        return types.Subscription(
            name=self.subscription,
            topic=self.topic,
            labels=labels,
            ack_deadline_seconds=self.ack_deadline,
            message_retention_duration={"seconds": self.message_retention},
            expiration_policy=types.ExpirationPolicy(ttl={"seconds": self.expiration_ttl}),
            filter=subscription_filter(self._uid) if with_filter else "",
        )

    async def _create_subscription(self) -> None:
        """Create the node's subscription (and the topic, when allowed and missing)."""
        subscriber = self._subscriber_client()
        if self.create_topic:
            await self._ensure_topic()
        with_filter = self.use_filter
        while True:
            try:
                await self._call(
                    "CreateSubscription",
                    subscriber.create_subscription(
                        request=self._subscription_spec(with_filter), timeout=self.publish_timeout
                    ),
                )
            except gexc.AlreadyExists:
                pass  # ours: the uid is random (a re-creation raced with another)
            except gexc.NotFound as exc:
                raise TransportError(
                    f"topic {self.topic} does not exist (create it, or pass create_topic=True)"
                ) from exc
            except (gexc.InvalidArgument, gexc.ResourceExhausted) as exc:
                if not with_filter:
                    raise
                # a filter Pub/Sub refuses (syntax, quota): receipt filtering still applies
                logger.warning("subscription filter refused (%s); filtering on receipt", exc)
                with_filter = False
                continue
            self._filtered = with_filter
            return

    # ------------------------------------------------------------------------ probe

    async def _confirm_delivery(self, timeout: float) -> None:
        """Publish probes until one comes back through the node's subscription."""
        token = secrets.token_hex(8)
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probe = (token, arrived)
        deadline = time.monotonic() + timeout
        wait = 0.5
        try:
            while time.monotonic() < deadline:
                probe = types.PubsubMessage(
                    data=probe_data(),
                    attributes={
                        ATTR_UID: PROBE_SENDER,
                        ATTR_REQUESTER: self._uid,
                        ATTR_PROBE: token,
                    },
                )
                try:
                    await self._send(probe, len(probe.data))
                except TransportError as exc:
                    logger.debug("probe not published: %s", exc)
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(asyncio.shield(arrived), min(wait, remaining))
                    return
                except asyncio.TimeoutError:
                    wait = min(wait * 2, 5.0)
        finally:
            self._probe = None
        raise TransportError(f"{self.subscription} delivered nothing within {timeout:g} s")

    # ------------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        await self._publish(message, None)
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        await self._publish(message, requester_uid)

    async def _publish(self, message: ClusterMessage, requester_uid: str | None) -> None:
        if self._closed:
            raise TransportError("the Pub/Sub transport is closed")
        await self.open_publisher()
        data, attributes = encode_message(message, requester_uid)
        size = message_size(data, attributes)
        if not self._offload.fits(size):
            payload = protocol.encode_data(message.data or {})
            attributes[ATTR_PAYLOAD] = await self._offload.store_payload(message.uid, payload, size)
            data = encode_head(message)
            size = message_size(data, attributes)
        elif len(data) > self.limits.max_message_size:
            raise PayloadTooLarge(
                len(data), self.limits.max_message_size, "receivers would drop it"
            )
        await self._send(types.PubsubMessage(data=data, attributes=attributes), size)

    async def _send(self, message: types.PubsubMessage, size: int) -> None:
        """Queue ``message`` for the sender loop and wait until Pub/Sub took it."""
        await self._room.acquire()
        try:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._outbox.append(_Outgoing(message, size, done))
            self._outbox_ready.set()
            await asyncio.shield(done)
        finally:
            self._room.release()

    def _take_batch(self) -> list[_Outgoing]:
        batch: list[_Outgoing] = []
        total = 0
        for item in self._outbox:
            if batch and (
                len(batch) == _MAX_BATCH_MESSAGES
                or total + item.size > PUBSUB_MAX_REQUEST_SIZE - 64 * len(batch)
            ):
                break
            batch.append(item)
            total += item.size
        del self._outbox[: len(batch)]
        if not self._outbox:
            self._outbox_ready.clear()
        return batch

    async def _send_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            batch = self._take_batch()
            if not batch:
                continue
            try:
                await self._publish_batch([item.message for item in batch])
            except asyncio.CancelledError:
                # closing: nobody must wait forever for a batch that will not be sent
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(TransportError("the Pub/Sub transport closed"))
                raise
            except Exception as exc:
                self._link.failed("publish", exc)
                error = TransportError(f"cannot publish to {self.topic}: {exc}")
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(error)
                continue
            self._link.ok("publish")
            for item in batch:
                if not item.done.done():
                    item.done.set_result(None)

    async def _publish_batch(self, messages: list[types.PubsubMessage]) -> None:
        assert self._publisher is not None
        deadline = time.monotonic() + self.publish_timeout
        backoff = Backoff(0.1, 2.0)
        recreated = False
        while True:
            remaining = deadline - time.monotonic()
            try:
                await self._call(
                    "Publish",
                    self._publisher.publish(
                        topic=self.topic,
                        messages=messages,
                        retry=None,
                        timeout=max(remaining, 0.5),
                    ),
                )
                return
            except gexc.NotFound:
                if not self.create_topic or recreated:
                    raise
                recreated = True  # the topic we may create is gone (a broker restart)
                await self._ensure_topic()
            except _TRANSIENT:
                delay = backoff.next_delay()
                if time.monotonic() + delay >= deadline:
                    raise
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------------ receiving

    async def _pull_loop(self) -> None:
        subscriber = self._subscriber_client()
        backoff = Backoff(0.1, 10.0)
        while True:
            await self._subscription_ready.wait()
            try:
                response = await self._call(
                    "Pull",
                    subscriber.pull(
                        subscription=self.subscription,
                        max_messages=self.max_messages,
                        retry=None,
                        timeout=self.pull_timeout,
                    ),
                )
            except gexc.DeadlineExceeded:
                self._link.ok("pull")  # an empty long poll
                backoff.reset()
                continue
            except gexc.NotFound as exc:
                self._link.failed("pull", exc)
                self._recover(f"{self.subscription} no longer exists")
                # a re-created subscription may take a moment to be pullable: no busy loop
                await asyncio.sleep(backoff.next_delay())
                continue
            except Exception as exc:
                self._link.failed("pull", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._link.ok("pull")
            received = list(response.received_messages)
            if received:
                self._pending_acks += [m.ack_id for m in received]
                self._acks_due.set()
                await self._batches.put(received)

    async def _ack_loop(self) -> None:
        """Acknowledge what was pulled, in one call per ``ack_delay`` (at most 1,000 ids
        a call: a request stays far below Pub/Sub's 512 KB for acknowledgements)."""
        while True:
            await self._acks_due.wait()
            if self.ack_delay and len(self._pending_acks) < _MAX_ACKS:
                await asyncio.sleep(self.ack_delay)
            ack_ids = self._pending_acks[:_MAX_ACKS]
            del self._pending_acks[:_MAX_ACKS]
            if not self._pending_acks:
                self._acks_due.clear()
            if ack_ids:
                await self._acknowledge(ack_ids)

    async def _acknowledge(self, ack_ids: list[str]) -> None:
        subscriber = self._subscriber_client()
        try:
            await self._call(
                "Acknowledge",
                subscriber.acknowledge(
                    subscription=self.subscription, ack_ids=ack_ids, timeout=self.publish_timeout
                ),
            )
        except Exception as exc:
            # at worst Pub/Sub redelivers them after the ack deadline
            logger.debug("could not acknowledge %d messages: %s", len(ack_ids), exc)

    async def _dispatch_loop(self) -> None:
        while True:
            batch = await self._batches.get()
            for received in batch:
                await self._handle(received.message)

    async def _handle(self, message: types.PubsubMessage) -> None:
        assert self._inbox is not None
        attributes = dict(message.attributes)
        what = classify(attributes, self._uid)
        if what.kind == "skip":
            self._calls["skipped"] += 1
            return
        if what.kind == "probe":
            probe = self._probe
            if probe is not None and probe[0] == what.token and not probe[1].done():
                probe[1].set_result(None)
            return
        data = bytes(message.data)
        pointer = what.pointer
        limits = self.limits
        if pointer is None:
            await self._inbox.accept(
                lambda: decode_envelope(data, attributes, limits), size=len(data)
            )
            return

        async def fetch_and_decode() -> ClusterMessage:
            payload = await self._offload.fetch_payload(pointer)
            return decode_envelope(data, attributes, limits, payload)

        await self._inbox.accept(fetch_and_decode)

    # ------------------------------------------------------------------------ recovery

    def _recover(self, reason: str) -> None:
        """Re-create the node's subscription, once, however many loops noticed."""
        if self._closed or self._recovering is not None:
            return
        self._subscription_ready.clear()
        logger.warning("%s; re-creating it", reason)
        self._recovering = asyncio.ensure_future(self._rebuild())

    async def _rebuild(self) -> None:
        backoff = Backoff(0.2, 10.0)
        try:
            while True:
                try:
                    await self._create_subscription()
                    break
                except Exception as exc:
                    self._link.failed("pull", exc)
                    log = logger.warning if backoff.failures == 0 else logger.debug
                    log("cannot re-create %s yet: %s", self.subscription, exc)
                    await asyncio.sleep(backoff.next_delay())
            logger.info("%s is back", self.subscription)
            self._subscription_ready.set()
        finally:
            self._recovering = None

    async def _liveness_loop(self) -> None:
        """Refresh the alive label; notice a subscription that vanished."""
        subscriber = self._subscriber_client()
        while True:
            await asyncio.sleep(self.liveness_interval)
            await self._subscription_ready.wait()
            if not self._refresh_labels:
                continue
            spec = self._subscription_spec(self._filtered)
            try:
                await self._call(
                    "UpdateSubscription",
                    subscriber.update_subscription(
                        subscription=types.Subscription(name=spec.name, labels=spec.labels),
                        update_mask={"paths": ["labels"]},
                        timeout=self.publish_timeout,
                    ),
                )
            except gexc.NotFound:
                self._recover(f"{self.subscription} no longer exists")
            except (gexc.InvalidArgument, gexc.MethodNotImplemented) as exc:
                # the emulator cannot update labels; the expiration policy still applies
                logger.info("cannot refresh the alive label (%s); not trying again", exc)
                self._refresh_labels = False
            except Exception as exc:
                logger.warning("could not refresh the alive label of %s: %s", spec.name, exc)


class PubSubManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` over Google Cloud Pub/Sub.

    Each node pulls its own subscription of the cluster's topic; Node servers using
    ``@socket.io/gcp-pubsub-adapter`` on the same topic are part of the same cluster.

    >>> mgr = PubSubManager(project="my-project", topic="socket-io")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    Broker options are those of :class:`PubSubTransport`; the others go to
    :class:`~socketio_cloud.cluster.ClusterManager` (``heartbeat_interval``, ...).
    """

    transport: PubSubTransport

    def __init__(
        self,
        *,
        project: str,
        topic: str,
        subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
        create_topic: bool = False,
        labels: Mapping[str, str] | None = None,
        ack_deadline: int = DEFAULT_ACK_DEADLINE,
        message_retention: int = DEFAULT_MESSAGE_RETENTION,
        expiration_ttl: int = DEFAULT_EXPIRATION_TTL,
        use_filter: bool = True,
        liveness_interval: float = DEFAULT_LIVENESS_INTERVAL,
        max_messages: int = 100,
        ack_delay: float = 1.0,
        pull_timeout: float = 30.0,
        publish_timeout: float = 10.0,
        max_pending: int = 10_000,
        large_payload_bucket: str | None = None,
        large_payload_prefix: str = "socketio-cloud/",
        payload_store: PayloadStore | None = None,
        emulator_host: str | None = None,
        credentials: Credentials | None = None,
        ready_timeout: float = 30.0,
        **cluster: Unpack[ClusterOptions],
    ) -> None:
        transport = PubSubTransport(
            project=project,
            topic=topic,
            subscription_prefix=subscription_prefix,
            create_topic=create_topic,
            labels=labels,
            ack_deadline=ack_deadline,
            message_retention=message_retention,
            expiration_ttl=expiration_ttl,
            use_filter=use_filter,
            liveness_interval=liveness_interval,
            max_messages=max_messages,
            ack_delay=ack_delay,
            pull_timeout=pull_timeout,
            publish_timeout=publish_timeout,
            max_pending=max_pending,
            large_payload_bucket=large_payload_bucket,
            large_payload_prefix=large_payload_prefix,
            payload_store=payload_store,
            emulator_host=emulator_host,
            credentials=credentials,
            ready_timeout=ready_timeout,
            limits=cluster.get("limits"),
        )
        super().__init__(transport, **cluster)


class PubSubEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` that publishes to a cluster's topic.

    Needs only ``pubsub.topics.publish`` (and ``storage.objects.create`` with a
    ``large_payload_bucket``).

    >>> emitter = PubSubEmitter(project="my-project", topic="socket-io")
    >>> await emitter.to("room1").emit("hello", "world")
    """

    transport: PubSubTransport

    def __init__(
        self,
        *,
        project: str,
        topic: str,
        publish_timeout: float = 10.0,
        max_pending: int = 10_000,
        large_payload_bucket: str | None = None,
        large_payload_prefix: str = "socketio-cloud/",
        payload_store: PayloadStore | None = None,
        emulator_host: str | None = None,
        credentials: Credentials | None = None,
        namespace: str = "/",
        limits: protocol.Limits | None = None,
    ) -> None:
        super().__init__(
            PubSubTransport(
                project=project,
                topic=topic,
                publish_timeout=publish_timeout,
                max_pending=max_pending,
                large_payload_bucket=large_payload_bucket,
                large_payload_prefix=large_payload_prefix,
                payload_store=payload_store,
                emulator_host=emulator_host,
                credentials=credentials,
                limits=limits,
            ),
            namespace=namespace,
        )
