"""Facts about Google Cloud Pub/Sub shared by the transport, the cleanup, the CLI, the app
and the deploy programs: names, labels, defaults, limits, API calls and the IAM permissions
they need.

Every permission is named by the API call that needs it. A permission on ``pubsub.topics.*``
is checked on the topic, one on ``pubsub.subscriptions.*`` on the subscription, or on the
project for ``CreateSubscription`` (the subscription does not exist yet), one on
``storage.objects.*`` on the bucket. Per-node subscriptions are created at run time, so
``pubsub.subscriptions.*`` can only be granted on the project: Pub/Sub is not among the
services whose IAM Conditions see ``resource.name`` (``pubsublite`` is, ``pubsub`` is not), so
no condition can narrow that grant to the cluster's prefix. Deploy the cluster in a project of
its own where that matters.

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

__all__ = [
    "ATTR_NSP",
    "ATTR_PAYLOAD",
    "ATTR_PROBE",
    "ATTR_REQUESTER",
    "ATTR_UID",
    "CALL_PERMISSIONS",
    "CLEANUP_CALLS",
    "CLEANUP_PERMISSIONS",
    "CREATE_TOPIC_CALLS",
    "CREATE_TOPIC_PERMISSIONS",
    "DEFAULT_ACK_DEADLINE",
    "DEFAULT_EXPIRATION_TTL",
    "DEFAULT_LIVENESS_INTERVAL",
    "DEFAULT_MESSAGE_RETENTION",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_SUBSCRIPTION_PREFIX",
    "EMITTER_CALLS",
    "EMITTER_PERMISSIONS",
    "LABEL_ALIVE",
    "LABEL_NODE",
    "LABEL_TOPIC",
    "MIN_EXPIRATION_TTL",
    "MIN_MESSAGE_RETENTION",
    "NODE_CALLS",
    "NODE_PERMISSIONS",
    "PAYLOAD_CALLS",
    "PAYLOAD_PERMISSIONS",
    "PERMISSION_SCOPES",
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

# The API calls each role makes (gRPC method names of google.pubsub.v1; Cloud Storage: JSON
# API methods) and the IAM permission each call needs, from the per-method table of Pub/Sub's
# access-control documentation. A test checks that the transport's and the cleanup's call
# counters never show a call outside these sets.

#: The permissions each API call needs.
CALL_PERMISSIONS: dict[str, frozenset[str]] = {
    # every broadcast, request, response, heartbeat and start-up probe
    "Publish": frozenset({"pubsub.topics.publish"}),
    # only with create_topic=True
    "CreateTopic": frozenset({"pubsub.topics.create"}),
    # checked on the project (the subscription does not exist yet) and on the topic it
    # attaches to; labels, filter, expiration policy, retention and ack deadline are fields
    # of the same call
    "CreateSubscription": frozenset(
        {"pubsub.subscriptions.create", "pubsub.topics.attachSubscription"}
    ),
    "Pull": frozenset({"pubsub.subscriptions.consume"}),
    "Acknowledge": frozenset({"pubsub.subscriptions.consume"}),
    # refreshing the liveness label the cleanup reads
    "UpdateSubscription": frozenset({"pubsub.subscriptions.update"}),
    # a node's graceful close; the cleanup's removal of a stale subscription
    "DeleteSubscription": frozenset({"pubsub.subscriptions.delete"}),
    # the cleanup reads the labels (node, topic, liveness mark)
    "GetSubscription": frozenset({"pubsub.subscriptions.get"}),
    # the cleanup lists the topic's subscriptions (checked on the topic)
    "ListTopicSubscriptions": frozenset({"pubsub.topics.get"}),
    # GcsPayloadStore: put (a media upload) and get (metadata, then the bytes)
    "objects.insert": frozenset({"storage.objects.create"}),
    "objects.get": frozenset({"storage.objects.get"}),
}

#: Calls a node makes: publish; create, pull and acknowledge its subscription; refresh the
#: alive label; delete the subscription on close. (Never GetTopic: a missing topic makes
#: CreateSubscription fail with NotFound, which says the same.)
NODE_CALLS = frozenset(
    {
        "Publish",
        "CreateSubscription",
        "Pull",
        "Acknowledge",
        "UpdateSubscription",
        "DeleteSubscription",
    }
)
#: Calls a node makes besides with ``create_topic=True`` (at start, and after the topic was
#: lost).
CREATE_TOPIC_CALLS = frozenset({"CreateTopic"})
#: Calls an emitter makes.
EMITTER_CALLS = frozenset({"Publish"})
#: Calls the cleanup makes: list the topic's subscriptions, read each, delete the stale ones.
CLEANUP_CALLS = frozenset({"ListTopicSubscriptions", "GetSubscription", "DeleteSubscription"})
#: Calls of the Cloud Storage payload store (senders insert, receivers get).
PAYLOAD_CALLS = frozenset({"objects.insert", "objects.get"})


def permissions_for(calls: frozenset[str]) -> frozenset[str]:
    """The IAM permissions ``calls`` need."""
    return frozenset().union(*(CALL_PERMISSIONS[call] for call in calls))


#: IAM permissions of a node (plus :data:`CREATE_TOPIC_PERMISSIONS` with ``create_topic``).
NODE_PERMISSIONS = permissions_for(NODE_CALLS)
#: IAM permission a node needs besides with ``create_topic=True`` (on the project).
CREATE_TOPIC_PERMISSIONS = permissions_for(CREATE_TOPIC_CALLS)
#: IAM permissions of an emitter.
EMITTER_PERMISSIONS = permissions_for(EMITTER_CALLS)
#: IAM permissions of the cleanup (function or CLI).
CLEANUP_PERMISSIONS = permissions_for(CLEANUP_CALLS)
#: Cloud Storage permissions on the payload bucket (senders need only ``create``, receivers
#: ``get``; a node is both).
PAYLOAD_PERMISSIONS = permissions_for(PAYLOAD_CALLS)

#: Where each permission is checked, by its prefix: the narrowest resource a grant can name.
PERMISSION_SCOPES = {
    "pubsub.topics.": "topic",
    "pubsub.subscriptions.": "project",
    "storage.objects.": "bucket",
}


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
