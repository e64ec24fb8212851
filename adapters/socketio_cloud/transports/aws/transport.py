"""The AWS transport: one SNS topic per cluster, one SQS queue per node.

Wire-compatible with Node's ``@socket.io/aws-sqs-adapter`` 0.1, so Python and Node nodes can
share a topic (framing: :mod:`~socketio_cloud.transports.aws.framing`). Each node owns the
queue ``<queue_prefix>-<uid>``, subscribed to the topic with raw delivery, and long-polls it
(the queue's life: :mod:`~socketio_cloud.transports.aws.lifecycle`).

What this transport adds to the Node design:

- The subscription carries an SNS filter policy, so a node's queue never receives the
  node's own messages nor responses meant for others.
- :meth:`AwsSqsTransport.start` returns once a probe published to the topic came back
  through the node's own queue, i.e. once the subscription really delivers.
- Delivery is at most once (a broadcast delivered twice minutes later would be worse than a
  lost one), so deletes can be batched across receives: 10 at a time, or once the oldest
  waited ``delete_delay``.
- While the cluster is idle, a receive that brought heartbeats only waits ``idle_coalesce``
  so that the next receive takes the other nodes' heartbeats of the same tick at once.
- Messages over SNS's 256 KiB go through S3 when ``large_payload_bucket`` is set
  (:mod:`~socketio_cloud.transports.aws.payloads`); otherwise the emitting call raises
  :class:`~socketio_cloud.exceptions.PayloadTooLarge`.
- Lost queues and subscriptions are re-created; receive errors are retried with backoff
  (0.1 s to 10 s, jittered) and reported by :attr:`AwsSqsTransport.connected`. A publish
  that still fails after botocore's retries (standard mode, 3 attempts, on the clients made
  here) raises :class:`~socketio_cloud.exceptions.TransportError`.

Permissions: :data:`~socketio_cloud.brokers.aws.NODE_ACTIONS` and the other action lists of
:mod:`socketio_cloud.brokers.aws`. API calls per broadcast and per idle node-hour, ours and
Node's: :func:`~socketio_cloud.brokers.aws.our_costs` and
:func:`~socketio_cloud.brokers.aws.node_design_costs` (the cost model the benchmarks report
against); :attr:`AwsSqsTransport.stats` counts the calls actually made.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from ... import protocol
from ...brokers.aws import (
    DEFAULT_DELETE_DELAY,
    DEFAULT_IDLE_COALESCE,
    DEFAULT_LIVENESS_INTERVAL,
    DEFAULT_QUEUE_PREFIX,
    DEFAULT_TOPIC_NAME,
    DEFAULT_WAIT_TIME,
    MISSING_QUEUE_CODES,
    NOT_FOUND_CODES,
    QUEUE_PREFIX_PATTERN,
    SNS_MAX_MESSAGE_SIZE,
    error_code,
    parse_topic_arn,
    resolve_region,
)
from ...dev.aws import MOTO_BINARY_ATTRIBUTE_WARNING, is_moto_binary_attribute_error
from ...exceptions import DecodeError, PayloadTooLarge, TransportError
from ...offload import Offload
from ...protocol import ClusterMessage
from ...runtime import Backoff, Inbox, LinkState, bounded, report_failure
from ...tasks import TaskSet
from ...transport import MessageHandler, Transport
from . import framing
from .calls import AwsCalls
from .lifecycle import QueueLifecycle, QueueSettings
from .payloads import S3PayloadStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["AwsSqsTransport"]

logger = logging.getLogger("socketio_cloud.transports.aws")

# Threads beyond the pollers: publishes run concurrently, plus deletes, S3 and liveness.
_EXTRA_THREADS = 8
# SNS PublishBatch: at most 10 entries and 256 KiB (all entries together) per call.
SNS_BATCH_ENTRIES = 10
SNS_BATCH_SIZE = SNS_MAX_MESSAGE_SIZE


class AwsSqsTransport(Transport):
    """A node's connection to an SNS topic, through its own SQS queue.

    :param topic_name: topic to create (or find: CreateTopic is idempotent) when no
        ``topic_arn`` is given (Node ``topicName``, default ``"socket-io"``).
    :param topic_arn: an existing topic; no ``sns:CreateTopic`` permission needed.
    :param topic_tags: tags for a topic this transport creates (Node ``topicTags``); all
        nodes must pass the same ones.
    :param queue_prefix: the node's queue is ``<queue_prefix>-<uid>`` (Node ``queuePrefix``,
        default ``"socket-io"``).
    :param queue_tags: extra tags for the queue (Node ``queueTags``).
    :param message_retention: seconds a message waits in a queue (SQS allows 60 to
        1209600; Node keeps SQS's default of 4 days).
    :param wait_time: long-poll seconds, 1 to 20 (Node: 5).
    :param pollers: concurrent receive loops on the queue (Node: 1). Messages are still
        dispatched one at a time, in the order they were received; but two batches received
        at the same moment may be dispatched in either order, so keep 1 unless one loop
        cannot keep up (SQS standard queues order messages on a best-effort basis only).
    :param liveness_interval: seconds between refreshes of the queue's alive tag, which the
        cleanup function reads (no Node counterpart).
    :param delete_delay: received messages are deleted in batches of 10, or once the oldest
        waited this long (0: after every receive, as Node does).
    :param idle_coalesce: while the cluster is idle (nothing but heartbeats received for
        ``idle_after`` seconds), wait this long after a receive that brought only
        heartbeats, so that one more receive collects the heartbeats the other nodes sent
        at the same tick (0: receive again at once, as Node does).
    :param idle_after: seconds without other messages after which the queue counts as idle.
    :param batch_size: most messages per SNS call (1 to 10). Publishes of the same loop turn,
        and those made while earlier calls are on their way, share a ``PublishBatch`` call
        of up to this many entries and 256 KiB; 1 sends each with ``Publish`` (as Node does).
    :param publish_concurrency: SNS publish calls in flight at once (at least 1). A standard
        topic does not keep order anyway; with 1, calls go one after the other, in order.
    :param large_payload_bucket: S3 bucket for messages over SNS's 256 KiB (ours only).
    :param large_payload_prefix: key prefix of those objects in the bucket.
    :param manage_payload_lifecycle: add an expiry rule for that prefix to the bucket.
    :param ready_timeout: seconds :meth:`start` waits for the subscription to deliver.
    :param session: boto3 session to make clients from (default: a new one).
    :param sqs_client: ready-made clients to use instead (thread-safe boto3 clients; give
        their ``read_timeout`` more than ``wait_time``); also ``sns_client``, ``s3_client``.
    :param endpoint_url: endpoint for the clients made here (e.g. a local emulator).
    :param region_name: region for the clients made here. Without it: the region of
        ``topic_arn``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else ``session``'s
        and boto3's configuration. It must agree with the region of ``topic_arn``.
    :param limits: bounds for decoding untrusted messages.
    """

    broker = "aws"

    def __init__(
        self,
        *,
        topic_name: str = DEFAULT_TOPIC_NAME,
        topic_arn: str | None = None,
        topic_tags: Mapping[str, str] | None = None,
        queue_prefix: str = DEFAULT_QUEUE_PREFIX,
        queue_tags: Mapping[str, str] | None = None,
        message_retention: int = 300,
        wait_time: int = DEFAULT_WAIT_TIME,
        pollers: int = 1,
        liveness_interval: float = DEFAULT_LIVENESS_INTERVAL,
        delete_delay: float = DEFAULT_DELETE_DELAY,
        idle_coalesce: float = DEFAULT_IDLE_COALESCE,
        idle_after: float = 10.0,
        batch_size: int = SNS_BATCH_ENTRIES,
        publish_concurrency: int = 4,
        large_payload_bucket: str | None = None,
        large_payload_prefix: str = "socketio-cloud/",
        manage_payload_lifecycle: bool = False,
        ready_timeout: float = 30.0,
        session: boto3.session.Session | None = None,
        sqs_client: SQSClient | None = None,
        sns_client: SNSClient | None = None,
        s3_client: S3Client | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        limits: protocol.Limits | None = None,
    ) -> None:
        if not QUEUE_PREFIX_PATTERN.match(queue_prefix):
            raise ValueError("queue_prefix: 1 to 63 letters, digits, '-' or '_'")
        if not 60 <= message_retention <= 1_209_600:
            raise ValueError("message_retention must be between 60 and 1209600 seconds")
        if not 1 <= wait_time <= 20:
            raise ValueError("wait_time must be between 1 and 20 seconds")
        if pollers < 1:
            raise ValueError("pollers must be at least 1")
        if not 1 <= batch_size <= SNS_BATCH_ENTRIES:
            raise ValueError(f"batch_size must be between 1 and {SNS_BATCH_ENTRIES}")
        if publish_concurrency < 1:
            raise ValueError("publish_concurrency must be at least 1")
        if liveness_interval <= 0 or delete_delay < 0 or ready_timeout <= 0:
            raise ValueError("liveness_interval and ready_timeout must be > 0, delete_delay >= 0")
        region_name = _client_region(topic_arn, region_name, session, sns_client)
        self.topic_name = topic_name
        self.topic_tags = dict(topic_tags or {})
        self.queue_prefix = queue_prefix
        self.queue_tags = dict(queue_tags or {})
        self.message_retention = message_retention
        self.wait_time = wait_time
        self.pollers = pollers
        self.liveness_interval = liveness_interval
        self.delete_delay = delete_delay
        self.idle_coalesce = idle_coalesce
        self.idle_after = idle_after
        self.ready_timeout = ready_timeout
        self.batch_size = batch_size
        self.publish_concurrency = publish_concurrency
        self.limits = limits or protocol.DEFAULT_LIMITS
        self._calls = AwsCalls(
            threads=pollers + _EXTRA_THREADS + publish_concurrency,
            read_timeout=wait_time + 10,
            session=session,
            sqs_client=sqs_client,
            sns_client=sns_client,
            s3_client=s3_client,
            endpoint_url=endpoint_url,
            region_name=region_name,
        )
        self._store: S3PayloadStore | None = None
        if large_payload_bucket:
            self._store = S3PayloadStore(
                self._calls, large_payload_bucket, prefix=large_payload_prefix, limits=self.limits
            )
        self._offload = Offload(
            SNS_MAX_MESSAGE_SIZE,
            self._store,
            self.limits,
            hint="set large_payload_bucket to send it via S3",
        )
        self._manage_lifecycle = manage_payload_lifecycle
        self.max_message_size = self._offload.max_message_size

        self._tasks = TaskSet("aws transport")
        self._link = LinkState("AWS", log=logger)
        self._queues = QueueLifecycle(
            self._calls,
            QueueSettings(
                topic_name=topic_name,
                topic_tags=self.topic_tags,
                queue_prefix=queue_prefix,
                queue_tags=self.queue_tags,
                message_retention=message_retention,
                liveness_interval=liveness_interval,
                ready_timeout=ready_timeout,
            ),
            topic_arn=topic_arn,
            link=self._link,
            tasks=self._tasks,
        )
        self._uid = ""
        self._inbox: Inbox | None = None
        self._last_busy = 0.0
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._batches: asyncio.Queue[tuple[str, list[dict[str, Any]]]] = asyncio.Queue(pollers)
        # messages waiting for the writer, in publish order, and the calls in flight
        self._outbox: list[_Outgoing] = []
        self._writer: asyncio.Task[None] | None = None
        self._in_flight = asyncio.Semaphore(publish_concurrency)
        self._sending: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------------ properties

    @property
    def topic_arn(self) -> str | None:
        """The cluster's topic (found or created by :meth:`open_publisher` without an ARN)."""
        return self._queues.topic_arn

    @property
    def connected(self) -> bool:
        """Whether the last receive and the last publish reached AWS."""
        return self._link.connected

    @property
    def stats(self) -> dict[str, int]:
        """AWS API calls made so far, by ``"<service>:<Operation>"`` (what AWS bills)."""
        return self._calls.stats

    @property
    def queue_url(self) -> str | None:
        """The URL of the node's queue, once started."""
        queue = self._queues.queue
        return queue.url if queue else None

    @property
    def subscription_arn(self) -> str | None:
        """The ARN of the subscription feeding the node's queue, once started."""
        queue = self._queues.queue
        return queue.subscription_arn if queue else None

    @property
    def filtered(self) -> bool:
        """Whether the subscription carries the filter policy."""
        return self._queues.filtered

    # ------------------------------------------------------------------------ lifecycle

    async def open_publisher(self) -> None:
        """Make the clients and find (or create) the topic."""
        if self._opened:
            return
        async with self._open_lock:
            if self._opened:
                return
            if self._closed:
                raise TransportError("the AWS transport is closed")
            try:
                await self._calls.open("sns", *(("s3",) if self._store else ()))
                if self._queues.creates_topic:
                    await self._queues.create_topic()
                if self._store is not None and self._manage_lifecycle:
                    await self._store.ensure_lifecycle_rule()
            except TransportError:
                raise
            except Exception as exc:
                raise TransportError(f"cannot open the AWS transport: {exc}") from exc
            self._opened = True
            self._link.ok("publish")

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise TransportError("the AWS transport was already started")
        self._started = True
        self._uid = uid
        self._link.owner = f"node {uid}"
        self._inbox = Inbox(self.broker, on_message, uid=uid)
        try:
            await self.open_publisher()
            await self._calls.open("sqs")
            queue = await self._queues.open(uid)
            for i in range(self.pollers):
                self._tasks.spawn(self._poll_loop(), name=f"aws poller {i}")
            self._tasks.spawn(self._dispatch_loop(), name="aws dispatcher")
            await self._queues.confirm_delivery(self.ready_timeout)
            self._tasks.spawn(self._queues.liveness_loop(), name="aws liveness")
        except BaseException as exc:
            # Leave nothing behind and allow another try (the core retries ready()).
            await self._tasks.stop()
            await self._queues.delete()
            self._started = False
            if isinstance(exc, (TransportError, asyncio.CancelledError)):
                raise
            missing = self._topic_error(exc)
            if missing:
                raise TransportError(missing) from exc
            raise TransportError(f"cannot start the AWS transport: {exc}") from exc
        self._link.ok("receive")
        logger.info("node %s consumes queue %s", uid, queue.name)

    async def close(self) -> None:
        """Stop consuming, unsubscribe and delete the queue. Errors are logged."""
        if self._closed:
            return
        await self._drain_outbox()
        self._closed = self._queues.closed = True
        self._link.close()
        await self._tasks.stop()
        await self._queues.delete()
        self._calls.shutdown()

    async def _drain_outbox(self) -> None:
        """Let what was queued before close() go out, as it would have when awaited."""
        deadline = time.monotonic() + self.ready_timeout
        while (self._writer is not None or self._sending) and time.monotonic() < deadline:
            pending = [*self._sending, *([self._writer] if self._writer else [])]
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))

    async def abort(self) -> None:
        """Stop consuming and leave queue and subscription behind, as a crash would."""
        if self._closed:
            return
        self._closed = self._queues.closed = True
        self._link.close()
        await self._tasks.stop()
        self._calls.shutdown()

    # ------------------------------------------------------------------------ publishing

    async def recheck(self) -> None:
        """Every other node went silent: check the subscription (one cheap call and a probe)
        rather than wait for the next liveness check."""
        if self._started and not self._closed:
            await self._queues.recheck(min(10.0, self.ready_timeout))

    async def publish(self, message: ClusterMessage) -> str | None:
        return await self.publish_soon(message)

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        await self._enqueue(message, requester_uid)

    def publish_response_soon(
        self,
        requester_uid: str,
        message: ClusterMessage,
        on_error: Callable[[BaseException], None],
    ) -> bool:
        self._enqueue(message, requester_uid).add_done_callback(report_failure(on_error))
        return True

    def publish_soon(self, message: ClusterMessage) -> asyncio.Future[str | None]:
        """Queue ``message`` for the next SNS call: publishes of one loop turn, and those
        made while ``publish_concurrency`` calls are already in flight, are sent together
        with ``PublishBatch`` (``batch_size`` entries and 256 KiB at most per call).

        Calls leave in the order the messages were queued; a standard SNS topic and its SQS
        queues do not keep that order (neither did awaiting each ``Publish``).
        """
        return self._enqueue(message, None)

    def _enqueue(
        self, message: ClusterMessage, requester_uid: str | None
    ) -> asyncio.Future[str | None]:
        if self._closed:
            raise TransportError("the AWS transport is closed")
        published = framing.encode_message(message, requester_uid)
        if published.data is not None and not self._offload.fits(published.size):
            # nothing can carry it: say so now, not from a background call
            limit = self.limits.max_message_size
            if max(published.size, len(published.data)) > limit:
                raise PayloadTooLarge(published.size, limit, "receivers would drop it")
            if self._store is None:
                raise PayloadTooLarge(published.size, SNS_MAX_MESSAGE_SIZE, self._offload.hint)
        result: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._outbox.append(_Outgoing(message, published, result))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())
        return result

    async def _write(self) -> None:
        """Group the outbox into SNS calls and send them, at most ``publish_concurrency``
        at a time, until the outbox is empty."""
        try:
            await self.open_publisher()
        except Exception as exc:
            self._writer = None
            outbox, self._outbox = self._outbox, []
            for item in outbox:
                _fail(item.result, exc)
            return
        try:
            while self._outbox:
                # wait for room before taking messages: those arriving meanwhile join
                await self._in_flight.acquire()
                batch = await self._next_batch()
                if not batch:
                    self._in_flight.release()
                    continue
                task = asyncio.ensure_future(self._send(batch))
                self._sending.add(task)
                task.add_done_callback(self._sent)
        finally:
            self._writer = None

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._in_flight.release()

    async def _next_batch(self) -> list[_Outgoing]:
        """Take the next call's messages off the outbox (offloading large payloads first)."""
        batch: list[_Outgoing] = []
        size = 0
        while self._outbox and len(batch) < self.batch_size:
            item = self._outbox[0]
            published = item.published
            if published.data is not None and not self._offload.fits(published.size):
                try:
                    pointer = await self._offload.store_payload(
                        item.message.uid, published.data, published.size
                    )
                except Exception as exc:
                    self._outbox.pop(0)
                    _fail(item.result, exc)
                    continue
                published.offload(pointer)
            if batch and size + published.size > SNS_BATCH_SIZE:
                break
            self._outbox.pop(0)
            batch.append(item)
            size += published.size
        return batch

    async def _send(self, batch: list[_Outgoing]) -> None:
        try:
            if len(batch) == 1:
                await self._call_topic("Publish", **batch[0].published.params())
                failed: dict[int, str] = {}
            else:
                entries = [
                    {"Id": str(i), **item.published.params()} for i, item in enumerate(batch)
                ]
                reply = await self._call_topic("PublishBatch", PublishBatchRequestEntries=entries)
                failed = {
                    int(entry["Id"]): f"{entry.get('Code')}: {entry.get('Message')}"
                    for entry in reply.get("Failed") or ()
                }
        except Exception as exc:
            self._link.failed("publish", exc)
            missing = self._topic_error(exc)
            for item in batch:
                what = item.message.type.name
                error = TransportError(f"cannot publish {what}: {missing or exc}")
                error.__cause__ = exc
                _fail(item.result, error)
            return
        self._link.ok("publish")
        for index, item in enumerate(batch):
            if index in failed:
                _fail(item.result, failed[index])
            elif not item.result.done():
                item.result.set_result(None)

    async def _call_topic(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return await self._calls.call("sns", operation, TopicArn=self.topic_arn, **params)
        except Exception as exc:
            if not (self._queues.creates_topic and error_code(exc) in NOT_FOUND_CODES):
                raise
            # The topic we created is gone (the broker lost it): make it again.
            await self._queues.create_topic()
            return await self._calls.call("sns", operation, TopicArn=self.topic_arn, **params)

    def _topic_error(self, exc: BaseException) -> str | None:
        """A one-line explanation when ``exc`` says the topic is not there, else None."""
        code = error_code(exc)
        if code not in NOT_FOUND_CODES and not (
            code == "InvalidParameter" and "TopicArn" in str(exc)
        ):
            return None
        try:
            region = str(self._calls.client("sns").meta.region_name)
        except Exception:  # the client could not even be made: name what we know
            region = "unknown"
        arn = self.topic_arn or self.topic_name
        parsed = parse_topic_arn(arn)
        where = f"account {parsed.account}, " if parsed else ""
        return (
            f"SNS topic {arn} does not exist in region {region} ({where}AWS said {code}): "
            "check the topic ARN and that the region, credentials and endpoint are those of "
            "the topic's account (the region comes from the ARN, else AWS_REGION, else "
            "AWS_DEFAULT_REGION)"
        )

    # ------------------------------------------------------------------------ receiving

    _moto_bug_reported = False

    async def _poll_loop(self) -> None:
        backoff = Backoff(0.1, 10.0)
        queues = self._queues
        while True:
            await queues.ready.wait()
            queue = queues.queue
            assert queue is not None
            try:
                reply = await self._calls.call(
                    "sqs",
                    "ReceiveMessage",
                    QueueUrl=queue.url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.wait_time,
                    MessageAttributeNames=["All"],
                )
            except Exception as exc:
                if error_code(exc) in MISSING_QUEUE_CODES:
                    queues.queue_gone(queue)
                    continue
                if not self._moto_bug_reported and is_moto_binary_attribute_error(exc):
                    # the receive fails forever on a plain moto server: say why, once
                    self._moto_bug_reported = True
                    logger.error(MOTO_BINARY_ATTRIBUTE_WARNING)
                self._link.failed("receive", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._link.ok("receive")
            messages = reply.get("Messages")
            if messages:
                await self._batches.put((queue.url, messages))
                await self._coalesce_idle_heartbeats(messages)

    async def _coalesce_idle_heartbeats(self, messages: list[dict[str, Any]]) -> None:
        """Every node heartbeats on the same clock tick (see the cluster core): when idle,
        let the rest of a tick's heartbeats arrive and take them in one receive."""
        now = time.monotonic()
        if any(raw.get("Body") not in framing.HEARTBEAT_BODIES for raw in messages):
            self._last_busy = now
            return
        if self.idle_coalesce and len(messages) < 10 and now - self._last_busy > self.idle_after:
            await asyncio.sleep(self.idle_coalesce)

    async def _dispatch_loop(self) -> None:
        """Hand messages to the core one at a time, in the order they were received, and
        delete them in batches."""
        pending: dict[str, list[str]] = {}
        oldest = 0.0
        while True:
            timeout = None
            if pending:
                timeout = max(0.0, oldest + self.delete_delay - time.monotonic())
            try:
                url, messages = await bounded(self._batches.get(), timeout)
            except asyncio.TimeoutError:
                pass
            else:
                for raw in messages:
                    await self._handle(raw)
                if not pending:
                    oldest = time.monotonic()
                handles = pending.setdefault(url, [])
                handles += [raw["ReceiptHandle"] for raw in messages if "ReceiptHandle" in raw]
            if not pending:
                continue
            # full batches of 10 go at once; the rest waits for more, or for delete_delay
            due = time.monotonic() - oldest >= self.delete_delay
            for url, handles in list(pending.items()):
                full = len(handles) - len(handles) % 10
                for start in range(0, len(handles) if due else full, 10):
                    self._tasks.spawn(self._delete(url, handles[start : start + 10]))
                rest = [] if due else handles[full:]
                if rest:
                    pending[url] = rest
                else:
                    del pending[url]

    async def _delete(self, url: str, handles: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        try:
            await self._calls.call("sqs", "DeleteMessageBatch", QueueUrl=url, Entries=entries)
        except Exception as exc:
            # Harmless: the messages expire without ever becoming visible again.
            logger.debug("could not delete %d messages: %s", len(handles), exc)

    async def _handle(self, raw: Mapping[str, Any]) -> None:
        assert self._inbox is not None

        async def decode() -> ClusterMessage | None:
            received = framing.triage(raw, self._uid)
            if received is None:
                return None
            if received.probe is not None:
                self._queues.probe_arrived(received.probe)
                return None
            payload = None
            if received.pointer is not None:
                if self._store is None:
                    raise DecodeError("payload in S3, but no large_payload_bucket is configured")
                payload = await self._offload.fetch_payload(received.pointer)
            return framing.decode_message(received, limits=self.limits, payload=payload)

        await self._inbox.accept(decode)


@dataclass
class _Outgoing:
    """A message queued for SNS and the future its publisher may be waiting on."""

    message: ClusterMessage
    published: framing.Published
    result: asyncio.Future[str | None]


def _fail(result: asyncio.Future[str | None], error: BaseException | str) -> None:
    if result.done():
        return  # its caller gave up waiting
    if isinstance(error, (TransportError, PayloadTooLarge)):
        result.set_exception(error)
        return
    failure = TransportError(f"cannot publish to SNS: {error}")
    if isinstance(error, BaseException):
        failure.__cause__ = error
    result.set_exception(failure)


def _client_region(
    topic_arn: str | None,
    region_name: str | None,
    session: boto3.session.Session | None,
    sns_client: SNSClient | None,
) -> str | None:
    """The region for the clients the transport makes (see ``region_name``); checks the
    ARN and that an explicit region or a given SNS client agrees with it."""
    region = resolve_region(topic_arn, region_name, environ={})
    if topic_arn and sns_client is not None:
        client_region = sns_client.meta.region_name
        if client_region and client_region != region:
            raise ValueError(
                f"region mismatch: sns_client talks to {client_region!r} but the topic ARN "
                f"{topic_arn} is in {region!r}"
            )
    if region is None and not (session is not None and session.region_name):
        region = resolve_region()
    return region
