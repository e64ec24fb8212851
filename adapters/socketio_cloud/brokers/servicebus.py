"""Facts about Azure Service Bus shared by the transport, the cleanup, the CLI, the app and
the deploy programs: names, defaults, limits, the rule filter, the SDK calls a node makes and
the roles and claims they need.

No SDK import here: the cleanup function and the deploy programs read these facts without the
transport's dependencies.

Framing (Node's ``@socket.io/azure-service-bus-adapter``): one message per cluster message,
body = msgpack of the whole envelope as one AMQP data section, string application properties
``nsp`` and ``uid``, and ``requesterUid`` on responses only. Each node receives from its own
subscription ``<subscription_prefix>-<uid>`` of the cluster's topic.

With Microsoft Entra ID (a managed identity) Service Bus authorizes data-plane calls by Azure
RBAC data actions; with a connection string, by the claims of its shared access policy. A node
creates and deletes its own subscription and rule through the administration endpoint, which
needs the Manage claim; of the built-in roles only "Azure Service Bus Data Owner" grants it, so
nodes and the cleanup get that role, assigned on the cluster's topic and nothing wider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

__all__ = [
    "CALL_DATA_ACTIONS",
    "CLEANUP_CALLS",
    "CLEANUP_DATA_ACTIONS",
    "CLEANUP_ROLE",
    "DEFAULT_AUTO_DELETE_ON_IDLE",
    "DEFAULT_MESSAGE_TIME_TO_LIVE",
    "DEFAULT_RULE_NAME",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_SUBSCRIPTION_PREFIX",
    "DEFAULT_TOPIC_NAME",
    "EMITTER_CALLS",
    "EMITTER_DATA_ACTIONS",
    "EMITTER_ROLE",
    "MANAGE",
    "MAX_SUBSCRIPTION_NAME_LENGTH",
    "MIN_AUTO_DELETE_ON_IDLE",
    "NODE_CALLS",
    "NODE_DATA_ACTIONS",
    "NODE_ROLE",
    "NODE_RULE_NAME",
    "NODE_TOPIC_CALLS",
    "PAYLOAD_DATA_ACTIONS",
    "PAYLOAD_ROLE",
    "PREMIUM_MAX_MESSAGE_SIZE",
    "PROPERTY_NSP",
    "PROPERTY_PAYLOAD",
    "PROPERTY_REQUESTER",
    "PROPERTY_UID",
    "RECEIVE",
    "ROLE_DATA_ACTIONS",
    "ROLE_DEFINITION_IDS",
    "SEND",
    "SHARED_ACCESS_CLAIMS",
    "STANDARD_MAX_MESSAGE_SIZE",
    "check_subscription_prefix",
    "is_node_subscription_name",
    "last_activity",
    "node_subscription_name",
    "subscription_filter",
    "subscription_path",
]

#: Node's default ``topicName`` and ``subscriptionPrefix``.
DEFAULT_TOPIC_NAME = "socket.io"
DEFAULT_SUBSCRIPTION_PREFIX = "socket.io"

#: Service Bus's limit on subscription names.
MAX_SUBSCRIPTION_NAME_LENGTH = 50

#: Seconds a message waits in a node's subscription before Service Bus drops it: a cluster
#: message older than a minute is useless (heartbeats time out after 10 s, requests after 5 s).
DEFAULT_MESSAGE_TIME_TO_LIVE = 60.0
#: A subscription nobody receives from this long is deleted by Service Bus itself; the
#: minimum it allows (5 minutes), so a dead node's subscription goes away without the cleanup.
DEFAULT_AUTO_DELETE_ON_IDLE = 300.0
MIN_AUTO_DELETE_ON_IDLE = 300.0
#: A node subscription whose last activity is older than this belongs to a dead node (a live
#: node receives continuously, which Service Bus records as ``accessed_at_utc``).
DEFAULT_STALE_AFTER = 900.0

#: Largest message, body and properties together, in bytes: Standard tier 256 KB; Premium
#: allows up to 100 MB per entity (set ``max_message_size`` for it).
STANDARD_MAX_MESSAGE_SIZE = 262_144
PREMIUM_MAX_MESSAGE_SIZE = 104_857_600

#: Application properties (Node's names, plus ours for offloaded payloads).
PROPERTY_NSP = "nsp"
PROPERTY_UID = "uid"
PROPERTY_REQUESTER = "requesterUid"
#: Ours: the pointer of an offloaded payload; the body is then msgpack nil.
PROPERTY_PAYLOAD = "payloadBlob"

#: The rule every subscription gets on creation (match all), and the one a node puts instead.
DEFAULT_RULE_NAME = "$Default"
NODE_RULE_NAME = "socketio-cloud"

_NODE_UID_PATTERN = "[0-9a-f]{16}"

#: Sending to the topic (ServiceBusSender.send_messages).
SEND = "Microsoft.ServiceBus/namespaces/messages/send/action"
#: Receiving from a subscription (ServiceBusReceiver.receive_messages; the transport receives
#: and deletes, so it settles nothing).
RECEIVE = "Microsoft.ServiceBus/namespaces/messages/receive/action"
#: Administration-client calls (create/delete subscription and rule, list subscriptions,
#: subscription runtime properties): the Manage claim, held only by the Data Owner wildcard.
MANAGE = "Microsoft.ServiceBus/*"

NODE_DATA_ACTIONS = frozenset({SEND, RECEIVE, MANAGE})
EMITTER_DATA_ACTIONS = frozenset({SEND})
CLEANUP_DATA_ACTIONS = frozenset({MANAGE})

#: The shared access policy claims a connection string needs, per role of the kit.
SHARED_ACCESS_CLAIMS = {
    "node": frozenset({"Manage", "Send", "Listen"}),
    "emitter": frozenset({"Send"}),
    "cleanup": frozenset({"Manage", "Send", "Listen"}),  # Manage requires the other two
}

#: Built-in roles the deploy programs assign (the narrowest that holds the data actions).
NODE_ROLE = "Azure Service Bus Data Owner"
EMITTER_ROLE = "Azure Service Bus Data Sender"
CLEANUP_ROLE = "Azure Service Bus Data Owner"

#: Payload offload: blobs read and written in one container.
PAYLOAD_DATA_ACTIONS = frozenset(
    {
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    }
)
PAYLOAD_ROLE = "Storage Blob Data Contributor"

#: Role definition GUIDs of those built-in roles (the same in every tenant).
ROLE_DEFINITION_IDS = {
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}

#: The data actions of those roles (their role definitions' ``dataActions``).
ROLE_DATA_ACTIONS: Mapping[str, frozenset[str]] = {
    "Azure Service Bus Data Owner": frozenset({MANAGE}),
    "Azure Service Bus Data Sender": frozenset({SEND}),
    "Azure Service Bus Data Receiver": frozenset({RECEIVE}),
    "Storage Blob Data Contributor": frozenset(
        {
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
        }
    ),
}


#: The data action each SDK call needs (``azure.servicebus.aio`` sender and receiver methods,
#: and ``ServiceBusAdministrationClient`` methods), so a test can map the calls a transport
#: makes onto the roles it holds.
CALL_DATA_ACTIONS = {
    "send_messages": SEND,
    "receive_messages": RECEIVE,
    "complete_message": RECEIVE,
    "abandon_message": RECEIVE,
    "get_topic": MANAGE,
    "create_topic": MANAGE,
    "create_subscription": MANAGE,
    "get_subscription": MANAGE,
    "update_subscription": MANAGE,
    "delete_subscription": MANAGE,
    "create_rule": MANAGE,
    "delete_rule": MANAGE,
    "list_subscriptions": MANAGE,
    "list_subscriptions_runtime_properties": MANAGE,
    "get_subscription_runtime_properties": MANAGE,
}

#: The calls a node makes (socketio_cloud.transports.servicebus): it receives and deletes, so
#: it never completes nor abandons a message.
NODE_CALLS = frozenset(
    {
        "send_messages",
        "receive_messages",
        "create_subscription",
        "create_rule",
        "delete_rule",
        "delete_subscription",
    }
)
#: What a node adds with ``create_topic=True`` (the default).
NODE_TOPIC_CALLS = frozenset({"get_topic", "create_topic"})
EMITTER_CALLS = frozenset({"send_messages"})
#: The calls of socketio_cloud.cleanup.azure.
CLEANUP_CALLS = frozenset(
    {
        "get_topic",
        "list_subscriptions_runtime_properties",
        "get_subscription_runtime_properties",
        "delete_subscription",
    }
)


def node_subscription_name(subscription_prefix: str, uid: str) -> str:
    """The subscription of node ``uid``: ``<subscription_prefix>-<uid>`` (as Node names it)."""
    return f"{subscription_prefix}-{uid}"


def is_node_subscription_name(name: str, subscription_prefix: str) -> bool:
    """Whether ``name`` is a node subscription under exactly this prefix.

    The uid part is 16 lowercase hex digits, so a prefix cannot reach another cluster's
    subscriptions (``socket.io`` does not match ``socket.io-eu-<uid>``).
    """
    pattern = f"{re.escape(subscription_prefix)}-{_NODE_UID_PATTERN}"
    return re.fullmatch(pattern, name) is not None


def check_subscription_prefix(subscription_prefix: str) -> None:
    """Raise ValueError unless node subscription names under this prefix are valid."""
    longest = len(node_subscription_name(subscription_prefix, "0" * 16))
    if not subscription_prefix or longest > MAX_SUBSCRIPTION_NAME_LENGTH:
        raise ValueError(
            f"subscription_prefix must be 1 to {MAX_SUBSCRIPTION_NAME_LENGTH - 17} characters"
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", subscription_prefix):
        raise ValueError("subscription_prefix: letters, digits, '.', '-' and '_' only")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def subscription_filter(uid: str) -> str:
    """The SQL filter of node ``uid``'s rule: not its own messages, and only the responses
    addressed to it (PROTOCOL §3.1: ``uid`` ≠ self AND (``requesterUid`` absent OR = self))."""
    own = _sql_string(uid)
    return (
        f"{PROPERTY_UID} <> {own} AND "
        f"({PROPERTY_REQUESTER} IS NULL OR {PROPERTY_REQUESTER} = {own})"
    )


def subscription_path(topic_name: str, subscription_name: str) -> str:
    """The AMQP entity path a receiver attaches to."""
    return f"{topic_name}/Subscriptions/{subscription_name}"


def last_activity(
    accessed_at: datetime | None, created_at: datetime | None, updated_at: datetime | None
) -> datetime | None:
    """The latest of a subscription's runtime timestamps: its liveness mark for the cleanup."""
    stamps = [stamp for stamp in (accessed_at, created_at, updated_at) if stamp is not None]
    return max(stamps) if stamps else None
