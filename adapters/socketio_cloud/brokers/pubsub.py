"""Facts about Google Cloud Pub/Sub shared by the transport, the cleanup, the CLI, the app
and the deploy programs: names, labels, defaults, limits, API calls and the IAM permissions
they need.

No SDK import here: deploy programs and the cleanup function read these facts without the
transport's dependencies.

Framing (Node's ``@socket.io/gcp-pubsub-adapter`` 0.1): one message per cluster message,
``data`` = msgpack of the whole envelope (``type``, ``uid``, ``nsp``, ``data`` when present),
string attributes ``nsp`` and ``uid``, and ``requesterUid`` on responses only. Each node pulls
its own subscription ``<subscription_prefix>-<uid>`` of the cluster's topic.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

__all__ = [
    "ATTR_NSP",
    "ATTR_PAYLOAD",
    "ATTR_PROBE",
    "ATTR_REQUESTER",
    "ATTR_UID",
    "CLEANUP_API_CALLS",
    "CLEANUP_PERMISSIONS",
    "DEFAULT_ACK_DEADLINE",
    "DEFAULT_EXPIRATION_TTL",
    "DEFAULT_LIVENESS_INTERVAL",
    "DEFAULT_MESSAGE_RETENTION",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_SUBSCRIPTION_PREFIX",
    "EMITTER_API_CALLS",
    "EMITTER_PERMISSIONS",
    "LABEL_ALIVE",
    "LABEL_NODE",
    "LABEL_TOPIC",
    "MIN_EXPIRATION_TTL",
    "MIN_MESSAGE_RETENTION",
    "NODE_API_CALLS",
    "NODE_PERMISSIONS",
    "NODE_TOPIC_API_CALLS",
    "PERMISSIONS_BY_CALL",
    "PROBE_SENDER",
    "PUBSUB_MAX_MESSAGE_SIZE",
    "PUBSUB_MAX_REQUEST_SIZE",
    "alive_mark",
    "is_node_subscription_id",
    "label_value",
    "node_subscription_id",
    "permissions_for",
    "subscription_filter",
    "subscription_path",
    "topic_path",
]

#: Node's default ``subscriptionPrefix``.
DEFAULT_SUBSCRIPTION_PREFIX = "socket.io"

#: Seconds a node has to acknowledge a pulled message (Pub/Sub allows 10 to 600).
DEFAULT_ACK_DEADLINE = 20
#: Seconds Pub/Sub keeps an unacknowledged message; the minimum it allows (stale cluster
#: messages are useless, Node keeps Pub/Sub's default of 7 days).
DEFAULT_MESSAGE_RETENTION = 600
MIN_MESSAGE_RETENTION = 600
#: A subscription nobody pulls for this long is deleted by Pub/Sub itself; the minimum it
#: allows (one day), so a dead node's subscription goes away even without the cleanup.
DEFAULT_EXPIRATION_TTL = 86_400
MIN_EXPIRATION_TTL = 86_400
#: Seconds between two refreshes of a node's :data:`LABEL_ALIVE` mark.
DEFAULT_LIVENESS_INTERVAL = 300.0
#: A subscription whose alive mark is older than this belongs to a dead node.
DEFAULT_STALE_AFTER = 900.0
# A node subscription without a readable alive mark is never deleted by the cleanup: the
# API does not tell its creation time; its expiration policy removes it once nobody pulls.

#: Pub/Sub's limit for one message (data plus attributes), in bytes.
PUBSUB_MAX_MESSAGE_SIZE = 10_000_000
#: Pub/Sub's limit for one publish request, in bytes.
PUBSUB_MAX_REQUEST_SIZE = 10_000_000

#: Message attributes (Node's names, plus ours for probes and offloaded payloads).
ATTR_NSP = "nsp"
ATTR_UID = "uid"
ATTR_REQUESTER = "requesterUid"
#: Ours: a start-up probe's token (the probe is addressed to its sender: others drop it).
ATTR_PROBE = "probe"
#: Ours: the pointer of an offloaded payload (the ``data`` then holds the envelope without
#: its ``data`` map).
ATTR_PAYLOAD = "payloadRef"
#: The ``uid`` attribute of a probe: not a node uid, so the subscription filter passes it.
PROBE_SENDER = "probe"

#: Subscription labels (keys and values: lowercase letters, digits, ``_`` and ``-``, at
#: most 63 characters).
LABEL_NODE = "socketio-node"  # the node uid
LABEL_TOPIC = "socketio-topic"  # label_value(topic id): a hint; the cleanup checks the topic
LABEL_ALIVE = "socketio-alive"  # Unix seconds of the node's last liveness refresh

_NODE_UID_PATTERN = "[0-9a-f]{16}"
_LABEL_INVALID = re.compile(r"[^a-z0-9_-]")

# API calls (gRPC method names of google.pubsub.v1) and the IAM permission each needs,
# from Google's access-control table.
PERMISSIONS_BY_CALL: Mapping[str, tuple[str, ...]] = {
    "Publish": ("pubsub.topics.publish",),
    "CreateTopic": ("pubsub.topics.create",),
    "CreateSubscription": ("pubsub.subscriptions.create", "pubsub.topics.attachSubscription"),
    "Pull": ("pubsub.subscriptions.consume",),
    "Acknowledge": ("pubsub.subscriptions.consume",),
    "UpdateSubscription": ("pubsub.subscriptions.update",),
    "DeleteSubscription": ("pubsub.subscriptions.delete",),
    "GetSubscription": ("pubsub.subscriptions.get",),
    "ListTopicSubscriptions": ("pubsub.topics.get",),
}

#: Calls a node makes: publish; create, pull, acknowledge its subscription; refresh the
#: alive label (UpdateSubscription); delete the subscription on close.
NODE_API_CALLS: tuple[str, ...] = (
    "Publish",
    "CreateSubscription",
    "Pull",
    "Acknowledge",
    "UpdateSubscription",
    "DeleteSubscription",
)
#: Calls a node makes only with ``create_topic=True``.
NODE_TOPIC_API_CALLS: tuple[str, ...] = ("CreateTopic",)
#: Calls an emitter makes.
EMITTER_API_CALLS: tuple[str, ...] = ("Publish",)
#: Calls the cleanup makes (list the topic's subscriptions, read each, delete the stale).
CLEANUP_API_CALLS: tuple[str, ...] = (
    "ListTopicSubscriptions",
    "GetSubscription",
    "DeleteSubscription",
)


def permissions_for(calls: tuple[str, ...]) -> tuple[str, ...]:
    """The IAM permissions ``calls`` need, sorted, each once."""
    return tuple(sorted({p for call in calls for p in PERMISSIONS_BY_CALL[call]}))


#: IAM permissions of a node (``pubsub.topics.create`` too with ``create_topic=True``).
NODE_PERMISSIONS: tuple[str, ...] = permissions_for(NODE_API_CALLS)
#: IAM permissions of an emitter.
EMITTER_PERMISSIONS: tuple[str, ...] = permissions_for(EMITTER_API_CALLS)
#: IAM permissions of the cleanup (function or CLI).
CLEANUP_PERMISSIONS: tuple[str, ...] = permissions_for(CLEANUP_API_CALLS)


def topic_path(project: str, topic: str) -> str:
    """``projects/<project>/topics/<topic>``; a full path is returned as it is."""
    return topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}"


def subscription_path(project: str, subscription: str) -> str:
    """``projects/<project>/subscriptions/<subscription>``."""
    if subscription.startswith("projects/"):
        return subscription
    return f"projects/{project}/subscriptions/{subscription}"


def node_subscription_id(subscription_prefix: str, uid: str) -> str:
    """The subscription id of node ``uid`` (Node: ``<subscriptionPrefix>-<uid>``)."""
    return f"{subscription_prefix}-{uid}"


def is_node_subscription_id(subscription_id: str, subscription_prefix: str) -> bool:
    """Whether ``subscription_id`` (the last part of its path) is a node subscription of
    the cluster using ``subscription_prefix``."""
    pattern = f"{re.escape(subscription_prefix)}-{_NODE_UID_PATTERN}"
    return re.fullmatch(pattern, subscription_id) is not None


def label_value(text: str) -> str:
    """``text`` made into a valid label value (lowercase, ``[a-z0-9_-]``, at most 63)."""
    return _LABEL_INVALID.sub("_", text.lower())[:63]


def alive_mark(now: float | None = None) -> str:
    """The value of the :data:`LABEL_ALIVE` label for a refresh at ``now`` (default: now)."""
    return str(int(time.time() if now is None else now))


def subscription_filter(uid: str) -> str:
    """The filter of node ``uid``'s subscription: nothing the node sent itself, no
    responses addressed to other nodes."""
    return (
        f'attributes.{ATTR_UID} != "{uid}" AND '
        f'(NOT attributes:{ATTR_REQUESTER} OR attributes.{ATTR_REQUESTER} = "{uid}")'
    )
