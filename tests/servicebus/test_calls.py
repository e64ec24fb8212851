"""The SDK calls a node, an emitter and the cleanup really make are the ones the broker facts
name (and so the roles and claims derived from them are enough, and no wider)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.servicebus.aio import ServiceBusReceiver, ServiceBusSender
from azure.servicebus.aio.management import ServiceBusAdministrationClient

from socketio_cloud.brokers import servicebus as facts
from socketio_cloud.cleanup.azure import cleanup
from socketio_cloud.protocol import ClusterMessage, MessageType, new_uid
from tests.backends.servicebus import ServiceBusBackend
from tests.support.services import wait_until

from .conftest import Inbox

pytestmark = pytest.mark.servicebus


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The names of the SDK methods called (each still runs for real)."""
    seen: set[str] = set()
    names = set(facts.CALL_DATA_ACTIONS)

    def record(owner: type, name: str) -> None:
        original = getattr(owner, name)
        if callable(original) and not name.startswith("_"):

            @functools.wraps(original)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                seen.add(name)
                return original(*args, **kwargs)

            monkeypatch.setattr(owner, name, wrapper)

    for owner in (ServiceBusAdministrationClient, ServiceBusSender, ServiceBusReceiver):
        for name in vars(owner):
            if name in names:
                record(owner, name)
    yield seen


async def test_a_node_makes_exactly_the_calls_of_the_facts(
    calls: set[str], sb_cluster: ServiceBusBackend
) -> None:
    a = sb_cluster.make_transport()
    b = sb_cluster.make_transport()
    inbox = Inbox()
    uid_a = new_uid()
    try:
        await a.start(uid_a, Inbox())  # creates the topic
        await b.start(new_uid(), inbox)
        await a.publish(ClusterMessage(MessageType.HEARTBEAT, uid_a, "/"))
        await wait_until(lambda: inbox.messages, message="the heartbeat")
    finally:
        await a.close()
        await b.close()
    assert calls == facts.NODE_CALLS | facts.NODE_TOPIC_CALLS


async def test_a_node_without_create_topic_never_touches_the_topic(
    calls: set[str], sb_cluster: ServiceBusBackend
) -> None:
    async with sb_cluster.admin() as admin:
        await admin.create_topic(sb_cluster.topic_name)
    calls.clear()
    node = sb_cluster.make_transport(create_topic=False)
    try:
        await node.start(new_uid(), Inbox())
    finally:
        await node.close()
    assert calls <= facts.NODE_CALLS


async def test_an_emitter_only_sends(calls: set[str], sb_cluster: ServiceBusBackend) -> None:
    async with sb_cluster.admin() as admin:
        await admin.create_topic(sb_cluster.topic_name)
    calls.clear()
    emitter = sb_cluster.make_emitter()
    try:
        await emitter.emit("hello")
    finally:
        await emitter.close()
    assert calls == facts.EMITTER_CALLS


async def test_the_cleanup_makes_exactly_the_calls_of_the_facts(
    calls: set[str], sb_cluster: ServiceBusBackend
) -> None:
    node = sb_cluster.make_transport(auto_delete_on_idle=86_400)
    await node.start(new_uid(), Inbox())
    await node.abort()
    calls.clear()
    async with sb_cluster.admin() as admin:
        report = await cleanup(
            admin,
            topic_name=sb_cluster.topic_name,
            subscription_prefix=sb_cluster.subscription_prefix,
            now=datetime.now(timezone.utc) + timedelta(hours=1),
        )
    assert [d.name for d in report.deleted] == [node.subscription_name]
    assert calls == facts.CLEANUP_CALLS
