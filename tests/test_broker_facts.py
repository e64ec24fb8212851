"""The broker facts the transports, cleanups and deploy programs share (socketio_cloud.brokers)."""

from __future__ import annotations

import re

from socketio_cloud.brokers import pubsub, servicebus

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_every_pubsub_permission_has_a_scope_it_is_granted_on() -> None:
    every = (
        pubsub.NODE_PERMISSIONS
        | pubsub.EMITTER_PERMISSIONS
        | pubsub.CLEANUP_PERMISSIONS
        | pubsub.PAYLOAD_PERMISSIONS
    )
    for permission in every:
        assert any(permission.startswith(prefix) for prefix in pubsub.PERMISSION_SCOPES)


def test_an_emitter_only_publishes_and_the_cleanup_only_reads_and_deletes() -> None:
    assert pubsub.EMITTER_PERMISSIONS == {"pubsub.topics.publish"}
    assert pubsub.EMITTER_PERMISSIONS < pubsub.NODE_PERMISSIONS
    # The cleanup reads and deletes subscriptions; it never publishes, subscribes or consumes
    # (it lists and reads, which a node never does: the sets are not nested).
    assert not pubsub.CLEANUP_PERMISSIONS & {
        "pubsub.topics.publish",
        "pubsub.subscriptions.create",
        "pubsub.subscriptions.consume",
    }
    # Creating a subscription is checked on the project and on the topic it attaches to.
    assert {"pubsub.subscriptions.create", "pubsub.topics.attachSubscription"} <= (
        pubsub.NODE_PERMISSIONS
    )


def test_servicebus_roles_are_known_built_in_roles_holding_the_data_actions() -> None:
    for role in (servicebus.NODE_ROLE, servicebus.EMITTER_ROLE, servicebus.CLEANUP_ROLE):
        assert GUID.match(servicebus.ROLE_DEFINITION_IDS[role])
    assert GUID.match(servicebus.ROLE_DEFINITION_IDS[servicebus.PAYLOAD_ROLE])
    assert servicebus.EMITTER_DATA_ACTIONS <= servicebus.ROLE_DATA_ACTIONS[servicebus.EMITTER_ROLE]
    assert servicebus.MANAGE in servicebus.ROLE_DATA_ACTIONS[servicebus.NODE_ROLE]
    assert servicebus.SHARED_ACCESS_CLAIMS["emitter"] == {"Send"}


def test_pubsub_permission_sets_are_what_their_calls_need() -> None:
    def needed(calls: frozenset[str]) -> frozenset[str]:
        return frozenset().union(*(pubsub.CALL_PERMISSIONS[call] for call in calls))

    assert needed(pubsub.NODE_CALLS) == pubsub.NODE_PERMISSIONS
    assert needed(pubsub.EMITTER_CALLS) == pubsub.EMITTER_PERMISSIONS
    assert needed(pubsub.CLEANUP_CALLS) == pubsub.CLEANUP_PERMISSIONS
    assert needed(pubsub.PAYLOAD_CALLS) == pubsub.PAYLOAD_PERMISSIONS


def test_servicebus_data_actions_are_what_their_calls_need() -> None:
    def needed(calls: frozenset[str]) -> frozenset[str]:
        return frozenset(servicebus.CALL_DATA_ACTIONS[call] for call in calls)

    assert needed(servicebus.NODE_CALLS) == servicebus.NODE_DATA_ACTIONS
    assert needed(servicebus.EMITTER_CALLS) == servicebus.EMITTER_DATA_ACTIONS
    assert needed(servicebus.CLEANUP_CALLS) == servicebus.CLEANUP_DATA_ACTIONS
