"""Deleting the Pub/Sub subscriptions that crashed nodes left behind.

Every node of a Pub/Sub cluster owns the subscription ``<subscription_prefix>-<uid>`` of
the cluster's topic. A node that closes deletes it; a node that dies leaves it behind, and
the topic keeps filling it until Pub/Sub's expiration policy removes it (a day at the
least). Each node refreshes a liveness mark (the label
:data:`~socketio_cloud.brokers.pubsub.LABEL_ALIVE`, Unix seconds) every
``liveness_interval`` seconds; :func:`cleanup`, run on a schedule, deletes the topic's
subscriptions whose mark went stale.

A subscription is deleted only when everything proves it is a node subscription of this
cluster: its id is ``<subscription_prefix>-<16 hex>``, it is attached to the topic, its
node label holds that uid, its topic label matches, and its alive mark is older than
``stale_after``. Anything else is kept. A subscription without a readable mark is kept too
(the API does not tell when it was created); its expiration policy removes it.

This module imports only :mod:`socketio_cloud.brokers.pubsub` and ``google-cloud-pubsub``,
so that it runs in a Cloud Function with nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from google.api_core import exceptions as gexc

from ..brokers.pubsub import (
    DEFAULT_STALE_AFTER,
    DEFAULT_SUBSCRIPTION_PREFIX,
    LABEL_ALIVE,
    LABEL_NODE,
    LABEL_TOPIC,
    is_node_subscription_id,
    label_value,
    topic_path,
)

__all__ = [
    "CleanupReport",
    "SubscriptionDecision",
    "cleanup",
    "judge_subscription",
]

logger = logging.getLogger("socketio_cloud.cleanup.gcp")


@dataclass(frozen=True)
class SubscriptionDecision:
    """What the cleanup decided about one subscription of the topic."""

    name: str
    stale: bool
    reason: str


@dataclass
class CleanupReport:
    """The outcome of one :func:`cleanup` run."""

    project: str
    topic: str
    subscription_prefix: str
    dry_run: bool
    deleted: list[SubscriptionDecision] = field(default_factory=list)
    kept: list[SubscriptionDecision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run went through without errors."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_subscription(
    name: str,
    topic: str,
    labels: Mapping[str, str],
    *,
    cluster_topic: str,
    subscription_prefix: str,
    now: float,
    stale_after: float = DEFAULT_STALE_AFTER,
) -> SubscriptionDecision:
    """Decide about one subscription from its name, topic and labels.

    ``cluster_topic`` is the topic's full path. Returns a decision whose ``stale`` is True
    only for a node subscription of this cluster with a stale alive mark.
    """
    subscription_id = name.rsplit("/", 1)[-1]
    if not is_node_subscription_id(subscription_id, subscription_prefix):
        return SubscriptionDecision(name, False, "not a node subscription of this prefix")
    if topic != cluster_topic:
        return SubscriptionDecision(name, False, f"attached to another topic ({topic})")
    uid = subscription_id[len(subscription_prefix) + 1 :]
    if labels.get(LABEL_NODE) != uid:
        return SubscriptionDecision(name, False, "its node label does not name its uid")
    if labels.get(LABEL_TOPIC) != label_value(cluster_topic.rsplit("/", 1)[-1]):
        return SubscriptionDecision(name, False, "its topic label names another topic")
    mark = labels.get(LABEL_ALIVE)
    try:
        alive = float(mark) if mark is not None else None
    except ValueError:
        alive = None
    if alive is None:
        return SubscriptionDecision(name, False, "no readable alive mark (left to expiration)")
    age = now - alive
    if age > stale_after:
        return SubscriptionDecision(
            name, True, f"alive mark {age:.0f} s old (stale after {stale_after:g} s)"
        )
    return SubscriptionDecision(
        name, False, f"alive mark {max(age, 0.0):.0f} s old (stale after {stale_after:g} s)"
    )


def cleanup(
    publisher: Any,
    subscriber: Any,
    *,
    project: str,
    topic: str,
    subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
    stale_after: float = DEFAULT_STALE_AFTER,
    dry_run: bool = False,
    now: float | None = None,
) -> CleanupReport:
    """Delete the stale node subscriptions of ``topic``; return what was done.

    :param publisher: a ``google.cloud.pubsub_v1.PublisherClient`` (lists the topic's
        subscriptions: ``pubsub.topics.get``).
    :param subscriber: a ``google.cloud.pubsub_v1.SubscriberClient`` (reads and deletes
        them: ``pubsub.subscriptions.get``, ``pubsub.subscriptions.delete``).
    :param dry_run: decide and report, delete nothing.
    :param now: the time to judge marks against (default: now).
    """
    if stale_after <= 0:
        raise ValueError("stale_after must be > 0")
    if not is_node_subscription_id(f"{subscription_prefix}-{'0' * 16}", subscription_prefix):
        raise ValueError(f"not a subscription prefix: {subscription_prefix!r}")
    cluster_topic = topic_path(project, topic)
    report = CleanupReport(project, cluster_topic, subscription_prefix, dry_run)
    moment = time.time() if now is None else now
    try:
        names = list(publisher.list_topic_subscriptions(topic=cluster_topic))
    except gexc.NotFound:
        logger.info("topic %s does not exist: nothing to clean", cluster_topic)
        return report
    except gexc.GoogleAPICallError as exc:
        report.errors.append(f"cannot list the subscriptions of {cluster_topic}: {exc}")
        return report
    for name in names:
        subscription_id = name.rsplit("/", 1)[-1]
        if not is_node_subscription_id(subscription_id, subscription_prefix):
            report.kept.append(SubscriptionDecision(name, False, "not a node subscription"))
            continue
        try:
            subscription = subscriber.get_subscription(subscription=name)
        except gexc.NotFound:
            continue  # deleted meanwhile
        except gexc.GoogleAPICallError as exc:
            report.errors.append(f"cannot read {name}: {exc}")
            continue
        decision = judge_subscription(
            name,
            subscription.topic,
            dict(subscription.labels),
            cluster_topic=cluster_topic,
            subscription_prefix=subscription_prefix,
            now=moment,
            stale_after=stale_after,
        )
        if not decision.stale:
            report.kept.append(decision)
            continue
        if not dry_run:
            try:
                subscriber.delete_subscription(subscription=name)
            except gexc.NotFound:
                pass
            except gexc.GoogleAPICallError as exc:
                report.errors.append(f"cannot delete {name}: {exc}")
                continue
            logger.info("deleted %s: %s", name, decision.reason)
        report.deleted.append(decision)
    return report
