"""Deleting the Service Bus subscriptions that crashed nodes left behind.

Every node of a Service Bus cluster owns one subscription of the cluster's topic,
``<subscription_prefix>-<node uid>``. A node that closes deletes it; a node that dies leaves
it behind, and the topic keeps copying every cluster message into it until Service Bus
deletes it after ``auto_delete_on_idle`` (5 minutes at least, and only where the namespace
allows it). :func:`cleanup`, run on a schedule, is faster and a safety net: it deletes the
subscriptions whose last activity is stale.

The rule (the same for every broker's cleanup):

- only subscriptions listed under **this** topic (the administration API is asked for the
  topic's subscriptions, nothing else);
- only names ``<subscription_prefix>-<16 hex digits>``, so another cluster's prefix that
  starts with this one (``socket.io-eu``) is never matched;
- only when the subscription's last activity (the latest of Service Bus's
  ``accessed_at_utc``, ``created_at_utc`` and ``updated_at_utc``; a live node receives
  continuously, which Service Bus records as an access) is older than ``stale_after``, checked
  again right before the deletion;
- ``dry_run`` reports without deleting.

This module imports only the standard library, the broker facts and ``azure-servicebus``, so
that it runs in an Azure Functions app that has nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, ResourceNotFoundError

from ..brokers.servicebus import (
    DEFAULT_STALE_AFTER,
    DEFAULT_SUBSCRIPTION_PREFIX,
    is_node_subscription_name,
    last_activity,
)

if TYPE_CHECKING:
    from azure.servicebus.aio.management import ServiceBusAdministrationClient
    from azure.servicebus.management import SubscriptionRuntimeProperties

__all__ = [
    "DEFAULT_STALE_AFTER",
    "DEFAULT_SUBSCRIPTION_PREFIX",
    "MIN_STALE_AFTER",
    "CleanupReport",
    "SubscriptionDecision",
    "cleanup",
    "find_stale_subscriptions",
    "judge_subscription",
]

logger = logging.getLogger("socketio_cloud.cleanup")

#: The smallest ``stale_after`` the command line and the function accept: below this, a live
#: node between two receive calls could look stale. The library accepts any positive value.
MIN_STALE_AFTER = 60.0


@dataclass(frozen=True)
class SubscriptionDecision:
    """What the cleanup thinks of one node subscription."""

    name: str
    stale: bool
    reason: str
    last_activity: datetime | None = None


@dataclass
class CleanupReport:
    """What one :func:`cleanup` run found and did."""

    topic_name: str
    subscription_prefix: str
    dry_run: bool
    deleted: list[SubscriptionDecision] = field(default_factory=list)
    kept: list[SubscriptionDecision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every operation succeeded."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable data."""

        def entry(decision: SubscriptionDecision) -> dict[str, Any]:
            data = dataclasses.asdict(decision)
            if decision.last_activity is not None:
                data["last_activity"] = decision.last_activity.isoformat()
            return data

        return {
            "topic_name": self.topic_name,
            "subscription_prefix": self.subscription_prefix,
            "dry_run": self.dry_run,
            "deleted": [entry(d) for d in self.deleted],
            "kept": [entry(d) for d in self.kept],
            "errors": list(self.errors),
        }


def judge_subscription(
    properties: SubscriptionRuntimeProperties,
    subscription_prefix: str,
    *,
    now: datetime,
    stale_after: float,
) -> SubscriptionDecision | None:
    """Decide about one subscription of the topic; None when it is not a node subscription
    under ``subscription_prefix`` (it is never touched, nor reported)."""
    name = str(properties.name)
    if not is_node_subscription_name(name, subscription_prefix):
        return None
    last = last_activity(
        properties.accessed_at_utc, properties.created_at_utc, properties.updated_at_utc
    )
    if last is None:
        return SubscriptionDecision(name, False, "no activity time", None)
    if last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    idle = (now - last).total_seconds()
    if idle > stale_after:
        return SubscriptionDecision(name, True, f"idle for {idle:.0f} s", last)
    return SubscriptionDecision(name, False, f"active {idle:.0f} s ago", last)


async def find_stale_subscriptions(
    admin: ServiceBusAdministrationClient,
    topic_name: str,
    subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
    *,
    stale_after: float = DEFAULT_STALE_AFTER,
    now: datetime | None = None,
) -> list[SubscriptionDecision]:
    """Every node subscription of ``topic_name`` under the prefix, judged."""
    _check_options(topic_name, stale_after)
    moment = now or datetime.now(timezone.utc)
    decisions = []
    async for properties in admin.list_subscriptions_runtime_properties(topic_name):
        decision = judge_subscription(
            properties, subscription_prefix, now=moment, stale_after=stale_after
        )
        if decision is not None:
            decisions.append(decision)
    return decisions


async def cleanup(
    admin: ServiceBusAdministrationClient,
    *,
    topic_name: str,
    subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
    stale_after: float = DEFAULT_STALE_AFTER,
    dry_run: bool = False,
    now: datetime | None = None,
) -> CleanupReport:
    """Delete the stale node subscriptions of ``topic_name`` (see the module's rule).

    ``admin`` needs the Manage claim (role "Azure Service Bus Data Owner") on the topic.
    Errors are collected in the report, not raised, except a missing topic or bad options.
    """
    report = CleanupReport(topic_name, subscription_prefix, dry_run)
    # ``now`` shifts the clock of the whole run, the re-check before each deletion included
    shift = (now - datetime.now(timezone.utc)) if now is not None else timedelta(0)
    try:
        # listing the subscriptions of a missing topic may answer an empty list
        await admin.get_topic(topic_name)
        decisions = await find_stale_subscriptions(
            admin, topic_name, subscription_prefix, stale_after=stale_after, now=now
        )
    except ResourceNotFoundError:
        report.errors.append(f"topic {topic_name!r} not found")
        return report
    except (AzureError, OSError) as exc:
        report.errors.append(f"cannot list the subscriptions of {topic_name!r}: {exc}")
        return report
    for decision in decisions:
        if not decision.stale:
            report.kept.append(decision)
            continue
        if dry_run:
            report.deleted.append(decision)
            continue
        await _delete_if_still_stale(
            admin, report, decision, subscription_prefix, stale_after, shift
        )
    logger.info(
        "%s: %d stale subscription(s) %s, %d kept, %d error(s)",
        topic_name,
        len(report.deleted),
        "found" if dry_run else "deleted",
        len(report.kept),
        len(report.errors),
    )
    return report


async def _delete_if_still_stale(
    admin: ServiceBusAdministrationClient,
    report: CleanupReport,
    decision: SubscriptionDecision,
    subscription_prefix: str,
    stale_after: float,
    shift: timedelta,
) -> None:
    topic_name = report.topic_name
    try:
        # a node that came back since the listing has touched its subscription again
        fresh = await admin.get_subscription_runtime_properties(topic_name, decision.name)
        again = judge_subscription(
            fresh,
            subscription_prefix,
            now=datetime.now(timezone.utc) + shift,
            stale_after=stale_after,
        )
        if again is None or not again.stale:
            report.kept.append(again or decision)
            return
        await admin.delete_subscription(topic_name, decision.name)
    except ResourceNotFoundError:
        return  # gone already (auto-delete on idle, or its node closed)
    except (AzureError, OSError) as exc:
        report.errors.append(f"cannot delete subscription {decision.name!r}: {exc}")
        return
    logger.info("deleted subscription %s of %s (%s)", decision.name, topic_name, decision.reason)
    report.deleted.append(decision)


def _check_options(topic_name: str, stale_after: float) -> None:
    if not topic_name:
        raise ValueError("a topic name is required")
    if not stale_after > 0:
        raise ValueError("stale_after must be a positive number of seconds")
