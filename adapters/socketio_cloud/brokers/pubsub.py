"""Google Cloud Pub/Sub: the IAM permissions each role of the kit needs.

Every permission below is named by the API call that needs it (the per-method table of the
Pub/Sub access-control documentation). A permission on ``pubsub.topics.*`` is checked on the
topic, one on ``pubsub.subscriptions.*`` on the subscription, or on the project for
``CreateSubscription`` (the subscription does not exist yet), one on ``storage.objects.*`` on the
bucket. Per-node subscriptions are created at run time, so ``pubsub.subscriptions.*`` can only be
granted on the project: Pub/Sub is not among the services whose IAM Conditions see
``resource.name`` (``pubsublite`` is, ``pubsub`` is not), so no condition can narrow that grant
to the cluster's prefix. Deploy the cluster in a project of its own where that matters.
"""

from __future__ import annotations

__all__ = [
    "CALL_PERMISSIONS",
    "CLEANUP_CALLS",
    "CLEANUP_PERMISSIONS",
    "EMITTER_CALLS",
    "EMITTER_PERMISSIONS",
    "NODE_CALLS",
    "NODE_PERMISSIONS",
    "PAYLOAD_CALLS",
    "PAYLOAD_PERMISSIONS",
    "PERMISSION_SCOPES",
]

NODE_PERMISSIONS = frozenset(
    {
        # GetTopic: the node checks the cluster topic exists before subscribing.
        "pubsub.topics.get",
        # Publish: every broadcast, request, response and heartbeat.
        "pubsub.topics.publish",
        # CreateSubscription, checked on the topic the subscription attaches to.
        "pubsub.topics.attachSubscription",
        # CreateSubscription, checked on the project (labels, filter, expiration policy,
        # retention and ack deadline are fields of the same call).
        "pubsub.subscriptions.create",
        # GetSubscription: the start-up probe and re-creation after a deletion.
        "pubsub.subscriptions.get",
        # UpdateSubscription: refreshing the liveness label the cleanup reads.
        "pubsub.subscriptions.update",
        # DeleteSubscription: graceful close removes the node's own subscription.
        "pubsub.subscriptions.delete",
        # StreamingPull / Pull, Acknowledge and ModifyAckDeadline.
        "pubsub.subscriptions.consume",
    }
)

EMITTER_PERMISSIONS = frozenset(
    {
        # Publish: an emitter only ever publishes to the topic.
        "pubsub.topics.publish",
    }
)

CLEANUP_PERMISSIONS = frozenset(
    {
        # ListTopicSubscriptions, checked on the topic.
        "pubsub.topics.get",
        # GetSubscription: reads the labels (cluster, node, liveness mark).
        "pubsub.subscriptions.get",
        # DeleteSubscription: removes a stale node's subscription.
        "pubsub.subscriptions.delete",
    }
)

PAYLOAD_PERMISSIONS = frozenset(
    {
        # objects.insert: the sender writes a payload over Pub/Sub's message size limit.
        "storage.objects.create",
        # objects.get: receivers read it.
        "storage.objects.get",
    }
)

#: Where each permission is checked, by its prefix: the narrowest resource a grant can name.
PERMISSION_SCOPES = {
    "pubsub.topics.": "topic",
    "pubsub.subscriptions.": "project",
    "storage.objects.": "bucket",
}

#: The permissions each API call needs, by RPC method name (Cloud Storage: JSON API method),
#: so a test can map the calls a transport counted onto the permissions they need.
CALL_PERMISSIONS: dict[str, frozenset[str]] = {
    "GetTopic": frozenset({"pubsub.topics.get"}),
    "Publish": frozenset({"pubsub.topics.publish"}),
    "CreateSubscription": frozenset(
        {"pubsub.subscriptions.create", "pubsub.topics.attachSubscription"}
    ),
    "GetSubscription": frozenset({"pubsub.subscriptions.get"}),
    "UpdateSubscription": frozenset({"pubsub.subscriptions.update"}),
    "DeleteSubscription": frozenset({"pubsub.subscriptions.delete"}),
    "StreamingPull": frozenset({"pubsub.subscriptions.consume"}),
    "Pull": frozenset({"pubsub.subscriptions.consume"}),
    "Acknowledge": frozenset({"pubsub.subscriptions.consume"}),
    "ModifyAckDeadline": frozenset({"pubsub.subscriptions.consume"}),
    "ListTopicSubscriptions": frozenset({"pubsub.topics.get"}),
    "objects.insert": frozenset({"storage.objects.create"}),
    "objects.get": frozenset({"storage.objects.get"}),
}

NODE_CALLS = frozenset(
    {
        "GetTopic",
        "Publish",
        "CreateSubscription",
        "GetSubscription",
        "UpdateSubscription",
        "DeleteSubscription",
        "StreamingPull",
        "Pull",
        "Acknowledge",
        "ModifyAckDeadline",
    }
)
EMITTER_CALLS = frozenset({"Publish"})
CLEANUP_CALLS = frozenset({"ListTopicSubscriptions", "GetSubscription", "DeleteSubscription"})
PAYLOAD_CALLS = frozenset({"objects.insert", "objects.get"})
