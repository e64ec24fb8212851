"""The AWS transport under failure: outages, lost resources, refused permissions.

Faults are either real (moto's server stopped and started, resources deleted behind the
node's back) or injected into the real HTTP conversation with botocore's event hooks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from socketio_cloud import protocol
from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, MessageType
from socketio_cloud.runtime import Backoff
from socketio_cloud.transports.aws.calls import is_transient
from tests.backends.aws import AwsBackend, StartNode
from tests.support.moto import MotoServer
from tests.support.services import wait_until

pytestmark = pytest.mark.aws

A, B, C = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"


def broadcast(uid: str, *args: Any) -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["event", *args])
    return ClusterMessage(MessageType.BROADCAST, uid, "/", data)


def queue_names(aws_cluster: AwsBackend) -> list[str]:
    urls = (
        aws_cluster.client("sqs")
        .list_queues(QueueNamePrefix=aws_cluster.queue_prefix)
        .get("QueueUrls", [])
    )
    return [url.rsplit("/", 1)[-1] for url in urls]


def subscribed_endpoints(aws_cluster: AwsBackend) -> list[str]:
    try:
        reply = aws_cluster.client("sns").list_subscriptions_by_topic(
            TopicArn=aws_cluster.topic_arn
        )
    except ClientError:
        return []
    return [subscription["Endpoint"] for subscription in reply["Subscriptions"]]


def single_attempt(aws_cluster: AwsBackend, service: str) -> Any:
    """A client whose calls are tried once, so every injected fault reaches the transport."""
    return aws_cluster.server.client(service, config=Config(retries={"total_max_attempts": 1}))


# ---------------------------------------------------------------------------- backoff


def test_backoff_grows_from_first_to_cap_and_never_drops_below_first() -> None:
    backoff = Backoff(0.1, 10.0)
    delays = [backoff.next_delay() for _ in range(40)]

    assert all(0.1 <= delay <= 10.0 for delay in delays)
    assert max(delays[20:]) > 1.0  # jittered, but the ceiling has grown
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)


def test_throttling_server_errors_and_network_failures_are_transient() -> None:
    def client_error(code: str, status: int) -> ClientError:
        reply: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(reply, "Publish")

    assert is_transient(client_error("Throttling", 400))
    assert is_transient(client_error("Whatever", 503))
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert not is_transient(client_error("AuthorizationError", 403))
    assert not is_transient(client_error("NotFound", 404))


# ---------------------------------------------------------------------------- receiving


async def test_receive_errors_are_retried_until_aws_answers_again(
    aws_cluster: AwsBackend, start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    sqs = single_attempt(aws_cluster, "sqs")
    failures = {"left": 0, "seen": 0}

    def refuse(**_: Any) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            failures["seen"] += 1
            raise EndpointConnectionError(endpoint_url=aws_cluster.server.endpoint_url)

    sqs.meta.events.register("before-send.sqs.ReceiveMessage", refuse)
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, sqs_client=sqs)
    assert b.connected

    with caplog.at_level(logging.INFO, logger="socketio_cloud.transports.aws"):
        # count the lines of the outage only
        before = len(caplog.records)
        failures["left"] = 6
        await wait_until(lambda: not b.connected, 10, "the node to notice the outage")
        await wait_until(lambda: failures["left"] == 0, 30, "six failed receives")
        await wait_until(lambda: b.connected, 30, "the node to reach AWS again")
        await a.publish(broadcast(A, "after the outage"))
        await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the broadcast")

    messages = [record.getMessage() for record in caplog.records[before:]]
    # one line when the state changes, not one per failed call
    assert sum("lost the connection to AWS" in message for message in messages) == 1
    assert sum("AWS is reachable again" in message for message in messages) == 1


async def test_a_node_recovers_after_a_broker_restart_that_lost_everything(
    aws_cluster: AwsBackend, start_node: StartNode, moto_server: MotoServer
) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B)
    b_queue = f"{aws_cluster.queue_prefix}-{B}"

    moto_server.stop()
    try:
        await wait_until(lambda: not b.connected, 30, "the node to notice the outage")
        with pytest.raises(TransportError):
            await a.publish(broadcast(A, "lost"))
    finally:
        moto_server.start()
    # a restarted broker knows nothing of the cluster
    await aws_cluster.cleanup()
    assert queue_names(aws_cluster) == []

    await wait_until(lambda: b_queue in queue_names(aws_cluster), 30, "the queue to be re-created")
    await wait_until(
        lambda: any(
            endpoint.endswith(f":{b_queue}") for endpoint in subscribed_endpoints(aws_cluster)
        ),
        30,
        "the queue to be subscribed again",
    )
    await wait_until(lambda: b.connected, 30, "the node to reach AWS")
    await a.publish(broadcast(A, "after the restart"))

    await wait_until(lambda: len(inbox_b.messages) == 1, 15, "the broadcast")
    assert inbox_b.messages == [broadcast(A, "after the restart")]
    tags = aws_cluster.client("sqs").list_queue_tags(QueueUrl=b.queue_url)["Tags"]
    assert tags["socketio-cloud:subscription"] == b.subscription_arn


async def test_a_queue_deleted_under_a_running_node_is_recreated(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B)
    old_subscription = b.subscription_arn
    # as the cleanup function would for a node it believed dead
    aws_cluster.client("sns").unsubscribe(SubscriptionArn=old_subscription)
    aws_cluster.client("sqs").delete_queue(QueueUrl=b.queue_url)

    await wait_until(
        lambda: b.subscription_arn not in (None, old_subscription), 30, "a new subscription"
    )
    await wait_until(lambda: b.connected, 30, "the node to consume again")
    await a.publish(broadcast(A, "welcome back"))

    await wait_until(lambda: len(inbox_b.messages) == 1, 15, "the broadcast")


async def test_a_lost_subscription_is_restored_by_the_liveness_check(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    a, _ = await start_node(A)
    b, inbox_b = await start_node(B, liveness_interval=0.3)
    old_subscription = b.subscription_arn
    aws_cluster.client("sns").unsubscribe(SubscriptionArn=old_subscription)

    await wait_until(
        lambda: b.subscription_arn not in (None, old_subscription), 30, "a new subscription"
    )
    await a.publish(broadcast(A, "still here"))

    await wait_until(lambda: len(inbox_b.messages) == 1, 15, "the broadcast")


# ---------------------------------------------------------------------------- publishing


async def test_a_transient_publish_error_is_retried(start_node: StartNode) -> None:
    a, _ = await start_node(A)
    _b, inbox_b = await start_node(B)
    attempts = {"count": 0}

    def drop_first_connection(**_: Any) -> None:
        attempts["count"] += 1
        if attempts["count"] == 1:
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1")

    # the transport's own client, with the retry configuration it made
    a._calls.client("sns").meta.events.register("before-send.sns.Publish", drop_first_connection)

    await a.publish(broadcast(A, "retried"))

    assert attempts["count"] == 2
    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the broadcast")


async def test_publishing_while_aws_is_unreachable_raises_transport_error(
    aws_cluster: AwsBackend, moto_server: MotoServer
) -> None:
    publisher = aws_cluster.make_transport()
    await publisher.open_publisher()
    assert publisher.connected
    moto_server.stop()
    try:
        with pytest.raises(TransportError, match="cannot publish"):
            await publisher.publish(broadcast(protocol.EMITTER_UID, "lost"))
        assert not publisher.connected
    finally:
        moto_server.start()
        await publisher.close()


async def test_a_started_nodes_failed_publish_turns_connected_false_until_one_succeeds(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    sns = single_attempt(aws_cluster, "sns")
    refuse = {"on": False}

    def maybe_refuse(**_: Any) -> None:
        if refuse["on"]:
            raise EndpointConnectionError(endpoint_url=aws_cluster.server.endpoint_url)

    sns.meta.events.register("before-send.sns.Publish", maybe_refuse)
    a, _ = await start_node(A, sns_client=sns)
    _b, inbox_b = await start_node(B)
    assert a.connected

    refuse["on"] = True
    with pytest.raises(TransportError, match="cannot publish"):
        await a.publish(broadcast(A, "lost"))
    assert not a.connected  # although its receives still succeed

    refuse["on"] = False
    await a.publish(broadcast(A, "after"))
    assert a.connected
    await wait_until(lambda: len(inbox_b.messages) == 1, 10, "the broadcast")


# ---------------------------------------------------------------------------- permissions


async def test_a_refused_filter_policy_falls_back_to_an_unfiltered_subscription(
    aws_cluster: AwsBackend, start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    sns = aws_cluster.server.client("sns")

    def refuse_filter_policy(params: dict[str, Any], **_: Any) -> None:
        if "FilterPolicy" in params.get("Attributes", {}):
            error: Any = {
                "Error": {"Code": "AuthorizationError", "Message": "not allowed"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
            raise ClientError(error, "Subscribe")

    sns.meta.events.register("before-parameter-build.sns.Subscribe", refuse_filter_policy)
    a, _ = await start_node(A)
    with caplog.at_level(logging.WARNING, logger="socketio_cloud"):
        b, inbox_b = await start_node(B, sns_client=sns)

    assert not b.filtered
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "filter policy" in warnings[0]
    attributes = aws_cluster.client("sns").get_subscription_attributes(
        SubscriptionArn=b.subscription_arn
    )["Attributes"]
    assert "FilterPolicy" not in attributes
    assert json.loads(attributes["RawMessageDelivery"]) is True

    # the queue now gets everything; the transport still hands over only what is for it
    await b.publish(broadcast(B, "own"))
    await a.publish_response(
        C, ClusterMessage(MessageType.BROADCAST_ACK, A, "/", {"requestId": "0" * 16, "packet": 1})
    )
    await a.publish(broadcast(A, "for everyone"))

    await wait_until(lambda: len(inbox_b.messages) >= 1, 10, "the broadcast")
    await a.publish(broadcast(A, "marker"))
    await wait_until(lambda: len(inbox_b.messages) >= 2, 10, "the marker")
    assert inbox_b.messages == [broadcast(A, "for everyone"), broadcast(A, "marker")]
