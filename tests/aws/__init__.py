"""Tests against moto's AWS server, and helpers that create resources as a node does."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from socketio_cloud.cleanup.aws import (
    TAG_ALIVE,
    TAG_NODE,
    TAG_SUBSCRIPTION,
    TAG_TOPIC,
    alive_mark,
    node_queue_name,
)


@dataclass(frozen=True)
class NodeQueue:
    """A queue (and its subscription) as an AWS node creates them."""

    uid: str
    name: str
    url: str
    arn: str
    subscription_arn: str | None


def unique_prefix() -> str:
    """A queue prefix no other test uses (the moto server is shared by the session)."""
    return f"t{uuid.uuid4().hex[:12]}"


def create_topic(sns: Any, prefix: str) -> str:
    return str(sns.create_topic(Name=f"{prefix}-topic")["TopicArn"])


def create_node_queue(
    sqs: Any,
    sns: Any,
    *,
    prefix: str,
    topic_arn: str | None,
    alive: float | None,
    name: str | None = None,
    tag_subscription: bool = True,
) -> NodeQueue:
    """Create ``<prefix>-<uid>`` with the node tags and subscribe it to ``topic_arn``.

    ``alive`` is the time of the last liveness refresh (None: no alive mark); ``name``
    replaces the queue name, for queues that do not follow the node naming.
    """
    uid = secrets.token_hex(8)
    name = name or node_queue_name(prefix, uid)
    tags = {TAG_NODE: uid}
    if topic_arn is not None:
        tags[TAG_TOPIC] = topic_arn
    if alive is not None:
        tags[TAG_ALIVE] = alive_mark(alive)
    url = sqs.create_queue(QueueName=name, tags=tags)["QueueUrl"]
    arn = queue_arn(sqs, url)
    subscription_arn = None
    if topic_arn is not None:
        subscription_arn = sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        if tag_subscription:
            sqs.tag_queue(QueueUrl=url, Tags={TAG_SUBSCRIPTION: subscription_arn})
    return NodeQueue(uid, name, url, arn, subscription_arn)


def queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def queue_exists(sqs: Any, name: str) -> bool:
    try:
        sqs.get_queue_url(QueueName=name)
    except sqs.exceptions.QueueDoesNotExist:
        return False
    return True


def topic_subscriptions(sns: Any, topic_arn: str) -> set[str]:
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    return {sub["SubscriptionArn"] for page in pages for sub in page["Subscriptions"]}
