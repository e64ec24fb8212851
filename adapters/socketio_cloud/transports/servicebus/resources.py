"""A Service Bus node's own resources, through the administration client: the cluster's topic
(when the node may create it) and the node's subscription with its rule.

The subscription ``<subscription_prefix>-<uid>`` gets a short ``default_message_time_to_live``
and ``auto_delete_on_idle``, and the SQL rule of
:func:`~socketio_cloud.brokers.servicebus.subscription_filter` in place of the match-all
``$Default`` rule. Every call is idempotent, so recovery can repeat them.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.servicebus.aio.management import ServiceBusAdministrationClient
from azure.servicebus.management import SqlRuleFilter

from ...brokers.servicebus import (
    DEFAULT_RULE_NAME,
    NODE_RULE_NAME,
    node_subscription_name,
    subscription_filter,
)

__all__ = ["NodeResources"]

logger = logging.getLogger("socketio_cloud.transports.servicebus")


class NodeResources:
    """The topic and the subscription of node ``uid``; counts its calls in ``counts["admin"]``."""

    def __init__(
        self,
        admin: ServiceBusAdministrationClient,
        *,
        topic_name: str,
        subscription_prefix: str,
        uid: str,
        message_time_to_live: float,
        auto_delete_on_idle: float,
        counts: Counter[str],
    ) -> None:
        self.admin = admin
        self.topic_name = topic_name
        self.uid = uid
        self.subscription_name = node_subscription_name(subscription_prefix, uid)
        self.message_time_to_live = message_time_to_live
        self.auto_delete_on_idle = auto_delete_on_idle
        self._counts = counts

    async def ensure_topic(self) -> None:
        """Create the topic unless it exists."""
        self._counts["admin"] += 1
        try:
            await self.admin.get_topic(self.topic_name)
            return
        except ResourceNotFoundError:
            pass
        self._counts["admin"] += 1
        try:
            await self.admin.create_topic(self.topic_name)
            logger.info("created topic %s", self.topic_name)
        except ResourceExistsError:
            pass  # another node was first

    async def ensure_subscription(self) -> bool:
        """Create the node's subscription and rule (an existing one is kept as it is);
        return whether the subscription was created."""
        name = self.subscription_name
        self._counts["admin"] += 1
        try:
            await self.admin.create_subscription(
                self.topic_name,
                name,
                default_message_time_to_live=timedelta(seconds=self.message_time_to_live),
                auto_delete_on_idle=timedelta(seconds=self.auto_delete_on_idle),
                dead_lettering_on_message_expiration=False,
            )
            created = True
        except ResourceExistsError:
            created = False
        self._counts["admin"] += 1
        try:
            await self.admin.create_rule(
                self.topic_name,
                name,
                NODE_RULE_NAME,
                filter=SqlRuleFilter(subscription_filter(self.uid)),
            )
        except ResourceExistsError:
            pass
        self._counts["admin"] += 1
        try:
            await self.admin.delete_rule(self.topic_name, name, DEFAULT_RULE_NAME)
        except ResourceNotFoundError:
            pass
        except (AzureError, OSError) as exc:
            # the node still filters on receipt; it only pays for what it drops
            logger.warning("could not remove the match-all rule of %s: %s", name, exc)
        return created

    async def delete_subscription(self) -> None:
        """Delete the node's subscription; failures are logged (auto-delete removes it)."""
        self._counts["admin"] += 1
        try:
            await self.admin.delete_subscription(self.topic_name, self.subscription_name)
        except ResourceNotFoundError:
            pass
        except (AzureError, OSError) as exc:
            logger.warning(
                "could not delete subscription %s (auto-delete on idle removes it): %s",
                self.subscription_name,
                exc,
            )

    async def close(self) -> None:
        """Close the administration client."""
        try:
            await self.admin.close()
        except Exception as exc:  # closing must finish whatever the broker says
            logger.debug("closing the administration client failed: %s", exc)
