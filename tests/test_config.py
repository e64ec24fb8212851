"""socketio_cloud.from_env: a manager from environment variables alone, for every broker."""

from __future__ import annotations

import subprocess
import sys

import pytest

import socketio_cloud
from socketio_cloud.config import BACKENDS, ClusterConfig, ConfigError, from_env

ARN = "arn:aws:sns:eu-west-1:123456789012:chat"


def test_the_package_exports_from_env() -> None:
    assert socketio_cloud.from_env is from_env
    assert socketio_cloud.ConfigError is ConfigError
    assert {"from_env", "ClusterConfig", "ConfigError"} <= set(socketio_cloud.__all__)


def test_without_variables_the_manager_is_a_memory_cluster() -> None:
    manager = from_env({})
    assert isinstance(manager, socketio_cloud.MemoryManager)
    assert (manager.heartbeat_interval, manager.heartbeat_timeout) == (5.0, 10.0)


def test_the_aws_variables_build_an_aws_manager() -> None:
    manager = from_env(
        {
            "SIO_BACKEND": "aws",
            "SIO_TOPIC_ARN": ARN,
            "SIO_QUEUE_PREFIX": "chat-nodes",
            "SIO_LARGE_PAYLOAD_BUCKET": "big",
            "SIO_HEARTBEAT_INTERVAL": "2",
            "SIO_HEARTBEAT_TIMEOUT": "6",
            # a stale region variable does not fight the ARN's region
            "AWS_REGION": "us-east-1",
        }
    )
    assert isinstance(manager, socketio_cloud.AwsSqsManager)
    transport = manager.transport
    assert (transport.topic_arn, transport.queue_prefix) == (ARN, "chat-nodes")
    assert transport.max_message_size > 262_144
    assert str(transport._calls.client("sns").meta.region_name) == "eu-west-1"
    assert (manager.heartbeat_interval, manager.heartbeat_timeout) == (2.0, 6.0)


def test_without_a_topic_arn_the_region_comes_from_aws_region() -> None:
    manager = from_env(
        {"SIO_BACKEND": "aws", "AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    assert isinstance(manager, socketio_cloud.AwsSqsManager)
    assert str(manager.transport._calls.client("sqs").meta.region_name) == "ap-south-1"


def test_the_redis_variables_build_a_redis_streams_manager() -> None:
    manager = from_env(
        {"SIO_BACKEND": "redis", "SIO_REDIS_URL": "redis://cache:6380/2", "SIO_REDIS_STREAM": "s"}
    )
    assert isinstance(manager, socketio_cloud.RedisStreamsManager)
    assert manager.transport._url == "redis://cache:6380/2"
    assert manager.transport.stream_name == "s"


def test_the_amqp_postgres_and_pubsub_variables_build_their_managers() -> None:
    amqp = from_env({"SIO_BACKEND": "amqp", "SIO_AMQP_URL": "amqps://u:p@mq/vh"})
    assert isinstance(amqp, socketio_cloud.AmqpManager)
    assert amqp.transport.url == "amqps://u:p@mq/vh"

    postgres = from_env({"SIO_BACKEND": "postgres", "SIO_POSTGRES_TABLE": "rt.attachments"})
    assert isinstance(postgres, socketio_cloud.PostgresManager)
    assert postgres.transport.table_name == "rt.attachments"

    pubsub = from_env({"SIO_BACKEND": "pubsub", "GOOGLE_CLOUD_PROJECT": "proj-1"})
    assert isinstance(pubsub, socketio_cloud.PubSubManager)
    assert pubsub.transport.project == "proj-1"


def test_overrides_are_manager_options_that_win_over_the_environment() -> None:
    manager = from_env(
        {"SIO_BACKEND": "aws", "SIO_TOPIC_ARN": ARN, "SIO_QUEUE_PREFIX": "from-env"},
        queue_prefix="from-code",
        ready_timeout=3.0,
    )
    assert isinstance(manager, socketio_cloud.AwsSqsManager)
    assert manager.transport.queue_prefix == "from-code"
    assert manager.transport.ready_timeout == 3.0


def test_every_backend_name_is_a_choice() -> None:
    assert set(BACKENDS) == {"memory", "aws", "redis", "postgres", "amqp", "pubsub", "servicebus"}
    for name in BACKENDS:
        assert ClusterConfig.from_env({"SIO_BACKEND": name.upper()}).backend == name


@pytest.mark.parametrize(
    ("environ", "variable", "complaint"),
    [
        ({"SIO_BACKEND": "kafka"}, "SIO_BACKEND", "expected one of memory, aws, redis"),
        ({"SIO_HEARTBEAT_INTERVAL": "soon"}, "SIO_HEARTBEAT_INTERVAL", "number of seconds"),
        ({"SIO_HEARTBEAT_INTERVAL": "20"}, "SIO_HEARTBEAT_TIMEOUT", "must exceed"),
        ({"SIO_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:x"}, "SIO_TOPIC_ARN", "not an SNS topic"),
        ({"SIO_QUEUE_PREFIX": "a b"}, "SIO_QUEUE_PREFIX", "letters, digits"),
        ({"SIO_REDIS_URL": "http://x"}, "SIO_REDIS_URL", "redis://"),
        ({"SIO_AMQP_URL": "redis://x"}, "SIO_AMQP_URL", "amqp://"),
        ({"SIO_POSTGRES_TABLE": "a;b"}, "SIO_POSTGRES_TABLE", "SIO_POSTGRES_TABLE"),
        ({"SIO_SUBSCRIPTION_PREFIX": "1x"}, "SIO_SUBSCRIPTION_PREFIX", "a letter"),
        ({"SIO_BACKEND": "pubsub"}, "SIO_GCP_PROJECT", "is needed for pubsub"),
    ],
)
def test_a_bad_value_raises_one_typed_error_naming_the_variable(
    environ: dict[str, str], variable: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_env(environ)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)
    assert complaint in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, socketio_cloud.SocketIOCloudError)


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIO_BACKEND", "aws")
    monkeypatch.setenv("SIO_TOPIC_ARN", ARN)
    assert isinstance(from_env(), socketio_cloud.AwsSqsManager)


def test_a_missing_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "import socketio_cloud\n"
        "try:\n"
        "    socketio_cloud.from_env({'SIO_BACKEND': 'aws'})\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'socketio-cloud[aws]'" in result.stdout
