"""The broker facts: permissions cover the API calls, names and labels are valid."""

from __future__ import annotations

import re

from socketio_cloud import cli
from socketio_cloud.brokers import pubsub as facts


def test_permissions_are_those_of_the_calls() -> None:
    for calls, permissions in (
        (facts.NODE_CALLS, facts.NODE_PERMISSIONS),
        (facts.EMITTER_CALLS, facts.EMITTER_PERMISSIONS),
        (facts.CLEANUP_CALLS, facts.CLEANUP_PERMISSIONS),
        (facts.PAYLOAD_CALLS, facts.PAYLOAD_PERMISSIONS),
    ):
        assert permissions == {p for call in calls for p in facts.CALL_PERMISSIONS[call]}
    assert facts.EMITTER_PERMISSIONS == {"pubsub.topics.publish"}
    assert "pubsub.topics.create" not in facts.NODE_PERMISSIONS
    assert facts.CREATE_TOPIC_PERMISSIONS == {"pubsub.topics.create"}
    # the cleanup never publishes, creates or consumes
    assert not {"pubsub.topics.publish", "pubsub.subscriptions.create"} & facts.CLEANUP_PERMISSIONS
    assert "pubsub.subscriptions.consume" not in facts.CLEANUP_PERMISSIONS


def test_names_and_labels() -> None:
    uid = "0123456789abcdef"
    assert facts.node_subscription_id("socket.io", uid) == f"socket.io-{uid}"
    assert facts.is_node_subscription_id(f"socket.io-{uid}", "socket.io")
    assert not facts.is_node_subscription_id(f"socket.io-{uid}x", "socket.io")
    assert not facts.is_node_subscription_id(f"socketxio-{uid}", "socket.io")
    assert facts.topic_path("p-123456", "chat") == "projects/p-123456/topics/chat"
    assert facts.topic_path("x", "projects/p/topics/t") == "projects/p/topics/t"
    label = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
    for key in (facts.LABEL_NODE, facts.LABEL_TOPIC, facts.LABEL_ALIVE):
        assert label.match(key)
    assert facts.label_value("My.Topic~1") == "my_topic_1"
    assert len(facts.label_value("t" * 300)) == 63


def test_cli_defaults_repeat_the_facts() -> None:
    args = cli.build_parser().parse_args(["cleanup", "gcp", "--project", "p", "--topic", "t"])
    assert args.prefix == facts.DEFAULT_SUBSCRIPTION_PREFIX
    assert args.stale_after == facts.DEFAULT_STALE_AFTER
