"""Which region the AWS transport's clients use, and the errors of a wrong ARN, region or topic."""

from __future__ import annotations

import boto3
import pytest

from socketio_cloud.brokers.aws import resolve_region
from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import new_uid
from socketio_cloud.transports.aws import AwsSqsEmitter, AwsSqsManager, AwsSqsTransport
from tests.backends.aws import AwsBackend, Inbox
from tests.support.moto import AWS_ACCOUNT_ID, AWS_REGION, DUMMY_CREDENTIALS

ARN = "arn:aws:sns:eu-west-3:123456789012:chat"


def client_region(transport: AwsSqsTransport) -> str:
    """The region of the SQS and SNS clients the transport makes (no AWS call)."""
    regions = {str(transport._calls.client(s).meta.region_name) for s in ("sqs", "sns")}
    assert len(regions) == 1
    return regions.pop()


@pytest.fixture(autouse=True)
def _no_region_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


@pytest.mark.parametrize(
    ("arn", "region_name", "environ", "expected"),
    [
        (ARN, None, {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-3"),
        (ARN, "eu-west-3", {}, "eu-west-3"),
        (None, "ap-south-1", {"AWS_REGION": "us-west-2"}, "ap-south-1"),
        (None, None, {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-1"}, "us-west-2"),
        (None, None, {"AWS_REGION": " ", "AWS_DEFAULT_REGION": "us-east-1"}, "us-east-1"),
        (None, None, {}, None),
    ],
)
def test_region_comes_from_the_arn_then_aws_region_then_aws_default_region(
    arn: str | None, region_name: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert resolve_region(arn, region_name, environ) == expected


def test_the_transport_takes_the_region_of_the_topic_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")

    assert client_region(AwsSqsTransport(topic_arn=ARN)) == "eu-west-3"


def test_without_an_arn_aws_region_wins_over_aws_default_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")

    assert client_region(AwsSqsTransport(topic_name="chat")) == "us-west-2"
    # the emitter makes its clients the same way
    emitter = AwsSqsEmitter(topic_arn=ARN)
    assert str(emitter.transport._calls.client("sns").meta.region_name) == "eu-west-3"


def test_aws_region_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 alone reads only AWS_DEFAULT_REGION and would fail with NoRegionError."""
    monkeypatch.setenv("AWS_REGION", "ca-central-1")

    assert client_region(AwsSqsTransport()) == "ca-central-1"


def test_a_session_with_a_region_keeps_it_without_an_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    session = boto3.session.Session(region_name="sa-east-1", **DUMMY_CREDENTIALS)

    assert client_region(AwsSqsTransport(session=session)) == "sa-east-1"
    assert client_region(AwsSqsTransport(session=session, topic_arn=ARN)) == "eu-west-3"


@pytest.mark.parametrize(
    "arn",
    ["chat", "arn:aws:sqs:eu-west-3:123456789012:chat", "arn:aws:sns:eu-west-3:1234:chat", ""],
)
def test_a_malformed_arn_fails_in_the_constructor(arn: str) -> None:
    with pytest.raises(ValueError, match="not an SNS topic ARN") as caught:
        AwsSqsManager(topic_arn=arn or " ")
    assert "arn:aws:sns:<region>:<12-digit account>:<topic name>" in str(caught.value)
    with pytest.raises(ValueError, match="not an SNS topic ARN"):
        AwsSqsEmitter(topic_arn=arn or " ")


def test_a_region_mismatch_names_both_regions() -> None:
    with pytest.raises(ValueError, match="region mismatch") as caught:
        AwsSqsManager(topic_arn=ARN, region_name="us-east-1")
    assert "'us-east-1'" in str(caught.value)
    assert "'eu-west-3'" in str(caught.value)


def test_a_given_sns_client_of_another_region_is_a_mismatch() -> None:
    sns = boto3.client("sns", region_name="us-east-1", **DUMMY_CREDENTIALS)

    with pytest.raises(ValueError, match=r"region mismatch.*'us-east-1'.*'eu-west-3'"):
        AwsSqsTransport(topic_arn=ARN, sns_client=sns)


@pytest.mark.aws
async def test_a_missing_topic_fails_ready_at_once_naming_topic_and_region(
    aws_cluster: AwsBackend,
) -> None:
    missing = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:{aws_cluster.topic_name}-missing"
    manager = AwsSqsManager(**aws_cluster.options(topic_arn=missing))

    with pytest.raises(TransportError) as caught:
        await manager.ready()

    message = str(caught.value)
    assert "\n" not in message
    assert f"SNS topic {missing} does not exist in region {AWS_REGION}" in message
    assert "region comes from the ARN" in message
    # nothing left behind: the queue made before the subscription failed is deleted
    assert await aws_cluster.node_resources(manager.uid) == []


@pytest.mark.aws
async def test_a_topic_that_exists_in_another_region_only_is_not_found_there(
    aws_cluster: AwsBackend,
) -> None:
    """The topic exists, but the ARN names another region: the error names that region."""
    aws_cluster.client("sns").create_topic(Name=aws_cluster.topic_name)
    elsewhere = f"arn:aws:sns:eu-central-1:{AWS_ACCOUNT_ID}:{aws_cluster.topic_name}"
    transport = aws_cluster.make_transport(topic_arn=elsewhere)

    with pytest.raises(TransportError, match="does not exist in region eu-central-1"):
        await transport.start(new_uid(), Inbox())
    await transport.close()


@pytest.mark.aws
async def test_an_emitter_publishing_to_a_missing_topic_names_topic_and_region(
    aws_cluster: AwsBackend,
) -> None:
    missing = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:{aws_cluster.topic_name}-missing"
    options = aws_cluster.options(topic_arn=missing)
    emitter = AwsSqsEmitter(
        topic_arn=missing, session=options["session"], endpoint_url=options["endpoint_url"]
    )

    with pytest.raises(TransportError) as caught:
        await emitter.emit("hello", "world")

    assert "\n" not in str(caught.value)
    assert f"SNS topic {missing} does not exist in region {AWS_REGION}" in str(caught.value)
