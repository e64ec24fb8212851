"""AWS SNS + SQS (moto's server on 127.0.0.1) as a behaviour-suite backend.

Each backend object is one cluster: a topic and a queue prefix of its own, so the tests can
share the session's moto server; ``cleanup()`` deletes the topic, its subscriptions and any
queue left under the prefix (by aborted nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import boto3
import msgpack
import pytest

from socketio_cloud.protocol import ClusterMessage, new_uid
from socketio_cloud.transports.aws import AwsSqsEmitter, AwsSqsManager, AwsSqsTransport
from tests.support.moto import AWS_ACCOUNT_ID, AWS_REGION, DUMMY_CREDENTIALS, MotoServer

# Short long polls: closing a node leaves its last poll running for up to this long.
TEST_WAIT_TIME = 1


def session() -> boto3.session.Session:
    """A boto3 session with moto's dummy credentials (one per transport: sessions are not
    thread-safe)."""
    return boto3.session.Session(region_name=AWS_REGION, **DUMMY_CREDENTIALS)


class Inbox:
    """An ``on_message`` handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[ClusterMessage] = []

    async def __call__(self, message: ClusterMessage, offset: str | None) -> None:
        self.messages.append(message)

    def from_uid(self, uid: str) -> list[ClusterMessage]:
        return [message for message in self.messages if message.uid == uid]


class AwsBackend:
    name = "aws"

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        tag = secrets.token_hex(4)
        self.topic_name = f"sio-test-{tag}"
        self.queue_prefix = f"sio-test-{tag}"
        self.topic_arn = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:{self.topic_name}"

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Transport options for this cluster on the moto server."""
        return {
            "topic_name": self.topic_name,
            "queue_prefix": self.queue_prefix,
            "wait_time": TEST_WAIT_TIME,
            "session": session(),
            "endpoint_url": self.server.endpoint_url,
            **overrides,
        }

    def make_transport(self, **overrides: Any) -> AwsSqsTransport:
        return AwsSqsTransport(**self.options(**overrides))

    def make_manager(self, **cluster_options: Any) -> AwsSqsManager:
        """A node of this cluster; transport options given here override the defaults."""
        return AwsSqsManager(**{**self.options(), **cluster_options})

    def make_emitter(self, **overrides: Any) -> AwsSqsEmitter:
        options = {
            "topic_name": self.topic_name,
            "session": session(),
            "endpoint_url": self.server.endpoint_url,
            **overrides,
        }
        return AwsSqsEmitter(**options)

    def client(self, service: str) -> Any:
        return self.server.client(service)

    async def node_resources(self, uid: str) -> list[str]:
        """The queue of node ``uid`` and the topic's subscriptions delivering to it."""

        def find() -> list[str]:
            sqs, sns = self.client("sqs"), self.client("sns")
            name = f"{self.queue_prefix}-{uid}"
            urls = [
                url
                for url in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
                if url.rsplit("/", 1)[-1] == name
            ]
            try:
                subscriptions = sns.list_subscriptions_by_topic(TopicArn=self.topic_arn)
            except sns.exceptions.NotFoundException:
                subscriptions = {}
            found = [
                s["SubscriptionArn"]
                for s in subscriptions.get("Subscriptions", [])
                if s.get("Endpoint", "").endswith(f":{name}")
            ]
            return urls + found

        return await asyncio.to_thread(find)

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """AWS unreachable: moto's server stops (keeping its state) and comes back."""
        await asyncio.to_thread(self.server.stop)
        try:
            yield
        finally:
            await asyncio.to_thread(self.server.start)

    async def publish_malformed(self) -> None:
        """Messages a buggy or hostile peer could publish on the topic."""
        valid = {"nsp": {"DataType": "String", "StringValue": "/"}}
        uid = {"uid": {"DataType": "String", "StringValue": "0123456789abcdef"}}

        def binary(value: bytes) -> dict[str, Any]:
            return {"data": {"DataType": "Binary", "BinaryValue": value}}

        def string(name: str, value: str) -> dict[str, Any]:
            return {name: {"DataType": "String", "StringValue": value}}

        cases: list[tuple[str, dict[str, Any]]] = [
            ("3", {**valid, **uid, **binary(b"\xc1 not msgpack")}),
            ("3", {**valid, **uid, **binary(msgpack.packb({"packet": 5}))}),
            ("99", {**valid, **uid}),
            ("three", {**valid, **uid}),
            ("3", {**uid, **binary(msgpack.packb({"packet": {"type": 2, "data": ["e"]}}))}),
            ("3", {**valid, **binary(msgpack.packb({"packet": {"type": 2, "data": ["e"]}}))}),
            ("3", {**valid, **uid, **string("data", "not binary")}),
            ("3", {**valid, **uid, **string("dataS3", "someone-elses-bucket/key")}),
            ("7", {**valid, **uid, **binary(msgpack.packb([1, 2, 3]))}),
        ]
        sns = self.client("sns")

        def publish() -> None:
            for body, attributes in cases:
                sns.publish(TopicArn=self.topic_arn, Message=body, MessageAttributes=attributes)

        await asyncio.to_thread(publish)

    async def cleanup(self) -> None:
        await asyncio.to_thread(self.delete_resources)

    def delete_resources(self) -> None:
        sns = self.client("sns")
        sqs = self.client("sqs")
        try:
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(
                TopicArn=self.topic_arn
            )
            for page in pages:
                for subscription in page.get("Subscriptions", []):
                    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        except sns.exceptions.NotFoundException:
            pass
        sns.delete_topic(TopicArn=self.topic_arn)
        for url in sqs.list_queues(QueueNamePrefix=self.queue_prefix).get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def backend_aws(moto_server: MotoServer) -> Iterator[AwsBackend]:
    yield AwsBackend(moto_server)


# Fixtures of the AWS transport tests (tests/aws), here so that the plugin registers them.

StartNode = Callable[..., Awaitable[tuple[AwsSqsTransport, Inbox]]]


@pytest.fixture
async def aws_cluster(moto_server: MotoServer) -> AsyncIterator[AwsBackend]:
    """A cluster of the test's own on the moto server; its resources are deleted afterwards
    (with the server running again, if the test stopped it)."""
    backend = AwsBackend(moto_server)
    yield backend
    if not moto_server.running:
        moto_server.start()
    await backend.cleanup()


@pytest.fixture
async def start_node(aws_cluster: AwsBackend) -> AsyncIterator[StartNode]:
    """Start transports of the test's cluster, each with an :class:`Inbox`; closed after."""
    transports: list[AwsSqsTransport] = []

    async def start(uid: str | None = None, **options: Any) -> tuple[AwsSqsTransport, Inbox]:
        transport = aws_cluster.make_transport(**options)
        transports.append(transport)
        inbox = Inbox()
        await transport.start(uid or new_uid(), inbox)
        return transport, inbox

    yield start
    for transport in transports:
        await transport.close()
