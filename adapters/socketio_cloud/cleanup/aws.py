"""Deleting the SQS queues and SNS subscriptions that crashed nodes left behind.

Every node of an AWS cluster owns one queue, ``<queue_prefix>-<node uid>``, subscribed to
the cluster's topic. A node that closes deletes both; a node that dies leaves them behind,
and the topic keeps filling the orphan queue. Each node therefore refreshes a liveness mark
(the :data:`TAG_ALIVE` tag, Unix seconds) on its queue every ``liveness_interval`` seconds,
and :func:`cleanup`, run on a schedule, deletes the queues whose mark went stale together
with their subscriptions.

This module imports only the standard library, boto3 and the AWS facts
(:mod:`socketio_cloud.brokers.aws`, where the tag names and defaults are), so that it runs in
a Lambda function that has nothing else; it imports nothing of the transport.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..brokers.aws import (
    DEFAULT_GRACE_PERIOD,
    DEFAULT_LIVENESS_INTERVAL,
    DEFAULT_QUEUE_PREFIX,
    DEFAULT_STALE_AFTER,
    MISSING_QUEUE_CODES,
    NOT_FOUND_CODES,
    TAG_ALIVE,
    TAG_NODE,
    TAG_SUBSCRIPTION,
    TAG_TOPIC,
    alive_mark,
    error_code,
    is_node_queue_name,
    node_queue_name,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import SubscriptionTypeDef
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_LIVENESS_INTERVAL",
    "DEFAULT_QUEUE_PREFIX",
    "DEFAULT_STALE_AFTER",
    "TAG_ALIVE",
    "TAG_NODE",
    "TAG_SUBSCRIPTION",
    "TAG_TOPIC",
    "CleanupReport",
    "QueueDecision",
    "QueueOutcome",
    "SubscriptionOutcome",
    "alive_mark",
    "cleanup",
    "find_stale_queues",
    "is_node_queue_name",
    "judge_queue",
    "list_node_queues",
    "node_queue_name",
    "review_queue",
]

logger = logging.getLogger("socketio_cloud.cleanup")

_AwsError = (ClientError, BotoCoreError)


def judge_queue(
    tags: Mapping[str, str],
    created: float | None,
    *,
    now: float,
    stale_after: float = DEFAULT_STALE_AFTER,
    grace_period: float = DEFAULT_GRACE_PERIOD,
) -> tuple[bool, str]:
    """Decide whether a node queue is stale, from its tags and creation time.

    Returns ``(stale, reason)``. A queue with a readable alive mark is stale when the mark
    is older than ``stale_after`` seconds; one without is stale when it was created more
    than ``grace_period`` seconds ago (its node died before marking it).
    """
    mark = tags.get(TAG_ALIVE)
    note = ""
    if mark is not None:
        try:
            alive = float(mark)
        except ValueError:
            note = f"unreadable alive mark {mark!r}, "
        else:
            age = now - alive
            if age > stale_after:
                return True, f"alive mark {age:.0f} s old (stale after {stale_after:g} s)"
            return False, f"alive mark {max(age, 0.0):.0f} s old (stale after {stale_after:g} s)"
    if created is None:
        return False, f"{note}no alive mark and no creation time"
    age = now - created
    if age > grace_period:
        return True, f"{note}no alive mark, created {age:.0f} s ago (grace {grace_period:g} s)"
    return False, f"{note}no alive mark yet, created {max(age, 0.0):.0f} s ago (grace period)"


@dataclass(frozen=True)
class QueueDecision:
    """What :func:`review_queue` found out about one node queue."""

    name: str
    url: str
    arn: str
    stale: bool
    reason: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class QueueOutcome:
    """A queue that was deleted (or, in a dry run, would be) or kept, and why."""

    name: str
    url: str
    reason: str


@dataclass(frozen=True)
class SubscriptionOutcome:
    """A subscription that was removed (or, in a dry run, would be), and why."""

    arn: str
    queue_name: str
    reason: str


@dataclass
class CleanupReport:
    """The result of one :func:`cleanup` run.

    In a dry run nothing is deleted; ``deleted_queues`` and ``removed_subscriptions`` list
    what a real run would delete. ``errors`` describes every operation that failed; the run
    carries on past them.
    """

    queue_prefix: str
    topic_arn: str | None
    dry_run: bool
    deleted_queues: list[QueueOutcome] = field(default_factory=list)
    kept_queues: list[QueueOutcome] = field(default_factory=list)
    removed_subscriptions: list[SubscriptionOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no operation failed."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-serialisable values."""
        return dataclasses.asdict(self)


def list_node_queues(sqs_client: SQSClient, queue_prefix: str) -> list[str]:
    """URLs of the node queues under ``queue_prefix`` (see :func:`is_node_queue_name`)."""
    urls = []
    pages = sqs_client.get_paginator("list_queues").paginate(
        QueueNamePrefix=queue_prefix, PaginationConfig={"PageSize": 1000}
    )
    for page in pages:
        for url in page.get("QueueUrls", []):
            if is_node_queue_name(_queue_name(url), queue_prefix):
                urls.append(url)
    return urls


def review_queue(
    sqs_client: SQSClient,
    queue_url: str,
    *,
    now: float,
    stale_after: float = DEFAULT_STALE_AFTER,
    grace_period: float = DEFAULT_GRACE_PERIOD,
) -> QueueDecision | None:
    """Read a queue's tags and creation time and judge it; None if the queue is gone.

    Raises botocore's ``ClientError``/``BotoCoreError`` on any other failure.
    """
    try:
        attributes = sqs_client.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["CreatedTimestamp", "QueueArn"]
        )["Attributes"]
        tags = sqs_client.list_queue_tags(QueueUrl=queue_url).get("Tags", {})
    except ClientError as exc:
        if error_code(exc) in MISSING_QUEUE_CODES:
            return None
        raise
    created_text = attributes.get("CreatedTimestamp")
    created = float(created_text) if created_text else None
    stale, reason = judge_queue(
        tags, created, now=now, stale_after=stale_after, grace_period=grace_period
    )
    return QueueDecision(
        name=_queue_name(queue_url),
        url=queue_url,
        arn=attributes.get("QueueArn", ""),
        stale=stale,
        reason=reason,
        tags=tags,
    )


def find_stale_queues(
    sqs_client: SQSClient,
    *,
    queue_prefix: str,
    stale_after: float = DEFAULT_STALE_AFTER,
    grace_period: float = DEFAULT_GRACE_PERIOD,
    now: float | None = None,
) -> list[QueueDecision]:
    """The node queues under ``queue_prefix`` that belong to dead nodes; deletes nothing.

    Raises botocore's ``ClientError``/``BotoCoreError`` when AWS refuses a call.
    """
    _check_options(queue_prefix, stale_after, grace_period)
    now = time.time() if now is None else now
    stale = []
    for url in list_node_queues(sqs_client, queue_prefix):
        decision = review_queue(
            sqs_client, url, now=now, stale_after=stale_after, grace_period=grace_period
        )
        if decision is not None and decision.stale:
            stale.append(decision)
    return stale


def cleanup(
    sqs_client: SQSClient,
    sns_client: SNSClient,
    *,
    queue_prefix: str,
    topic_arn: str,
    stale_after: float = DEFAULT_STALE_AFTER,
    grace_period: float = DEFAULT_GRACE_PERIOD,
    dry_run: bool = False,
    now: float | None = None,
) -> CleanupReport:
    """Delete the stale node queues of the cluster of ``topic_arn`` and their subscriptions.

    Only what provably belongs to this cluster is touched: a queue named
    ``<queue_prefix>-<node uid>`` whose :data:`TAG_TOPIC` tag names ``topic_arn`` (a queue of
    another cluster sharing the prefix, or one without the tag, is kept), and only
    subscriptions of ``topic_arn`` whose endpoint is that queue, as SNS lists them (the
    :data:`TAG_SUBSCRIPTION` tag is not trusted: it could name anything). A queue is stale
    as :func:`judge_queue` says. The subscription goes first, so the topic never delivers to
    a deleted queue; a queue whose subscription could not be removed is kept for the next
    run. Subscriptions of ``topic_arn`` whose queue (a node queue under the prefix, in the
    client's region) no longer exists are removed too. With ``dry_run`` nothing is deleted:
    the report says what would be. ``now`` (Unix seconds) replaces the clock.

    AWS failures do not raise: they are logged and listed in the report's ``errors``.
    """
    _check_options(queue_prefix, stale_after, grace_period)
    run = _CleanupRun(
        sqs_client,
        sns_client,
        CleanupReport(queue_prefix=queue_prefix, topic_arn=topic_arn, dry_run=dry_run),
    )
    run.remove_stale_queues(
        now=time.time() if now is None else now,
        stale_after=stale_after,
        grace_period=grace_period,
    )
    run.remove_orphan_subscriptions(topic_arn)
    report = run.report
    logger.info(
        "cleanup of %r%s: %d queue(s) deleted, %d kept, %d subscription(s) removed, %d error(s)",
        queue_prefix,
        " (dry run)" if dry_run else "",
        len(report.deleted_queues),
        len(report.kept_queues),
        len(report.removed_subscriptions),
        len(report.errors),
    )
    return report


class _CleanupRun:
    """The state of one :func:`cleanup` call: clients, report, what was seen so far."""

    def __init__(self, sqs: SQSClient, sns: SNSClient, report: CleanupReport) -> None:
        self.sqs = sqs
        self.sns = sns
        self.report = report
        self.prefix = report.queue_prefix
        self.dry_run = report.dry_run
        self.handled_subscriptions: set[str] = set()
        self.kept_queue_arns: set[str] = set()
        self.stale_queue_arns: set[str] = set()
        self._topic_subscriptions: dict[str, list[SubscriptionTypeDef]] = {}

    def remove_stale_queues(self, *, now: float, stale_after: float, grace_period: float) -> None:
        try:
            urls = list_node_queues(self.sqs, self.prefix)
        except _AwsError as exc:
            self.error(f"cannot list the queues under {self.prefix!r}: {exc}")
            return
        for url in urls:
            try:
                decision = review_queue(
                    self.sqs, url, now=now, stale_after=stale_after, grace_period=grace_period
                )
            except _AwsError as exc:
                self.error(f"cannot inspect queue {url}: {exc}")
                continue
            if decision is None:
                logger.debug("queue %s vanished while the cleanup ran", url)
            elif decision.tags.get(TAG_TOPIC) != self.report.topic_arn:
                # same prefix, but not provably this cluster's: another topic, or no tag
                self.report.kept_queues.append(
                    QueueOutcome(
                        decision.name,
                        decision.url,
                        f"not of this cluster (topic tag {decision.tags.get(TAG_TOPIC)!r})",
                    )
                )
            elif decision.stale:
                self.stale_queue_arns.add(decision.arn)
                self.remove_queue(decision)
            else:
                self.kept_queue_arns.add(decision.arn)
                self.report.kept_queues.append(
                    QueueOutcome(decision.name, decision.url, decision.reason)
                )

    def remove_queue(self, queue: QueueDecision) -> None:
        reason = f"queue {queue.name} is stale"
        for subscription_arn in self.subscriptions_of(queue):
            if not self.unsubscribe(subscription_arn, queue.name, reason):
                self.error(f"kept stale queue {queue.name}: its subscription could not be removed")
                return
        if not self.dry_run:
            try:
                self.sqs.delete_queue(QueueUrl=queue.url)
            except ClientError as exc:
                if error_code(exc) not in MISSING_QUEUE_CODES:
                    self.error(f"cannot delete queue {queue.name}: {exc}")
                    return
            except BotoCoreError as exc:
                self.error(f"cannot delete queue {queue.name}: {exc}")
                return
            logger.info("deleted queue %s: %s", queue.name, queue.reason)
        self.report.deleted_queues.append(QueueOutcome(queue.name, queue.url, queue.reason))

    def subscriptions_of(self, queue: QueueDecision) -> list[str]:
        """The cluster topic's subscriptions delivering to ``queue``, as SNS lists them."""
        topic_arn = self.report.topic_arn
        assert topic_arn is not None
        try:
            subscriptions = self.topic_subscriptions(topic_arn)
        except _AwsError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                self.error(f"cannot list the subscriptions of {topic_arn}: {exc}")
            return []
        return [
            subscription["SubscriptionArn"]
            for subscription in subscriptions
            if subscription.get("Endpoint") == queue.arn
            and subscription.get("Protocol") == "sqs"
            and _is_confirmed(subscription.get("SubscriptionArn", ""))
        ]

    def remove_orphan_subscriptions(self, topic_arn: str) -> None:
        try:
            subscriptions = self.topic_subscriptions(topic_arn)
        except _AwsError as exc:
            self.error(f"cannot list the subscriptions of {topic_arn}: {exc}")
            return
        for subscription in subscriptions:
            arn = subscription.get("SubscriptionArn", "")
            endpoint = subscription.get("Endpoint", "")
            if arn in self.handled_subscriptions or not _is_confirmed(arn):
                continue
            if subscription.get("Protocol") != "sqs":
                continue
            queue = _parse_queue_arn(endpoint)
            if queue is None or not is_node_queue_name(queue.name, self.prefix):
                continue
            if endpoint in self.stale_queue_arns:
                self.unsubscribe(arn, queue.name, f"queue {queue.name} is stale")
            elif endpoint in self.kept_queue_arns:
                continue
            elif queue.region != self.sqs.meta.region_name:
                # Existence can only be checked in the client's region; leave it alone.
                logger.debug("skipping subscription %s to a queue in %s", arn, queue.region)
            elif self.queue_is_gone(queue):
                self.unsubscribe(arn, queue.name, f"queue {queue.name} no longer exists")

    def queue_is_gone(self, queue: _QueueArn) -> bool:
        try:
            self.sqs.get_queue_url(QueueName=queue.name, QueueOwnerAWSAccountId=queue.account)
        except ClientError as exc:
            if error_code(exc) in MISSING_QUEUE_CODES:
                return True
            self.error(f"cannot check whether queue {queue.name} exists: {exc}")
        except BotoCoreError as exc:
            self.error(f"cannot check whether queue {queue.name} exists: {exc}")
        return False

    def unsubscribe(self, subscription_arn: str, queue_name: str, reason: str) -> bool:
        """Remove one subscription (unless dry run); False when that failed."""
        self.handled_subscriptions.add(subscription_arn)
        if not self.dry_run:
            try:
                self.sns.unsubscribe(SubscriptionArn=subscription_arn)
            except ClientError as exc:
                if error_code(exc) not in NOT_FOUND_CODES:
                    self.error(f"cannot remove subscription {subscription_arn}: {exc}")
                    return False
            except BotoCoreError as exc:
                self.error(f"cannot remove subscription {subscription_arn}: {exc}")
                return False
            logger.info("removed subscription %s: %s", subscription_arn, reason)
        self.report.removed_subscriptions.append(
            SubscriptionOutcome(subscription_arn, queue_name, reason)
        )
        return True

    def topic_subscriptions(self, topic_arn: str) -> list[SubscriptionTypeDef]:
        """The topic's subscriptions, listed once per run."""
        if topic_arn not in self._topic_subscriptions:
            pages = self.sns.get_paginator("list_subscriptions_by_topic").paginate(
                TopicArn=topic_arn
            )
            self._topic_subscriptions[topic_arn] = [
                subscription for page in pages for subscription in page.get("Subscriptions", [])
            ]
        return self._topic_subscriptions[topic_arn]

    def error(self, message: str) -> None:
        logger.warning("%s", message)
        self.report.errors.append(message)


@dataclass(frozen=True)
class _QueueArn:
    region: str
    account: str
    name: str


def _parse_queue_arn(arn: str) -> _QueueArn | None:
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        return None
    return _QueueArn(region=parts[3], account=parts[4], name=parts[5])


def _is_confirmed(subscription_arn: str) -> bool:
    # Pending subscriptions carry a placeholder such as "PendingConfirmation" instead.
    return subscription_arn.startswith("arn:")


def _queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def _check_options(queue_prefix: str, stale_after: float, grace_period: float) -> None:
    # An empty prefix would put every queue of the account within reach.
    if not queue_prefix:
        raise ValueError("queue_prefix must not be empty")
    if stale_after <= 0 or grace_period < 0:
        raise ValueError("stale_after must be positive and grace_period not negative")
