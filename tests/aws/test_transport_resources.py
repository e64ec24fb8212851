"""The AWS transport's resources: queue, subscription, tags; created, refreshed, removed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from socketio_cloud.cleanup.aws import TAG_ALIVE, TAG_NODE, TAG_SUBSCRIPTION, TAG_TOPIC
from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import new_uid
from socketio_cloud.transports.aws import AwsSqsTransport, filter_policy
from tests.backends.aws import AwsBackend, Inbox, StartNode
from tests.support.services import wait_until

pytestmark = pytest.mark.aws


def queue_attributes(aws_cluster: AwsBackend, transport: AwsSqsTransport) -> dict[str, str]:
    reply = aws_cluster.client("sqs").get_queue_attributes(
        QueueUrl=transport.queue_url, AttributeNames=["All"]
    )
    return dict(reply["Attributes"])


def queue_tags(aws_cluster: AwsBackend, transport: AwsSqsTransport) -> dict[str, str]:
    return dict(
        aws_cluster.client("sqs").list_queue_tags(QueueUrl=transport.queue_url).get("Tags", {})
    )


def queue_names(aws_cluster: AwsBackend) -> list[str]:
    urls = (
        aws_cluster.client("sqs")
        .list_queues(QueueNamePrefix=aws_cluster.queue_prefix)
        .get("QueueUrls", [])
    )
    return [url.rsplit("/", 1)[-1] for url in urls]


def subscription_arns(aws_cluster: AwsBackend) -> list[str]:
    reply = aws_cluster.client("sns").list_subscriptions_by_topic(TopicArn=aws_cluster.topic_arn)
    return [subscription["SubscriptionArn"] for subscription in reply["Subscriptions"]]


async def test_queue_is_named_after_the_prefix_and_the_node_uid(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    transport, _ = await start_node("0123456789abcdef")

    assert queue_names(aws_cluster) == [f"{aws_cluster.queue_prefix}-0123456789abcdef"]
    assert transport.queue_url is not None
    assert transport.queue_url.endswith(f"/{aws_cluster.queue_prefix}-0123456789abcdef")


async def test_queue_is_encrypted_and_keeps_messages_briefly(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    transport, _ = await start_node(message_retention=120)

    attributes = queue_attributes(aws_cluster, transport)

    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["MessageRetentionPeriod"] == "120"
    # received messages never come back within the retention period: at most once
    assert attributes["VisibilityTimeout"] == "120"


async def test_queue_policy_admits_only_the_cluster_topic(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    transport, _ = await start_node()

    attributes = queue_attributes(aws_cluster, transport)
    policy = json.loads(attributes["Policy"])

    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == attributes["QueueArn"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": aws_cluster.topic_arn}}


async def test_queue_is_tagged_for_the_cleanup(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    before = int(time.time())
    transport, _ = await start_node("fedcba9876543210", queue_tags={"team": "realtime"})

    tags = queue_tags(aws_cluster, transport)

    assert tags[TAG_NODE] == "fedcba9876543210"
    assert tags[TAG_TOPIC] == aws_cluster.topic_arn
    assert tags[TAG_SUBSCRIPTION] == transport.subscription_arn
    assert before <= int(tags[TAG_ALIVE]) <= int(time.time())
    assert tags["team"] == "realtime"


async def test_subscription_delivers_raw_messages_through_the_filter_policy(
    aws_cluster: AwsBackend, start_node: StartNode
) -> None:
    transport, _ = await start_node("00000000000000aa")

    reply = aws_cluster.client("sns").get_subscription_attributes(
        SubscriptionArn=transport.subscription_arn
    )
    attributes = reply["Attributes"]

    assert attributes["Protocol"] == "sqs"
    assert attributes["Endpoint"] == queue_attributes(aws_cluster, transport)["QueueArn"]
    assert attributes["RawMessageDelivery"] == "true"
    assert json.loads(attributes["FilterPolicy"]) == filter_policy("00000000000000aa")
    assert transport.filtered


async def test_an_existing_topic_is_used_without_creating_one(aws_cluster: AwsBackend) -> None:
    aws_cluster.client("sns").create_topic(Name=aws_cluster.topic_name)
    transport = aws_cluster.make_transport(topic_arn=aws_cluster.topic_arn, topic_name="ignored")
    try:
        await transport.start(new_uid(), Inbox())

        assert "sns:CreateTopic" not in transport.stats
        assert subscription_arns(aws_cluster) == [transport.subscription_arn]
    finally:
        await transport.close()


async def test_close_deletes_queue_and_subscription(aws_cluster: AwsBackend) -> None:
    transport = aws_cluster.make_transport()
    await transport.start(new_uid(), Inbox())
    assert queue_names(aws_cluster) and subscription_arns(aws_cluster)

    await transport.close()

    assert queue_names(aws_cluster) == []
    assert subscription_arns(aws_cluster) == []
    await transport.close()  # idempotent


async def test_close_unsubscribes_before_deleting_the_queue(aws_cluster: AwsBackend) -> None:
    # the other way round, the topic would for a moment deliver to a deleted queue
    transport = aws_cluster.make_transport()
    await transport.start(new_uid(), Inbox())
    calls: list[str] = []
    real_call = transport._calls.call

    async def call(service: Any, operation: str, **params: Any) -> Any:
        calls.append(operation)
        return await real_call(service, operation, **params)

    transport._calls.call = call  # type: ignore[method-assign]
    await transport.close()
    assert [c for c in calls if c in ("Unsubscribe", "DeleteQueue")] == [
        "Unsubscribe",
        "DeleteQueue",
    ]


async def test_close_tolerates_resources_deleted_by_someone_else(aws_cluster: AwsBackend) -> None:
    transport = aws_cluster.make_transport()
    await transport.start(new_uid(), Inbox())
    aws_cluster.client("sns").unsubscribe(SubscriptionArn=transport.subscription_arn)
    aws_cluster.client("sqs").delete_queue(QueueUrl=transport.queue_url)

    await transport.close()

    assert queue_names(aws_cluster) == []


async def test_abort_leaves_queue_and_subscription_behind(aws_cluster: AwsBackend) -> None:
    transport = aws_cluster.make_transport()
    await transport.start(new_uid(), Inbox())

    await transport.abort()

    assert len(queue_names(aws_cluster)) == 1
    assert subscription_arns(aws_cluster) == [transport.subscription_arn]
    await transport.close()  # after abort, close does nothing more
    assert len(queue_names(aws_cluster)) == 1


async def test_liveness_mark_is_refreshed(aws_cluster: AwsBackend, start_node: StartNode) -> None:
    transport, _ = await start_node(liveness_interval=0.2)
    aws_cluster.client("sqs").tag_queue(QueueUrl=transport.queue_url, Tags={TAG_ALIVE: "0"})

    await wait_until(
        lambda: queue_tags(aws_cluster, transport)[TAG_ALIVE] != "0",
        10,
        "the alive mark to be renewed",
    )

    assert abs(int(queue_tags(aws_cluster, transport)[TAG_ALIVE]) - time.time()) < 60


async def test_start_fails_clearly_when_the_subscription_delivers_nothing(
    aws_cluster: AwsBackend,
) -> None:
    topic_arn = aws_cluster.client("sns").create_topic(Name=aws_cluster.topic_name)["TopicArn"]
    # The first subscription disappears as soon as it is made, so no probe comes back.
    sns_client = aws_cluster.client("sns")
    saboteur = aws_cluster.client("sns")
    sabotaged: list[str] = []

    def unsubscribe(parsed: dict[str, Any], **_: Any) -> None:
        if not sabotaged:
            sabotaged.append(parsed["SubscriptionArn"])
            saboteur.unsubscribe(SubscriptionArn=parsed["SubscriptionArn"])

    sns_client.meta.events.register("after-call.sns.Subscribe", unsubscribe)
    transport = aws_cluster.make_transport(
        topic_arn=topic_arn, sns_client=sns_client, ready_timeout=1.5
    )

    with pytest.raises(TransportError, match="delivered nothing"):
        await transport.start("00000000000000bb", Inbox())

    assert queue_names(aws_cluster) == []  # what start created is gone again
    # and the node may try again
    await transport.start("00000000000000bb", Inbox())
    try:
        assert queue_names(aws_cluster) == [f"{aws_cluster.queue_prefix}-00000000000000bb"]
    finally:
        await transport.close()


@pytest.mark.parametrize(
    "options",
    [
        {"queue_prefix": "bad prefix"},
        {"queue_prefix": "x" * 64},
        {"message_retention": 59},
        {"wait_time": 21},
        {"pollers": 0},
        {"liveness_interval": 0},
    ],
)
def test_invalid_options_are_refused(aws_cluster: AwsBackend, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        aws_cluster.make_transport(**options)
