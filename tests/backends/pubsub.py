"""Google Cloud Pub/Sub (the official emulator on 127.0.0.1) as a behaviour-suite backend.

The emulator is started once per session (``pubsub_emulator``) on a free port and stopped
at the end. Each backend object is one cluster: a topic and a subscription prefix of its
own; ``cleanup()`` deletes the topic's subscriptions (aborted nodes leave theirs) and the
topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgpack
import pytest

from socketio_cloud.brokers.pubsub import topic_path
from socketio_cloud.protocol import ClusterMessage
from socketio_cloud.transports.pubsub import PubSubEmitter, PubSubManager, PubSubTransport
from tests.support.pubsub_emulator import PubSubEmulator, find_emulator
from tests.support.services import require_service

#: A project id of the right shape: the emulator accepts any.
PROJECT = "sio-test-project"


def admin_clients() -> tuple[Any, Any]:
    """Blocking publisher and subscriber clients; they follow ``PUBSUB_EMULATOR_HOST``."""
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()


class Received:
    """An ``on_message`` handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[ClusterMessage] = []

    async def __call__(self, message: ClusterMessage, offset: str | None) -> None:
        self.messages.append(message)

    def from_uid(self, uid: str) -> list[ClusterMessage]:
        return [message for message in self.messages if message.uid == uid]


class PubSubBackend:
    name = "pubsub"

    def __init__(self, emulator: PubSubEmulator) -> None:
        self.emulator = emulator
        tag = secrets.token_hex(4)
        self.project = PROJECT
        self.topic = f"sio-test-{tag}"
        self.subscription_prefix = f"sio-test-{tag}"
        self.topic_path = topic_path(PROJECT, self.topic)

    def options(self, **overrides: Any) -> dict[str, Any]:
        return {
            "project": self.project,
            "topic": self.topic,
            "subscription_prefix": self.subscription_prefix,
            "emulator_host": self.emulator.host,
            "pull_timeout": 10.0,
            **overrides,
        }

    def make_transport(self, **overrides: Any) -> PubSubTransport:
        return PubSubTransport(**self.options(**overrides))

    def make_manager(self, **cluster_options: Any) -> PubSubManager:
        return PubSubManager(**{**self.options(), **cluster_options})

    def make_emitter(self, **overrides: Any) -> PubSubEmitter:
        options = {
            "project": self.project,
            "topic": self.topic,
            "emulator_host": self.emulator.host,
            **overrides,
        }
        return PubSubEmitter(**options)

    # -- broker-side helpers (blocking clients, run in a thread) -------------------------

    def create_topic(self) -> None:
        from google.api_core.exceptions import AlreadyExists

        publisher, _ = admin_clients()
        try:
            publisher.create_topic(name=self.topic_path)
        except AlreadyExists:
            pass

    def subscriptions(self) -> list[str]:
        """Full paths of the topic's subscriptions ([] when the topic is gone)."""
        from google.api_core.exceptions import NotFound

        publisher, _ = admin_clients()
        try:
            return list(publisher.list_topic_subscriptions(topic=self.topic_path))
        except NotFound:
            return []

    async def node_resources(self, uid: str) -> list[str]:
        """Subscriptions of node ``uid`` that still exist."""
        return [
            name
            for name in await asyncio.to_thread(self.subscriptions)
            if name.endswith(f"/{self.subscription_prefix}-{uid}")
        ]

    def publish_raw(self, data: bytes, **attributes: str) -> None:
        publisher, _ = admin_clients()
        publisher.publish(self.topic_path, data, **attributes).result(timeout=10)

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """The emulator stops and starts again (it forgets every topic and subscription)."""
        await asyncio.to_thread(self.emulator.stop)
        try:
            yield
        finally:
            await asyncio.to_thread(self.emulator.start)
            await asyncio.to_thread(self.create_topic)

    async def publish_malformed(self) -> None:
        """Messages a buggy or hostile peer could publish on the topic."""
        uid = "0123456789abcdef"
        event = {"packet": {"type": 2, "data": ["e"]}, "opts": {"rooms": [], "except": []}}
        cases: list[tuple[bytes, dict[str, str]]] = [
            (b"\xc1 not msgpack", {"nsp": "/", "uid": uid}),
            (b"", {"nsp": "/", "uid": uid}),
            (msgpack.packb([1, 2, 3]), {"nsp": "/", "uid": uid}),
            (
                msgpack.packb({"type": 3, "uid": uid, "nsp": "/", "data": {"packet": 5}}),
                {"nsp": "/", "uid": uid},
            ),
            (msgpack.packb({"type": 99, "uid": uid, "nsp": "/"}), {"nsp": "/", "uid": uid}),
            # envelope and attributes disagree about the namespace
            (
                msgpack.packb({"type": 3, "uid": uid, "nsp": "/other", "data": event}),
                {"nsp": "/", "uid": uid},
            ),
            # an offloaded payload, but no store configured
            (
                msgpack.packb({"type": 3, "uid": uid, "nsp": "/"}),
                {"nsp": "/", "uid": uid, "payloadRef": "gs://someone-elses-bucket/key"},
            ),
            (
                msgpack.packb({"type": 7, "uid": uid, "nsp": "/", "data": {"opts": 1}}),
                {"nsp": "/", "uid": uid},
            ),
        ]

        def publish() -> None:
            for data, attributes in cases:
                self.publish_raw(data, **attributes)

        await asyncio.to_thread(publish)

    def delete_resources(self) -> None:
        from google.api_core.exceptions import NotFound

        publisher, subscriber = admin_clients()
        for name in self.subscriptions():
            try:
                subscriber.delete_subscription(subscription=name)
            except NotFound:
                pass
        try:
            publisher.delete_topic(topic=self.topic_path)
        except NotFound:
            pass

    async def cleanup(self) -> None:
        if self.emulator.running:
            await asyncio.to_thread(self.delete_resources)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    """The Pub/Sub emulator, on a free port for the whole session."""
    launcher = find_emulator()
    require_service(
        launcher is not None,
        "no Pub/Sub emulator (Debian package google-cloud-cli-pubsub-emulator)",
    )
    assert launcher is not None
    require_service(shutil.which("java") is not None, "the Pub/Sub emulator needs java on PATH")
    emulator = PubSubEmulator(launcher)
    emulator.start()
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    # for the blocking admin clients made by the tests; transports get the host explicitly
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator
    finally:
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous
        emulator.close()


@pytest.fixture
async def backend_pubsub(pubsub_emulator: PubSubEmulator) -> AsyncIterator[PubSubBackend]:
    backend = PubSubBackend(pubsub_emulator)
    await asyncio.to_thread(backend.create_topic)
    yield backend


@pytest.fixture
async def pubsub_cluster(pubsub_emulator: PubSubEmulator) -> AsyncIterator[PubSubBackend]:
    """A cluster of the test's own (topic created); its resources are deleted afterwards,
    with the emulator running again if the test stopped it."""
    backend = PubSubBackend(pubsub_emulator)
    await asyncio.to_thread(backend.create_topic)
    yield backend
    if not pubsub_emulator.running:
        pubsub_emulator.start()
    await backend.cleanup()
