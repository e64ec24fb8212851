"""Azure Service Bus transport: one topic per cluster, one subscription per node.

Wire-compatible with Node's ``@socket.io/azure-service-bus-adapter`` (framing in
:mod:`socketio_cloud.transports.servicebus.framing`), so Python and Node nodes share a topic.

What a node does:

- :meth:`~ServiceBusTransport.start` finds the topic (creating it when ``create_topic`` is
  true and it is missing), creates the subscription ``<subscription_prefix>-<uid>`` with a
  short ``default_message_time_to_live`` and ``auto_delete_on_idle`` (Service Bus deletes an
  abandoned subscription by itself), puts the SQL rule
  ``uid <> '<uid>' AND (requesterUid IS NULL OR requesterUid = '<uid>')`` in place of the
  match-all ``$Default`` rule (the node is not billed for its own messages nor for responses
  meant for others; it filters on receipt too), and opens its receiver. Messages published
  after the subscription exists wait in it, so ``start()`` returning means deliverable.
- It receives in batches (``receive_batch_size`` messages or ``max_wait_time`` seconds per
  call) in **receive-and-delete** mode: Service Bus removes a message as it hands it over, so a
  broadcast is never redelivered minutes later (peek-lock would redeliver whatever a node did
  not complete in time, after the lock expired) and no settlement call is made per message.
  What a node had received but not yet handled when it crashed is lost, as it would be for
  its clients anyway.
- Receive errors are retried with backoff (0.1 s to 10 s, jittered); each retry first makes
  sure the subscription exists (re-creating it when Service Bus or the cleanup deleted it)
  and opens a new receiver. :attr:`connected` follows every send and receive.
- Payloads over ``max_message_size`` (256 KB, the Standard tier's limit) go to a payload store
  (:class:`BlobPayloadStore` with ``large_payload_container``) or raise
  :class:`~socketio_cloud.exceptions.PayloadTooLarge`.
- :meth:`close` deletes the subscription; :meth:`abort` leaves it to ``auto_delete_on_idle``
  and :mod:`socketio_cloud.cleanup.azure`.

Roles and claims: :mod:`socketio_cloud.brokers.servicebus`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.aio.management import ServiceBusAdministrationClient
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusError,
)

from ... import protocol
from ...brokers.servicebus import (
    DEFAULT_AUTO_DELETE_ON_IDLE,
    DEFAULT_MESSAGE_TIME_TO_LIVE,
    DEFAULT_SUBSCRIPTION_PREFIX,
    DEFAULT_TOPIC_NAME,
    MIN_AUTO_DELETE_ON_IDLE,
    STANDARD_MAX_MESSAGE_SIZE,
    check_subscription_prefix,
    node_subscription_name,
)
from ...exceptions import PayloadTooLarge, TransportError
from ...offload import Offload, PayloadStore
from ...protocol import ClusterMessage, Limits
from ...runtime import Backoff, Inbox, LinkState
from ...tasks import TaskSet
from ...transport import MembershipKind, MessageHandler, Transport
from .blob import BlobPayloadStore
from .framing import (
    Frame,
    Received,
    decode_envelope,
    encode_frame,
    offloaded_frame,
    published_size,
    read_frame,
)
from .resources import NodeResources

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.servicebus import ServiceBusReceivedMessage

__all__ = ["ServiceBusTransport"]

logger = logging.getLogger("socketio_cloud.transports.servicebus")

# The SDK retries each operation itself; a few quick tries, then the transport's own backoff
# (the SDK's default of 3 tries backing off up to 120 s would hide an outage for minutes).
_CLIENT_RETRY = {"retry_total": 2, "retry_backoff_factor": 0.2, "retry_backoff_max": 2.0}
# Times start() creates the subscription and opens its receiver before it gives up.
_START_ATTEMPTS = 3
_BACKOFF_FIRST = 0.1
_BACKOFF_CAP = 10.0


class ServiceBusTransport(Transport):
    """One node's (or an emitter's) link to a Service Bus topic.

    Credentials: ``connection_string`` (a shared access policy with Manage, Send and Listen
    for a node, Send for an emitter), or ``fully_qualified_namespace``
    (``<name>.servicebus.windows.net``) with an ``azure-identity`` ``credential`` (default:
    ``DefaultAzureCredential()``, i.e. a managed identity on Azure).

    :param topic_name: the cluster's topic (Node ``topicName``, default ``"socket.io"``).
    :param subscription_prefix: node subscriptions are ``<prefix>-<uid>`` (Node
        ``subscriptionPrefix``, default ``"socket.io"``); at most 33 characters.
    :param create_topic: create the topic when it is missing (Node always tries); False when
        the topic is deployed and the node may not create it.
    :param message_time_to_live: seconds a message waits in a node's subscription (default
        60; Node leaves Service Bus's default, practically forever).
    :param auto_delete_on_idle: seconds after which Service Bus deletes a subscription nobody
        receives from (default and minimum 300; Node sets none).
    :param receive_batch_size: messages per receive call (default 100; Node receives one at a
        time).
    :param max_wait_time: seconds a receive call waits for a first message (default 5).
    :param max_message_size: the broker's limit in bytes (default 262,144, Standard tier;
        Premium entities allow more).
    :param payload_store: where messages over ``max_message_size`` go (every node and emitter
        of the cluster must use the same); or ``large_payload_container`` (a Blob container
        name) with ``large_payload_account_url`` (``https://<account>.blob.core.windows.net``)
        to use a :class:`BlobPayloadStore` with ``credential`` (or
        ``DefaultAzureCredential()``). Without either, such messages raise
        :class:`PayloadTooLarge` (Node has no size check).
    :param admin_connection_string: connection string for the administration client when it
        differs from ``connection_string`` (a test double serving it on its own port).
    :param client_options: keyword arguments for ``ServiceBusClient`` (e.g. ``retry_total``).
    :param admin_options: keyword arguments for ``ServiceBusAdministrationClient`` (e.g.
        ``connection_verify=<CA file>``).
    :param limits: bounds for decoding untrusted messages.
    """

    membership: ClassVar[MembershipKind] = "heartbeats"
    broker: ClassVar[str] = "servicebus"

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        fully_qualified_namespace: str | None = None,
        credential: AsyncTokenCredential | None = None,
        topic_name: str = DEFAULT_TOPIC_NAME,
        subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
        create_topic: bool = True,
        message_time_to_live: float = DEFAULT_MESSAGE_TIME_TO_LIVE,
        auto_delete_on_idle: float = DEFAULT_AUTO_DELETE_ON_IDLE,
        receive_batch_size: int = 100,
        max_wait_time: float = 5.0,
        max_message_size: int = STANDARD_MAX_MESSAGE_SIZE,
        payload_store: PayloadStore | None = None,
        large_payload_container: str | None = None,
        large_payload_account_url: str | None = None,
        admin_connection_string: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        admin_options: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
    ) -> None:
        if (connection_string is None) == (fully_qualified_namespace is None):
            raise ValueError("pass either connection_string or fully_qualified_namespace")
        if not topic_name:
            raise ValueError("topic_name must not be empty")
        check_subscription_prefix(subscription_prefix)
        if message_time_to_live < 1:
            raise ValueError("message_time_to_live must be at least 1 second")
        if auto_delete_on_idle < MIN_AUTO_DELETE_ON_IDLE:
            raise ValueError(f"auto_delete_on_idle must be at least {MIN_AUTO_DELETE_ON_IDLE:g} s")
        if receive_batch_size < 1 or max_wait_time <= 0:
            raise ValueError("receive_batch_size and max_wait_time must be positive")
        if max_message_size < 1024:
            raise ValueError("max_message_size must be at least 1024 bytes")
        if payload_store is not None and large_payload_container is not None:
            raise ValueError("pass either payload_store or large_payload_container")
        if (large_payload_container is None) != (large_payload_account_url is None):
            raise ValueError("large_payload_container needs large_payload_account_url")
        self.connection_string = connection_string
        self.fully_qualified_namespace = fully_qualified_namespace
        self.credential = credential
        self.topic_name = topic_name
        self.subscription_prefix = subscription_prefix
        self.create_topic = create_topic
        self.message_time_to_live = message_time_to_live
        self.auto_delete_on_idle = auto_delete_on_idle
        self.receive_batch_size = receive_batch_size
        self.max_wait_time = max_wait_time
        self.admin_connection_string = admin_connection_string
        self.client_options = {**_CLIENT_RETRY, **(client_options or {})}
        self.admin_options = dict(admin_options or {})
        self.limits = limits or protocol.DEFAULT_LIMITS
        if large_payload_container is not None and large_payload_account_url is not None:
            # no I/O here: the container client connects on first use
            payload_store = BlobPayloadStore.from_account(
                large_payload_account_url,
                large_payload_container,
                credential=credential,
                limits=self.limits,
            )
        self._offload = Offload(
            max_message_size,
            payload_store,
            self.limits,
            hint="set large_payload_container (or payload_store) to carry larger messages",
        )
        self.max_message_size = self._offload.max_message_size

        self._uid = ""
        self._client: ServiceBusClient | None = None
        self._resources: NodeResources | None = None
        self._sender: ServiceBusSender | None = None
        self._receiver: ServiceBusReceiver | None = None
        self._inbox: Inbox | None = None
        self._tasks = TaskSet("servicebus transport")
        self._link = LinkState("Service Bus", log=logger)
        self._send_lock = asyncio.Lock()
        self._counts: Counter[str] = Counter()
        self._opened = False
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ properties

    @property
    def subscription_name(self) -> str | None:
        """The node's subscription, once started."""
        return node_subscription_name(self.subscription_prefix, self._uid) if self._uid else None

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def stats(self) -> Mapping[str, int]:
        """Calls made (``send``, ``receive``, ``admin``), messages ``received``, subscriptions
        ``recreated``, and the inbox's ``delivered`` / ``rejected`` counts."""
        counts = Counter(self._counts)
        if self._inbox is not None:
            counts.update(self._inbox.stats)
        return dict(counts)

    # ------------------------------------------------------------------ lifecycle

    async def open_publisher(self) -> None:
        if self._closed:
            raise TransportError("the Service Bus transport is closed")
        if self._opened:
            return
        client = self._make_client()
        sender = client.get_topic_sender(self.topic_name)
        try:
            # opening the link now reports a wrong namespace, topic or key here, not later
            await sender.__aenter__()
        except (ServiceBusError, AzureError, OSError) as exc:
            self._link.failed("sender", exc)
            await self._quietly(sender.close(), "closing a sender that did not open")
            await self._quietly(client.close(), "closing the client")
            raise TransportError(
                f"cannot open a sender to topic {self.topic_name!r}: {exc}"
            ) from exc
        self._client, self._sender = client, sender
        self._opened = True
        self._link.ok("sender")

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise RuntimeError("transport already started")
        if self._closed:
            raise TransportError("the Service Bus transport is closed")
        self._uid = uid
        self._link.owner = f"node {uid}"
        self._inbox = Inbox(self.broker, on_message, uid=uid)
        self._resources = resources = NodeResources(
            self._make_admin(),
            topic_name=self.topic_name,
            subscription_prefix=self.subscription_prefix,
            uid=uid,
            message_time_to_live=self.message_time_to_live,
            auto_delete_on_idle=self.auto_delete_on_idle,
            counts=self._counts,
        )
        try:
            if self.create_topic:
                await resources.ensure_topic()
            await self.open_publisher()
            for attempt in range(_START_ATTEMPTS):
                # the subscription right before the receiver: a subscription without one is
                # idle, and idle subscriptions go away (or the cleanup raced us)
                await resources.ensure_subscription()
                try:
                    self._receiver = await self._open_receiver()
                    break
                except MessagingEntityNotFoundError:
                    if attempt + 1 == _START_ATTEMPTS:
                        raise
        except (ServiceBusError, AzureError, OSError, TransportError) as exc:
            # leave the transport as it was, so that the node can try again
            await resources.close()
            self._resources = None
            if isinstance(exc, TransportError):
                raise
            self._link.failed("receiver", exc)
            raise TransportError(f"cannot start on Service Bus: {exc}") from exc
        self._link.ok("receiver")
        self._started = True
        self._tasks.spawn(self._receive_loop(), name=f"servicebus receiver {uid}")
        logger.debug("node %s receiving from %s", uid, self.subscription_name)

    async def close(self) -> None:
        if self._closed:
            return
        await self._shut_down(delete=True)

    async def abort(self) -> None:
        if self._closed:
            return
        await self._shut_down(delete=False)

    async def _shut_down(self, *, delete: bool) -> None:
        self._closed = True
        self._link.close()
        await self._tasks.stop()
        if self._receiver is not None:
            await self._quietly(self._receiver.close(), "closing the receiver")
            self._receiver = None
        if delete and self._started and self._resources is not None:
            await self._resources.delete_subscription()
        if self._sender is not None:
            await self._quietly(self._sender.close(), "closing the sender")
        if self._client is not None:
            await self._quietly(self._client.close(), "closing the client")
        if self._resources is not None:
            await self._resources.close()
        store = self._offload.store
        if isinstance(store, BlobPayloadStore) and store.owned:
            await self._quietly(store.close(), "closing the payload store")

    @staticmethod
    async def _quietly(call: Any, what: str) -> None:
        try:
            await call
        except Exception as exc:  # closing must finish whatever the broker says
            logger.debug("%s failed: %s", what, exc)

    # ------------------------------------------------------------------ clients

    def _make_client(self) -> ServiceBusClient:
        if self.connection_string is not None:
            return ServiceBusClient.from_connection_string(
                self.connection_string, **self.client_options
            )
        assert self.fully_qualified_namespace is not None
        return ServiceBusClient(
            self.fully_qualified_namespace, self._token_credential(), **self.client_options
        )

    def _make_admin(self) -> ServiceBusAdministrationClient:
        conn_str = self.admin_connection_string or self.connection_string
        if conn_str is not None:
            return ServiceBusAdministrationClient.from_connection_string(
                conn_str, **self.admin_options
            )
        assert self.fully_qualified_namespace is not None
        return ServiceBusAdministrationClient(
            self.fully_qualified_namespace, self._token_credential(), **self.admin_options
        )

    def _token_credential(self) -> AsyncTokenCredential:
        if self.credential is None:
            from azure.identity.aio import DefaultAzureCredential

            self.credential = DefaultAzureCredential()
        return self.credential

    async def _open_receiver(self) -> ServiceBusReceiver:
        assert self._client is not None
        name = self.subscription_name
        assert name is not None
        receiver = self._client.get_subscription_receiver(
            self.topic_name,
            name,
            receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE,
            prefetch_count=0,
        )
        try:
            await receiver.__aenter__()
        except BaseException:
            await self._quietly(receiver.close(), "closing a receiver that did not open")
            raise
        return receiver

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self) -> None:
        backoff = Backoff(_BACKOFF_FIRST, _BACKOFF_CAP)
        while True:
            receiver = self._receiver
            try:
                if receiver is None:
                    assert self._resources is not None
                    if self.create_topic:
                        await self._resources.ensure_topic()
                    if await self._resources.ensure_subscription():
                        self._counts["recreated"] += 1
                        logger.warning(
                            "subscription %s was gone; re-created it", self.subscription_name
                        )
                    receiver = self._receiver = await self._open_receiver()
                    self._counts["reopened"] += 1
                self._counts["receive"] += 1
                batch = await receiver.receive_messages(
                    max_message_count=self.receive_batch_size, max_wait_time=self.max_wait_time
                )
            except (ServiceBusError, AzureError, OSError) as exc:
                self._link.failed("receiver", exc)
                if receiver is not None:
                    await self._quietly(receiver.close(), "closing a failed receiver")
                self._receiver = None
                delay = backoff.next_delay()
                logger.debug("receiving failed (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self._link.ok("receiver")
            self._counts["received"] += len(batch)
            for message in batch:
                await self._accept(message)

    async def _accept(self, message: ServiceBusReceivedMessage) -> None:
        inbox = self._inbox
        assert inbox is not None
        try:
            body = _body_bytes(message)
            received = read_frame(
                message.application_properties, body, self._uid, limits=self.limits
            )
        except Exception as exc:  # whatever a hostile message provokes, keep consuming
            inbox.reject(exc)
            return
        if received is not None:
            await inbox.accept(lambda: self._decode(received))

    async def _decode(self, received: Received) -> ClusterMessage:
        raw = received.body
        if received.pointer is not None:
            raw = await self._offload.fetch_payload(received.pointer)
        return decode_envelope(raw, limits=self.limits)

    # ------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        await self._send(encode_frame(message), message.uid)
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        await self._send(encode_frame(message, requester_uid), message.uid)

    async def _send(self, frame: Frame, sender_uid: str) -> None:
        if self._closed:
            raise TransportError("the Service Bus transport is closed")
        if not self._opened:
            await self.open_publisher()
        assert self._sender is not None
        size = published_size(frame)
        if not self._offload.fits(size):
            pointer = await self._offload.store_payload(sender_uid, frame.body, size)
            frame = offloaded_frame(frame, pointer)
        elif len(frame.body) > self.limits.max_message_size:
            # a Premium limit above the receivers' bounds
            raise PayloadTooLarge(
                len(frame.body), self.limits.max_message_size, "receivers would drop it"
            )
        outgoing = ServiceBusMessage(
            frame.body,
            application_properties=dict(frame.properties),  # type: ignore[arg-type]
        )
        self._counts["send"] += 1
        try:
            # one send at a time per link: the SDK's sender is not safe for concurrent sends
            async with self._send_lock:
                await self._sender.send_messages(outgoing)
        except MessageSizeExceededError as exc:
            # the broker counts more than we estimated (a Premium limit set too high)
            raise PayloadTooLarge(size, self._offload.broker_limit, str(exc)) from exc
        except (ServiceBusError, AzureError, OSError) as exc:
            self._link.failed("sender", exc)
            raise TransportError(f"cannot send to topic {self.topic_name!r}: {exc}") from exc
        self._link.ok("sender")


def _body_bytes(message: ServiceBusReceivedMessage) -> bytes:
    """The bytes of a message's data sections (Node sends one)."""
    body = message.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    parts = []
    for part in body:
        if not isinstance(part, (bytes, bytearray)):
            raise TypeError(f"body section of type {type(part).__name__}, not data")
        parts.append(bytes(part))
    return b"".join(parts)
