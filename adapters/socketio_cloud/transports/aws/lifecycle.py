"""The node's queue and subscription: created, confirmed, kept alive, re-created, deleted.

- The topic is found or created by name unless its ARN is given (CreateTopic is idempotent).
- The queue ``<queue_prefix>-<uid>`` is encrypted (``SqsManagedSseEnabled``), keeps messages
  ``message_retention`` seconds, never makes a received message visible again (at most
  once delivery), admits ``sqs:SendMessage`` from the topic only, and is tagged for the
  cleanup (:mod:`socketio_cloud.cleanup.aws`): node uid, topic ARN, subscription ARN and
  the ``alive`` mark, refreshed every ``liveness_interval`` seconds.
- The subscription uses raw delivery and the filter policy of
  :func:`~socketio_cloud.transports.aws.framing.filter_policy`; if the policy cannot be set
  (no permission, or SNS's quota of filter policies per topic is used up) the node logs a
  warning and subscribes without it.
- Delivery is confirmed by probes: a message published to the topic that must come back
  through the node's own queue.
- A queue or subscription that vanished (deleted by the cleanup while the node was cut off,
  a broker that lost its state) is re-created, with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ...brokers.aws import (
    AUTH_ERROR_CODES,
    MISSING_QUEUE_CODES,
    NOT_FOUND_CODES,
    TAG_ALIVE,
    TAG_NODE,
    TAG_SUBSCRIPTION,
    TAG_TOPIC,
    alive_mark,
    error_code,
    node_queue_name,
)
from ...exceptions import TransportError
from ...runtime import Backoff, LinkState
from ...tasks import TaskSet
from .calls import AwsCalls, is_transient
from .framing import filter_policy, probe_message

__all__ = ["NodeQueue", "QueueLifecycle"]

logger = logging.getLogger("socketio_cloud.transports.aws.lifecycle")


@dataclass
class NodeQueue:
    """The node's queue and the subscription feeding it."""

    name: str
    url: str
    arn: str
    subscription_arn: str = ""


@dataclass(frozen=True)
class QueueSettings:
    """The options of the transport that shape the node's resources."""

    topic_name: str
    topic_tags: Mapping[str, str]
    queue_prefix: str
    queue_tags: Mapping[str, str]
    message_retention: int
    liveness_interval: float
    ready_timeout: float


class QueueLifecycle:
    """The topic, queue and subscription of one node (or the topic alone, for an emitter).

    ``ready`` is set while :attr:`queue` can be polled; a receive loop that finds the queue
    gone calls :meth:`recover`, which clears it until the queue is back.
    """

    def __init__(
        self,
        calls: AwsCalls,
        settings: QueueSettings,
        *,
        topic_arn: str | None,
        link: LinkState,
        tasks: TaskSet,
    ) -> None:
        self.calls = calls
        self.settings = settings
        self.topic_arn = topic_arn
        self.creates_topic = topic_arn is None
        self.uid = ""
        self.queue: NodeQueue | None = None
        self.filtered = False
        self.ready = asyncio.Event()
        self.closed = False
        self._link = link
        self._tasks = tasks
        self._recovery: asyncio.Task[Any] | None = None
        self._probe: tuple[str, asyncio.Future[None]] | None = None
        self._check_subscription = True

    # ------------------------------------------------------------------------ creation

    async def create_topic(self) -> str:
        """Find or create the topic by name; returns (and remembers) its ARN."""
        params: dict[str, Any] = {"Name": self.settings.topic_name}
        if self.settings.topic_tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.settings.topic_tags.items()]
        reply = await self.calls.call("sns", "CreateTopic", **params)
        self.topic_arn = str(reply["TopicArn"])
        return self.topic_arn

    async def open(self, uid: str) -> NodeQueue:
        """Create the queue of node ``uid`` and subscribe it; polling may begin."""
        self.uid = uid
        queue = await self._create_queue()
        self.queue = queue
        await self._subscribe(queue)
        self.ready.set()
        return queue

    async def _create_queue(self) -> NodeQueue:
        assert self.topic_arn is not None
        settings = self.settings
        name = node_queue_name(settings.queue_prefix, self.uid)
        # The queue's ARN is needed in its policy before CreateQueue returns its URL: assume
        # the topic's account and fix the policy if the URL shows another one.
        partition, account = _arn_partition_account(self.topic_arn)
        region = self.calls.region()
        arn = f"arn:{partition}:sqs:{region}:{account}:{name}"
        attributes = {
            "MessageRetentionPeriod": str(settings.message_retention),
            # At most once: never redeliver within the retention period.
            "VisibilityTimeout": str(min(settings.message_retention, 43_200)),
            "SqsManagedSseEnabled": "true",
            "Policy": self._queue_policy(arn),
        }
        tags = {
            **settings.queue_tags,
            TAG_NODE: self.uid,
            TAG_TOPIC: self.topic_arn,
            TAG_ALIVE: alive_mark(),
        }
        reply = await self.calls.call(
            "sqs", "CreateQueue", QueueName=name, Attributes=attributes, tags=tags
        )
        url = str(reply["QueueUrl"])
        url_account = _url_account(url)
        if url_account and url_account != account:
            arn = f"arn:{partition}:sqs:{region}:{url_account}:{name}"
            await self.calls.call(
                "sqs",
                "SetQueueAttributes",
                QueueUrl=url,
                Attributes={"Policy": self._queue_policy(arn)},
            )
        logger.debug("created queue %s", name)
        return NodeQueue(name=name, url=url, arn=arn)

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

    async def _subscribe(self, queue: NodeQueue) -> None:
        attributes = {
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps(filter_policy(self.uid), separators=(",", ":")),
        }
        try:
            reply = await self._subscribe_call(queue, attributes)
            self.filtered = True
        except Exception as exc:
            if is_transient(exc) or error_code(exc) in NOT_FOUND_CODES:
                raise
            logger.warning(
                "cannot set the SNS filter policy of %s (%s); subscribing without it, so "
                "the queue also receives the node's own messages and others' responses",
                queue.name,
                exc,
            )
            del attributes["FilterPolicy"]
            reply = await self._subscribe_call(queue, attributes)
            self.filtered = False
        arn = str(reply.get("SubscriptionArn", ""))
        if not arn.startswith("arn:"):
            # "pending confirmation": a topic in another account whose owner has not
            # confirmed; nothing will be delivered until then.
            raise TransportError(f"the subscription of {queue.name} is {arn or 'missing'}")
        queue.subscription_arn = arn
        await self.calls.call("sqs", "TagQueue", QueueUrl=queue.url, Tags={TAG_SUBSCRIPTION: arn})

    async def _subscribe_call(self, queue: NodeQueue, attributes: dict[str, str]) -> Any:
        return await self.calls.call(
            "sns",
            "Subscribe",
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes=attributes,
        )

    # ------------------------------------------------------------------------ probes

    async def confirm_delivery(self, timeout: float) -> None:
        """Publish probes until one comes back through the queue."""
        token = secrets.token_hex(8)
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probe = (token, arrived)
        deadline = time.monotonic() + timeout
        wait = 0.5
        probe = probe_message(self.uid, token)
        try:
            while time.monotonic() < deadline:
                await self.calls.call(
                    "sns",
                    "Publish",
                    TopicArn=self.topic_arn,
                    Message=probe.body,
                    MessageAttributes=probe.attributes,
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
            f"the subscription of {self.queue.name if self.queue else 'the queue'} "
            f"delivered nothing within {timeout:g} s; check the queue policy"
        )

    def probe_arrived(self, token: str) -> None:
        """A probe came back through the queue."""
        if self._probe is not None and self._probe[0] == token and not self._probe[1].done():
            self._probe[1].set_result(None)

    # ------------------------------------------------------------------------ recovery

    def queue_gone(self, queue: NodeQueue) -> None:
        """A call found ``queue`` missing: re-create it."""
        self.recover(queue, f"queue {queue.name} no longer exists", queue_gone=True)

    def recover(self, queue: NodeQueue, reason: str, *, queue_gone: bool) -> None:
        """Re-create what went missing, once, however many loops noticed."""
        if self.closed or self.queue is not queue or self._recovery is not None:
            return
        self.ready.clear()
        logger.warning("%s; re-creating it", reason)
        self._recovery = self._tasks.spawn(self._rebuild(queue, queue_gone), name="aws recovery")

    async def _rebuild(self, lost: NodeQueue, queue_gone: bool) -> None:
        backoff = Backoff(0.2, 10.0)
        try:
            while True:
                try:
                    if self.creates_topic:
                        await self.create_topic()
                    queue = await self._create_queue() if queue_gone else lost
                    await self._subscribe(queue)
                    break
                except Exception as exc:
                    self._link.failed("receive", exc)
                    log = logger.warning if backoff.failures == 0 else logger.debug
                    log("cannot re-create the queue and subscription yet: %s", exc)
                    await asyncio.sleep(backoff.next_delay())
            self.queue = queue
            self.ready.set()
            try:
                await self.confirm_delivery(self.settings.ready_timeout)
            except Exception as exc:
                logger.warning("queue %s is back, but not confirmed: %s", queue.name, exc)
            else:
                logger.info("queue %s and its subscription are back", queue.name)
        finally:
            self._recovery = None

    async def recheck(self, probe_timeout: float) -> None:
        """Prove the subscription still delivers (one probe); re-subscribe if it does not."""
        queue = self.queue
        if queue is None or self._recovery is not None or self.closed:
            return
        await self._verify_subscription(queue)
        if self._recovery is not None:
            return  # it was gone: being re-created
        try:
            await self.confirm_delivery(probe_timeout)
        except Exception as exc:
            self.recover(
                queue,
                f"the subscription of {queue.name} delivers nothing ({exc})",
                queue_gone=False,
            )

    async def liveness_loop(self) -> None:
        """Refresh the alive mark; notice a queue or subscription that vanished."""
        while True:
            await asyncio.sleep(self.settings.liveness_interval)
            await self.ready.wait()
            queue = self.queue
            assert queue is not None
            try:
                await self.calls.call(
                    "sqs", "TagQueue", QueueUrl=queue.url, Tags={TAG_ALIVE: alive_mark()}
                )
            except Exception as exc:
                if error_code(exc) in MISSING_QUEUE_CODES:
                    self.queue_gone(queue)
                else:
                    logger.warning("could not refresh the alive mark of %s: %s", queue.name, exc)
                continue
            if self._check_subscription:
                await self._verify_subscription(queue)

    async def _verify_subscription(self, queue: NodeQueue) -> None:
        try:
            await self.calls.call(
                "sns", "GetSubscriptionAttributes", SubscriptionArn=queue.subscription_arn
            )
        except Exception as exc:
            code = error_code(exc)
            if code in NOT_FOUND_CODES:
                self.recover(
                    queue, f"the subscription of {queue.name} no longer exists", queue_gone=False
                )
            elif code in AUTH_ERROR_CODES:
                logger.info("cannot check the subscription of %s: %s", queue.name, exc)
                self._check_subscription = False
            else:
                logger.debug("could not check the subscription of %s: %s", queue.name, exc)

    # ------------------------------------------------------------------------ deletion

    async def delete(self) -> None:
        """Unsubscribe and delete the queue (errors are logged); polling must have stopped."""
        queue = self.queue
        self.queue = None
        self.ready.clear()
        if queue is None:
            return
        # the subscription first: a topic must never deliver to a deleted queue (moto then
        # fails every publish to the topic; AWS would count failed deliveries)
        steps: list[tuple[str, Literal["sns", "sqs"], dict[str, str]]] = []
        if queue.subscription_arn:
            steps.append(("Unsubscribe", "sns", {"SubscriptionArn": queue.subscription_arn}))
        steps.append(("DeleteQueue", "sqs", {"QueueUrl": queue.url}))
        for operation, service, params in steps:
            try:
                await self.calls.call(service, operation, **params)
            except Exception as exc:
                if error_code(exc) not in MISSING_QUEUE_CODES | NOT_FOUND_CODES:
                    logger.warning("could not delete the resources of %s: %s", queue.name, exc)


def _arn_partition_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise TransportError(f"not an SNS topic ARN: {arn!r}")
    return parts[1], parts[4]


def _url_account(queue_url: str) -> str:
    # https://sqs.<region>.amazonaws.com/<account>/<name>
    parts = queue_url.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else ""
