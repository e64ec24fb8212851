"""Azure Service Bus: the roles and data actions each role of the kit needs.

With Microsoft Entra ID (a managed identity) Service Bus authorizes data-plane calls by Azure
RBAC data actions; with a connection string, by the claims of its shared access policy. A node
creates and deletes its own subscription and rule through the administration endpoint, which
needs the Manage claim; of the built-in roles only "Azure Service Bus Data Owner" grants it, so
nodes and the cleanup get that role, assigned on the cluster's topic and nothing wider.
"""

from __future__ import annotations

__all__ = [
    "CALL_DATA_ACTIONS",
    "CLEANUP_CALLS",
    "CLEANUP_DATA_ACTIONS",
    "CLEANUP_ROLE",
    "EMITTER_CALLS",
    "EMITTER_DATA_ACTIONS",
    "EMITTER_ROLE",
    "MANAGE",
    "NODE_CALLS",
    "NODE_DATA_ACTIONS",
    "NODE_ROLE",
    "PAYLOAD_DATA_ACTIONS",
    "PAYLOAD_ROLE",
    "RECEIVE",
    "ROLE_DATA_ACTIONS",
    "ROLE_DEFINITION_IDS",
    "SEND",
    "SHARED_ACCESS_CLAIMS",
]

#: Sending to the topic (ServiceBusSender.send_messages).
SEND = "Microsoft.ServiceBus/namespaces/messages/send/action"
#: Receiving and settling on a subscription (ServiceBusReceiver.receive_messages, complete).
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
ROLE_DATA_ACTIONS = {
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

#: The data action each SDK call needs (``azure.servicebus.aio`` client and receiver methods,
#: and ``ServiceBusAdministrationClient`` methods), so a test can map the calls a transport
#: counted onto the roles it holds.
CALL_DATA_ACTIONS = {
    "send_messages": SEND,
    "receive_messages": RECEIVE,
    "complete_message": RECEIVE,
    "abandon_message": RECEIVE,
    "get_topic": MANAGE,
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

NODE_CALLS = frozenset(
    {
        "send_messages",
        "receive_messages",
        "complete_message",
        "abandon_message",
        "get_topic",
        "create_subscription",
        "get_subscription",
        "update_subscription",
        "delete_subscription",
        "create_rule",
        "delete_rule",
    }
)
EMITTER_CALLS = frozenset({"send_messages"})
CLEANUP_CALLS = frozenset(
    {
        "list_subscriptions",
        "list_subscriptions_runtime_properties",
        "get_subscription_runtime_properties",
        "delete_subscription",
    }
)
