"""AWS transport: one SNS topic per cluster, one SQS queue per node.

Wire-compatible with Node's ``@socket.io/aws-sqs-adapter`` 0.1, so Python and Node nodes can
share a topic:

- A message is published to the topic with ``Message`` = its type as decimal text and the
  message attributes ``nsp`` and ``uid`` (String), ``requesterUid`` (String, responses
  only) and ``data`` (Binary: msgpack of the message's ``data`` map alone; absent when the
  message has no data).
- Each node owns the queue ``<queue_prefix>-<uid>``, subscribed to the topic with raw
  delivery, and long-polls it. A node drops responses addressed to other nodes.

What this transport adds to the Node design:

- The subscription carries the SNS filter policy
  ``{"uid": [{"anything-but": <uid>}], "requesterUid": [{"exists": false}, <uid>]}``, so a
  node's queue never receives the node's own messages nor responses meant for others. If
  the policy cannot be set (no permission, or SNS's quota of filter policies per topic is
  used up), the node logs a warning and subscribes without it.
- The queue is encrypted (``SqsManagedSseEnabled``), keeps messages ``message_retention``
  seconds (stale cluster messages are useless), admits ``sqs:SendMessage`` from the topic
  only, and is tagged for the cleanup function (:mod:`socketio_cloud.cleanup.aws`): node
  uid, topic ARN, subscription ARN and the ``alive`` mark, refreshed every
  ``liveness_interval`` seconds.
- Messages become visible again only after the retention period, i.e. never: delivery is
  at most once (a broadcast delivered twice minutes later would be worse than a lost one),
  and deletes can be batched across receives.
- :meth:`AwsSqsTransport.start` returns once a probe message published to the topic came
  back through the node's own queue, i.e. once the subscription really delivers. The probe
  carries ``requesterUid`` = the node's uid, so every other node, Node's included, drops it.
- Messages over SNS's 256 KiB go through S3 when ``large_payload_bucket`` is set (see
  :mod:`socketio_cloud.transports.aws_payloads`); otherwise the emitting call raises
  :class:`~socketio_cloud.exceptions.PayloadTooLarge`.
- Lost queues and subscriptions (a node cut off long enough for the cleanup to delete its
  queue, a broker that lost its state) are re-created; AWS errors in the receive loop are
  retried with exponential backoff (0.1 s to 10 s, jittered) and reported by
  :attr:`AwsSqsTransport.connected`. A publish that still fails after botocore's retries
  (standard mode, 3 attempts, on the clients made here) raises
  :class:`~socketio_cloud.exceptions.TransportError`.

Permissions a node needs: ``sns:Publish``, ``sns:Subscribe``, ``sns:Unsubscribe``,
``sns:GetSubscriptionAttributes`` (``sns:CreateTopic`` only without ``topic_arn``);
``sqs:CreateQueue``, ``sqs:SetQueueAttributes``, ``sqs:TagQueue``, ``sqs:ReceiveMessage``,
``sqs:DeleteMessage``, ``sqs:DeleteQueue`` on ``<queue_prefix>-*``; with a bucket,
``s3:PutObject`` and ``s3:GetObject`` on its prefix (and ``s3:GetLifecycleConfiguration``,
``s3:PutLifecycleConfiguration`` for ``manage_payload_lifecycle``). An emitter needs only
``sns:Publish`` (and ``s3:PutObject``).

Cost of an idle cluster of N nodes, in API calls per node-hour, heartbeats every 5 s (Node's
``heartbeatInterval``, our default too)::

    Node adapter: 720 Publish
                + 720·N ReceiveMessage   its queue gets every heartbeat, its own included,
                                         each ending a 5 s long poll (720 polls when silent)
                + 720·N DeleteMessageBatch   one per received batch
                = 720 + 1440·N           N=2: 3600   N=4: 6480   N=10: 15120

    this one:     720 Publish            the same heartbeats
                + 720·min(N-1, 2) ReceiveMessage   own heartbeats filtered out by SNS; every
                                         node heartbeats on the same clock tick and an idle
                                         queue waits ``idle_coalesce`` after the first
                                         heartbeat of a tick, so a second receive takes all
                                         the others (180 polls when silent: 20 s long polls)
                + ~max(120, 72·(N-1)) DeleteMessageBatch   10 messages or 30 s per batch
                + 24 TagQueue/GetSubscriptionAttributes   liveness, every 5 min
                                         N=2: 1584   N=4: 2400   N=10: 2832

That is 2.3x fewer calls for two nodes, 2.7x for four and 5.3x for ten. Traffic ends idle
coalescing at once (``idle_after``), so it never delays a broadcast in a busy cluster.
:attr:`AwsSqsTransport.stats` counts the calls actually made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3

from .. import protocol
from ..cleanup.aws import (
    DEFAULT_LIVENESS_INTERVAL,
    DEFAULT_QUEUE_PREFIX,
    TAG_ALIVE,
    TAG_NODE,
    TAG_SUBSCRIPTION,
    TAG_TOPIC,
    alive_mark,
    node_queue_name,
)
from ..cluster import BrokerManager
from ..emitter import Emitter
from ..exceptions import DecodeError, PayloadTooLarge, TransportError
from ..protocol import ClusterMessage
from ..tasks import cancel_and_wait
from .aws_calls import AwsCalls, Backoff, error_code, is_transient
from .aws_payloads import POINTER_ATTRIBUTE, S3PayloadStore
from .base import MessageHandler, Transport, log_rejected

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "DEFAULT_TOPIC_NAME",
    "SNS_MAX_MESSAGE_SIZE",
    "AwsSqsEmitter",
    "AwsSqsManager",
    "AwsSqsTransport",
    "filter_policy",
    "published_size",
]

logger = logging.getLogger("socketio_cloud.transports.aws")

DEFAULT_TOPIC_NAME = "socket-io"
#: SNS's limit for one message: body, attribute names, types and values together.
SNS_MAX_MESSAGE_SIZE = 262_144

_MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_NOT_FOUND_CODES = frozenset({"NotFound", "NotFoundException"})
_PROBE_ATTRIBUTE = "probe"
_PROBE_SENDER = "probe"
# Threads beyond the pollers: publishes run concurrently, plus deletes, S3 and liveness.
_EXTRA_THREADS = 8
_QUEUE_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


# SNS message bodies of INITIAL_HEARTBEAT and HEARTBEAT (the type in decimal text)
_HEARTBEAT_BODIES = frozenset({"1", "2"})


def filter_policy(uid: str) -> dict[str, Any]:
    """The SNS filter policy of node ``uid``'s subscription: nothing from the node itself,
    no responses addressed to other nodes."""
    return {"uid": [{"anything-but": uid}], "requesterUid": [{"exists": False}, uid]}


def published_size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """The size SNS counts against its limit: the body plus each attribute's name, data
    type and value."""
    size = len(body.encode())
    for name, attribute in attributes.items():
        size += len(name.encode()) + len(str(attribute["DataType"]).encode())
        value = attribute.get("BinaryValue", attribute.get("StringValue", ""))
        size += len(value) if isinstance(value, bytes) else len(str(value).encode())
    return size


def _string(value: str) -> dict[str, Any]:
    return {"DataType": "String", "StringValue": value}


def _string_attribute(attributes: Mapping[str, Any], name: str) -> str | None:
    attribute = attributes.get(name)
    if attribute is None:
        return None
    if not isinstance(attribute, Mapping) or not str(attribute.get("DataType", "")).startswith(
        "String"
    ):
        raise DecodeError(f"attribute {name} is not a String")
    value = attribute.get("StringValue")
    if not isinstance(value, str):
        raise DecodeError(f"attribute {name} has no string value")
    return value


@dataclass
class _NodeQueue:
    """The node's queue and the subscription feeding it."""

    name: str
    url: str
    arn: str
    subscription_arn: str = ""


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
    :param large_payload_bucket: S3 bucket for messages over SNS's 256 KiB (ours only).
    :param large_payload_prefix: key prefix of those objects in the bucket.
    :param manage_payload_lifecycle: add an expiry rule for that prefix to the bucket.
    :param ready_timeout: seconds :meth:`start` waits for the subscription to deliver.
    :param session: boto3 session to make clients from (default: a new one).
    :param sqs_client: ready-made clients to use instead (thread-safe boto3 clients; give
        their ``read_timeout`` more than ``wait_time``).
    :param endpoint_url: endpoint for the clients made here (e.g. a local emulator).
    :param region_name: region for the clients made here.
    :param limits: bounds for decoding untrusted messages.
    """

    def __init__(
        self,
        *,
        topic_name: str = DEFAULT_TOPIC_NAME,
        topic_arn: str | None = None,
        topic_tags: Mapping[str, str] | None = None,
        queue_prefix: str = DEFAULT_QUEUE_PREFIX,
        queue_tags: Mapping[str, str] | None = None,
        message_retention: int = 300,
        wait_time: int = 20,
        pollers: int = 1,
        liveness_interval: float = DEFAULT_LIVENESS_INTERVAL,
        delete_delay: float = 30.0,
        idle_coalesce: float = 0.25,
        idle_after: float = 10.0,
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
        if not _QUEUE_PREFIX.match(queue_prefix):
            raise ValueError("queue_prefix: 1 to 63 letters, digits, '-' or '_'")
        if not 60 <= message_retention <= 1_209_600:
            raise ValueError("message_retention must be between 60 and 1209600 seconds")
        if not 1 <= wait_time <= 20:
            raise ValueError("wait_time must be between 1 and 20 seconds")
        if pollers < 1:
            raise ValueError("pollers must be at least 1")
        if liveness_interval <= 0 or delete_delay < 0 or ready_timeout <= 0:
            raise ValueError("liveness_interval and ready_timeout must be > 0, delete_delay >= 0")
        self.topic_name = topic_name
        self.topic_arn = topic_arn
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
        self._last_busy = 0.0
        self.ready_timeout = ready_timeout
        self.limits = limits or protocol.DEFAULT_LIMITS
        self._creates_topic = topic_arn is None
        self._calls = AwsCalls(
            threads=pollers + _EXTRA_THREADS,
            read_timeout=wait_time + 10,
            session=session,
            sqs_client=sqs_client,
            sns_client=sns_client,
            s3_client=s3_client,
            endpoint_url=endpoint_url,
            region_name=region_name,
        )
        self._payloads: S3PayloadStore | None = None
        if large_payload_bucket:
            self._payloads = S3PayloadStore(
                self._calls, large_payload_bucket, prefix=large_payload_prefix, limits=self.limits
            )
        self._manage_lifecycle = manage_payload_lifecycle
        self.max_message_size = (
            self.limits.max_message_size if self._payloads else SNS_MAX_MESSAGE_SIZE
        )

        self._uid = ""
        self._on_message: MessageHandler | None = None
        self._queue: _NodeQueue | None = None
        self._filtered = False
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._connected = False
        self._batches: asyncio.Queue[tuple[str, list[dict[str, Any]]]] = asyncio.Queue(pollers)
        self._queue_ready = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._recovery: asyncio.Task[None] | None = None
        self._probe: tuple[str, asyncio.Future[None]] | None = None
        self._check_subscription = True

    # ------------------------------------------------------------------------ properties

    @property
    def connected(self) -> bool:
        """Whether the last receive (or, for an emitter, publish) reached AWS."""
        return self._connected and not self._closed

    @property
    def stats(self) -> dict[str, int]:
        """AWS API calls made so far, by ``"<service>:<Operation>"``."""
        return self._calls.stats

    @property
    def queue_url(self) -> str | None:
        """The URL of the node's queue, once started."""
        return self._queue.url if self._queue else None

    @property
    def subscription_arn(self) -> str | None:
        """The ARN of the subscription feeding the node's queue, once started."""
        return self._queue.subscription_arn if self._queue else None

    @property
    def filtered(self) -> bool:
        """Whether the subscription carries the filter policy."""
        return self._filtered

    def _set_connected(self, connected: bool, error: BaseException | None = None) -> None:
        if connected == self._connected or self._closed:
            return
        self._connected = connected
        if connected:
            logger.info("reaching AWS again")
        else:
            logger.warning("cannot reach AWS (%s); retrying with backoff", error)

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
                await self._calls.open("sns", *(("s3",) if self._payloads else ()))
                if self._creates_topic:
                    await self._create_topic()
                if self._payloads is not None and self._manage_lifecycle:
                    await self._payloads.ensure_lifecycle_rule()
            except TransportError:
                raise
            except Exception as exc:
                raise TransportError(f"cannot open the AWS transport: {exc}") from exc
            self._opened = True
            self._connected = True

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        if self._started:
            raise TransportError("the AWS transport was already started")
        self._started = True
        self._uid = uid
        self._on_message = on_message
        try:
            await self.open_publisher()
            await self._calls.open("sqs")
            queue = await self._create_queue()
            self._queue = queue
            await self._subscribe(queue)
            self._queue_ready.set()
            self._loops = [asyncio.ensure_future(self._poll_loop()) for _ in range(self.pollers)]
            self._loops.append(asyncio.ensure_future(self._dispatch_loop()))
            await self._confirm_delivery(self.ready_timeout)
            self._loops.append(asyncio.ensure_future(self._liveness_loop()))
        except BaseException as exc:
            # Leave nothing behind and allow another try (the core retries ready()).
            await self._stop_tasks()
            await self._delete_resources()
            self._queue = None
            self._queue_ready.clear()
            self._started = False
            if isinstance(exc, (TransportError, asyncio.CancelledError)):
                raise
            raise TransportError(f"cannot start the AWS transport: {exc}") from exc
        logger.info("node %s consumes queue %s", uid, queue.name)

    async def close(self) -> None:
        """Stop consuming, unsubscribe and delete the queue. Errors are logged."""
        if self._closed:
            return
        self._closed = True
        await self._stop_tasks()
        await self._delete_resources()
        self._calls.shutdown()

    async def abort(self) -> None:
        """Stop consuming and leave queue and subscription behind, as a crash would."""
        if self._closed:
            return
        self._closed = True
        await self._stop_tasks()
        self._calls.shutdown()

    async def _delete_resources(self) -> None:
        queue = self._queue
        if queue is None:
            return
        # the subscription first: a topic must never deliver to a deleted queue (moto then
        # fails every publish to the topic; AWS would count failed deliveries)
        steps: list[tuple[str, Literal["sns", "sqs"], dict[str, str]]] = []
        if queue.subscription_arn:
            arn = queue.subscription_arn
            steps.append(("Unsubscribe", "sns", {"SubscriptionArn": arn}))
        steps.append(("DeleteQueue", "sqs", {"QueueUrl": queue.url}))
        for operation, service, params in steps:
            try:
                await self._calls.call(service, operation, **params)
            except Exception as exc:
                if not _is_gone(exc):
                    logger.warning("could not delete the resources of %s: %s", queue.name, exc)

    async def _stop_tasks(self) -> None:
        tasks = [*self._loops, *self._background]
        if self._recovery is not None:
            tasks.append(self._recovery)
        await cancel_and_wait(tasks)
        self._loops.clear()
        self._background.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------------ resources

    async def _create_topic(self) -> None:
        params: dict[str, Any] = {"Name": self.topic_name}
        if self.topic_tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.topic_tags.items()]
        reply = await self._calls.call("sns", "CreateTopic", **params)
        self.topic_arn = reply["TopicArn"]

    async def _create_queue(self) -> _NodeQueue:
        assert self.topic_arn is not None
        name = node_queue_name(self.queue_prefix, self._uid)
        # The queue's ARN is needed in its policy before CreateQueue returns its URL: assume
        # the topic's account and fix the policy if the URL shows another one.
        partition, account = _arn_partition_account(self.topic_arn)
        region = self._calls.region()
        arn = f"arn:{partition}:sqs:{region}:{account}:{name}"
        attributes = {
            "MessageRetentionPeriod": str(self.message_retention),
            # At most once: never redeliver within the retention period.
            "VisibilityTimeout": str(min(self.message_retention, 43_200)),
            "SqsManagedSseEnabled": "true",
            "Policy": self._queue_policy(arn),
        }
        tags = {
            **self.queue_tags,
            TAG_NODE: self._uid,
            TAG_TOPIC: self.topic_arn,
            TAG_ALIVE: alive_mark(),
        }
        reply = await self._calls.call(
            "sqs", "CreateQueue", QueueName=name, Attributes=attributes, tags=tags
        )
        url = reply["QueueUrl"]
        url_account = _url_account(url)
        if url_account and url_account != account:
            arn = f"arn:{partition}:sqs:{region}:{url_account}:{name}"
            await self._calls.call(
                "sqs",
                "SetQueueAttributes",
                QueueUrl=url,
                Attributes={"Policy": self._queue_policy(arn)},
            )
        logger.debug("created queue %s", name)
        return _NodeQueue(name=name, url=url, arn=arn)

    def _queue_policy(self, queue_arn: str) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ClusterTopicOnly",
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
                    }
                ],
            },
            separators=(",", ":"),
        )

    async def _subscribe(self, queue: _NodeQueue) -> None:
        attributes = {
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps(filter_policy(self._uid), separators=(",", ":")),
        }
        try:
            reply = await self._subscribe_call(queue, attributes)
            self._filtered = True
        except Exception as exc:
            if is_transient(exc) or error_code(exc) in _NOT_FOUND_CODES:
                raise
            logger.warning(
                "cannot set the SNS filter policy of %s (%s); subscribing without it, so "
                "the queue also receives the node's own messages and others' responses",
                queue.name,
                exc,
            )
            del attributes["FilterPolicy"]
            reply = await self._subscribe_call(queue, attributes)
            self._filtered = False
        arn = reply.get("SubscriptionArn", "")
        if not arn.startswith("arn:"):
            # "pending confirmation": a topic in another account whose owner has not
            # confirmed; nothing will be delivered until then.
            raise TransportError(f"the subscription of {queue.name} is {arn or 'missing'}")
        queue.subscription_arn = arn
        await self._calls.call("sqs", "TagQueue", QueueUrl=queue.url, Tags={TAG_SUBSCRIPTION: arn})

    async def _subscribe_call(self, queue: _NodeQueue, attributes: dict[str, str]) -> Any:
        return await self._calls.call(
            "sns",
            "Subscribe",
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes=attributes,
        )

    async def _confirm_delivery(self, timeout: float) -> None:
        """Publish probes until one comes back through the queue."""
        token = secrets.token_hex(8)
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probe = (token, arrived)
        deadline = time.monotonic() + timeout
        wait = 0.5
        try:
            while time.monotonic() < deadline:
                await self._calls.call(
                    "sns",
                    "Publish",
                    TopicArn=self.topic_arn,
                    Message=_PROBE_SENDER,
                    MessageAttributes={
                        "nsp": _string("/"),
                        "uid": _string(_PROBE_SENDER),
                        "requesterUid": _string(self._uid),
                        _PROBE_ATTRIBUTE: _string(token),
                    },
                )
                # A probe published before the subscription took effect is lost: try again,
                # less and less often.
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(asyncio.shield(arrived), min(wait, remaining))
                    return
                except asyncio.TimeoutError:
                    wait = min(wait * 2, 5.0)
        finally:
            self._probe = None
        raise TransportError(
            f"the subscription of {self._queue.name if self._queue else 'the queue'} "
            f"delivered nothing within {timeout:g} s; check the queue policy"
        )

    # ------------------------------------------------------------------------ publishing

    async def publish(self, message: ClusterMessage) -> str | None:
        await self._publish(message, None)
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        await self._publish(message, requester_uid)

    async def _publish(self, message: ClusterMessage, requester_uid: str | None) -> None:
        if self._closed:
            raise TransportError("the AWS transport is closed")
        await self.open_publisher()
        body = str(int(message.type))
        attributes = {"nsp": _string(message.nsp), "uid": _string(message.uid)}
        if requester_uid is not None:
            attributes["requesterUid"] = _string(requester_uid)
        if message.data is not None:
            data = protocol.encode_data(message.data)
            attributes["data"] = {"DataType": "Binary", "BinaryValue": data}
            size = published_size(body, attributes)
            if size > SNS_MAX_MESSAGE_SIZE:
                if self._payloads is None:
                    raise PayloadTooLarge(
                        size, SNS_MAX_MESSAGE_SIZE, "set large_payload_bucket to send it via S3"
                    )
                if len(data) > self.limits.max_message_size:
                    raise PayloadTooLarge(len(data), self.limits.max_message_size)
                del attributes["data"]
                pointer = await self._store_payload(message.uid, data)
                attributes[POINTER_ATTRIBUTE] = _string(pointer)
        params = {"Message": body, "MessageAttributes": attributes}
        try:
            try:
                await self._calls.call("sns", "Publish", TopicArn=self.topic_arn, **params)
            except Exception as exc:
                if not (self._creates_topic and error_code(exc) in _NOT_FOUND_CODES):
                    raise
                # The topic we created is gone (the broker lost it): make it again.
                await self._create_topic()
                await self._calls.call("sns", "Publish", TopicArn=self.topic_arn, **params)
        except Exception as exc:
            if not self._started:
                self._set_connected(False, exc)
            raise TransportError(f"cannot publish {message.type.name}: {exc}") from exc
        if not self._started:
            self._set_connected(True)

    async def _store_payload(self, sender: str, data: bytes) -> str:
        assert self._payloads is not None
        try:
            return await self._payloads.put(sender, data)
        except Exception as exc:
            raise TransportError(f"cannot store a large payload in S3: {exc}") from exc

    # ------------------------------------------------------------------------ receiving

    async def _poll_loop(self) -> None:
        backoff = Backoff(0.1, 10.0)
        while True:
            await self._queue_ready.wait()
            queue = self._queue
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
                if error_code(exc) in _MISSING_QUEUE_CODES:
                    self._recover(queue, f"queue {queue.name} no longer exists", queue_gone=True)
                    continue
                self._set_connected(False, exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._set_connected(True)
            messages = reply.get("Messages")
            if messages:
                await self._batches.put((queue.url, messages))
                await self._coalesce_idle_heartbeats(messages)

    async def _coalesce_idle_heartbeats(self, messages: list[dict[str, Any]]) -> None:
        """Every node heartbeats on the same clock tick (see the cluster core): when idle,
        let the rest of a tick's heartbeats arrive and take them in one receive."""
        now = time.monotonic()
        if any(raw.get("Body") not in _HEARTBEAT_BODIES for raw in messages):
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
                url, messages = await asyncio.wait_for(self._batches.get(), timeout)
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
                    self._spawn(self._delete(url, handles[start : start + 10]))
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
        try:
            attributes = raw.get("MessageAttributes") or {}
            requester = _string_attribute(attributes, "requesterUid")
            if requester is not None and requester != self._uid:
                return  # a response for another node (no filter policy)
            if _PROBE_ATTRIBUTE in attributes:
                self._probe_arrived(_string_attribute(attributes, _PROBE_ATTRIBUTE))
                return
            if _string_attribute(attributes, "uid") == self._uid:
                return  # our own message (no filter policy)
            message = await self._decode(raw, attributes)
        except DecodeError as exc:
            log_rejected("aws", exc)
            return
        except Exception as exc:  # whatever a hostile message triggers, keep consuming
            log_rejected("aws", f"{type(exc).__name__}: {exc}")
            return
        assert self._on_message is not None
        try:
            await self._on_message(message, None)
        except Exception:
            logger.exception("the message handler failed on %s", message.type.name)

    async def _decode(
        self, raw: Mapping[str, Any], attributes: Mapping[str, Any]
    ) -> ClusterMessage:
        data: Any = None
        binary = attributes.get("data")
        pointer = _string_attribute(attributes, POINTER_ATTRIBUTE)
        if binary is not None:
            if not isinstance(binary, Mapping) or not isinstance(binary.get("BinaryValue"), bytes):
                raise DecodeError("attribute data is not Binary")
            data = protocol.decode_data(binary["BinaryValue"], limits=self.limits)
        elif pointer is not None:
            if self._payloads is None:
                raise DecodeError("payload in S3, but no large_payload_bucket is configured")
            data = protocol.decode_data(await self._payloads.get(pointer), limits=self.limits)
        return protocol.validate_parts(
            raw.get("Body"),
            _string_attribute(attributes, "uid"),
            _string_attribute(attributes, "nsp"),
            data,
            limits=self.limits,
        )

    def _probe_arrived(self, token: str | None) -> None:
        if self._probe is not None and self._probe[0] == token and not self._probe[1].done():
            self._probe[1].set_result(None)

    # ------------------------------------------------------------------------ recovery

    def _recover(self, queue: _NodeQueue, reason: str, *, queue_gone: bool) -> None:
        """Re-create what went missing, once, however many loops noticed."""
        if self._closed or self._queue is not queue or self._recovery is not None:
            return
        self._queue_ready.clear()
        logger.warning("%s; re-creating it", reason)
        self._recovery = asyncio.ensure_future(self._rebuild(queue, queue_gone))

    async def _rebuild(self, lost: _NodeQueue, queue_gone: bool) -> None:
        backoff = Backoff(0.2, 10.0)
        failures = 0
        try:
            while True:
                try:
                    if self._creates_topic:
                        await self._create_topic()
                    queue = await self._create_queue() if queue_gone else lost
                    await self._subscribe(queue)
                    break
                except Exception as exc:
                    failures += 1
                    self._set_connected(False, exc)
                    log = logger.warning if failures == 1 else logger.debug
                    log("cannot re-create the queue and subscription yet: %s", exc)
                    await asyncio.sleep(backoff.next_delay())
            self._queue = queue
            self._queue_ready.set()
            try:
                await self._confirm_delivery(self.ready_timeout)
            except Exception as exc:
                logger.warning("queue %s is back, but not confirmed: %s", queue.name, exc)
            else:
                logger.info("queue %s and its subscription are back", queue.name)
        finally:
            self._recovery = None

    async def _liveness_loop(self) -> None:
        """Refresh the alive mark; notice a queue or subscription that vanished."""
        while True:
            await asyncio.sleep(self.liveness_interval)
            await self._queue_ready.wait()
            queue = self._queue
            assert queue is not None
            try:
                await self._calls.call(
                    "sqs", "TagQueue", QueueUrl=queue.url, Tags={TAG_ALIVE: alive_mark()}
                )
            except Exception as exc:
                if error_code(exc) in _MISSING_QUEUE_CODES:
                    self._recover(queue, f"queue {queue.name} no longer exists", queue_gone=True)
                else:
                    logger.warning("could not refresh the alive mark of %s: %s", queue.name, exc)
                continue
            if self._check_subscription:
                await self._verify_subscription(queue)

    async def _verify_subscription(self, queue: _NodeQueue) -> None:
        try:
            await self._calls.call(
                "sns", "GetSubscriptionAttributes", SubscriptionArn=queue.subscription_arn
            )
        except Exception as exc:
            if error_code(exc) in _NOT_FOUND_CODES:
                self._recover(
                    queue, f"the subscription of {queue.name} no longer exists", queue_gone=False
                )
            elif error_code(exc) in ("AuthorizationError", "AccessDenied"):
                logger.info("cannot check the subscription of %s: %s", queue.name, exc)
                self._check_subscription = False
            else:
                logger.debug("could not check the subscription of %s: %s", queue.name, exc)


def _is_gone(exc: BaseException) -> bool:
    return error_code(exc) in _MISSING_QUEUE_CODES | _NOT_FOUND_CODES


def _arn_partition_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise TransportError(f"not an SNS topic ARN: {arn!r}")
    return parts[1], parts[4]


def _url_account(queue_url: str) -> str:
    # https://sqs.<region>.amazonaws.com/<account>/<name>
    parts = queue_url.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else ""


class AwsSqsManager(BrokerManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` over SNS and SQS.

    >>> mgr = AwsSqsManager(topic_arn="arn:aws:sns:eu-west-1:123456789012:chat")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    The keyword arguments of :class:`AwsSqsTransport` configure the broker; the others go
    to :class:`~socketio_cloud.cluster.ClusterManager` (``heartbeat_interval``, ...).
    """

    transport: AwsSqsTransport

    transport_class = AwsSqsTransport


class AwsSqsEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` that publishes to a cluster's SNS topic.

    Needs only ``sns:Publish`` (and ``s3:PutObject`` with a ``large_payload_bucket``) when
    given ``topic_arn``; with ``topic_name`` it creates or finds the topic.

    >>> emitter = AwsSqsEmitter(topic_arn="arn:aws:sns:eu-west-1:123456789012:chat")
    >>> await emitter.to("room1").emit("hello", "world")
    """

    transport: AwsSqsTransport

    def __init__(self, *, namespace: str = "/", **options: Any) -> None:
        """Takes the options of :class:`AwsSqsTransport` (those about publishing)."""
        super().__init__(AwsSqsTransport(**options), namespace=namespace)
