"""Settings.from_env: every variable the service reads, its default, and its errors."""

from __future__ import annotations

import socket

import pytest

from app.backends import BACKENDS, build_manager
from app.config import Settings, SettingsError
from socketio_cloud.transports.aws import AwsSqsManager
from socketio_cloud.transports.memory import MemoryManager

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:chat"


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(node_name=socket.gethostname())
    assert (settings.backend, settings.port, settings.host) == ("memory", 8000, "0.0.0.0")
    assert (settings.topic_arn, settings.topic_name, settings.queue_prefix) == (
        None,
        "socket-io",
        "socket-io",
    )
    assert (settings.heartbeat_interval, settings.heartbeat_timeout) == (5.0, 10.0)
    assert settings.large_payload_bucket is None


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "SIO_BACKEND": "aws",
            "PORT": "9000",
            "SIO_HOST": "127.0.0.1",
            "SIO_NODE_NAME": "web-1",
            "SIO_TOPIC_ARN": TOPIC_ARN,
            "SIO_TOPIC_NAME": "chat",
            "SIO_QUEUE_PREFIX": "chat-nodes",
            "SIO_HEARTBEAT_INTERVAL": "2.5",
            "SIO_HEARTBEAT_TIMEOUT": "7",
            "SIO_LARGE_PAYLOAD_BUCKET": "big-payloads",
            "SIO_SHUTDOWN_TIMEOUT": "12",
            "SIO_LOG_LEVEL": "WARNING",
            "AWS_REGION": "eu-west-1",
            "SIO_WS_COMPRESSION": "on",
        }
    )
    assert settings == Settings(
        backend="aws",
        port=9000,
        host="127.0.0.1",
        node_name="web-1",
        topic_arn=TOPIC_ARN,
        topic_name="chat",
        queue_prefix="chat-nodes",
        heartbeat_interval=2.5,
        heartbeat_timeout=7.0,
        large_payload_bucket="big-payloads",
        shutdown_timeout=12.0,
        log_level="warning",
        aws_region="eu-west-1",
        ws_compression=True,
    )


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env({"SIO_TOPIC_ARN": "", "PORT": "  ", "SIO_BACKEND": ""})
    assert (settings.topic_arn, settings.port, settings.backend) == (None, 8000, "memory")


@pytest.mark.parametrize(
    ("environ", "region"),
    [
        ({}, None),
        ({"AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2"),
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-1"),
    ],
)
def test_the_region_is_aws_region_else_aws_default_region(
    environ: dict[str, str], region: str | None
) -> None:
    assert Settings.from_env(environ).aws_region == region


def test_heartbeat_settings_become_cluster_options() -> None:
    settings = Settings.from_env({"SIO_HEARTBEAT_INTERVAL": "1", "SIO_HEARTBEAT_TIMEOUT": "3"})
    assert settings.cluster_options() == {"heartbeat_interval": 1.0, "heartbeat_timeout": 3.0}


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("SIO_BACKEND", "kafka", "expected one of memory, aws"),
        ("PORT", "http", "expected an integer"),
        ("PORT", "70000", "expected 1 to 65535"),
        ("PORT", "0", "expected 1 to 65535"),
        ("SIO_HEARTBEAT_INTERVAL", "soon", "expected a number of seconds"),
        ("SIO_HEARTBEAT_INTERVAL", "-1", "positive"),
        ("SIO_HEARTBEAT_TIMEOUT", "nan", "positive"),
        ("SIO_SHUTDOWN_TIMEOUT", "inf", "positive"),
        ("SIO_QUEUE_PREFIX", "no spaces", "letters, digits"),
        ("SIO_QUEUE_PREFIX", "x" * 64, "letters, digits"),
        ("SIO_TOPIC_ARN", "chat", "not an SNS topic ARN"),
        ("SIO_NODE_NAME", "n" * 65, "at most 64 characters"),
        ("SIO_LOG_LEVEL", "loud", "expected one of debug"),
        ("SIO_WS_COMPRESSION", "maybe", "expected one of on"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, complaint: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert str(error.value).startswith(f"{variable}:")
    assert complaint in str(error.value)


def test_the_heartbeat_timeout_must_exceed_the_interval() -> None:
    with pytest.raises(SettingsError, match=r"SIO_HEARTBEAT_TIMEOUT .* must exceed"):
        Settings.from_env({"SIO_HEARTBEAT_INTERVAL": "10", "SIO_HEARTBEAT_TIMEOUT": "10"})


def test_settings_errors_are_value_errors_of_the_library_family() -> None:
    from socketio_cloud.exceptions import SocketIOCloudError

    assert issubclass(SettingsError, ValueError)
    assert issubclass(SettingsError, SocketIOCloudError)


def test_backend_names_are_case_insensitive() -> None:
    assert Settings.from_env({"SIO_BACKEND": "AWS"}).backend == "aws"


def test_every_backend_of_the_table_is_accepted() -> None:
    for name in BACKENDS:
        # servicebus needs a namespace (or a connection string); the others ignore it
        environ = {"SIO_BACKEND": name, "SIO_SERVICEBUS_NAMESPACE": "ns.servicebus.windows.net"}
        assert Settings.from_env(environ).backend == name


def test_the_memory_backend_builds_a_memory_manager_with_the_heartbeats() -> None:
    settings = Settings.from_env({"SIO_HEARTBEAT_INTERVAL": "1", "SIO_HEARTBEAT_TIMEOUT": "4"})
    manager = build_manager(settings)
    assert isinstance(manager, MemoryManager)
    assert (manager.heartbeat_interval, manager.heartbeat_timeout) == (1.0, 4.0)


def test_the_aws_backend_maps_topic_queue_prefix_and_bucket() -> None:
    settings = Settings.from_env(
        {
            "SIO_BACKEND": "aws",
            "SIO_TOPIC_ARN": TOPIC_ARN,
            "SIO_QUEUE_PREFIX": "chat-nodes",
            "SIO_LARGE_PAYLOAD_BUCKET": "big-payloads",
            "SIO_HEARTBEAT_INTERVAL": "3",
            "SIO_HEARTBEAT_TIMEOUT": "9",
            "AWS_REGION": "eu-west-1",
        }
    )
    manager = build_manager(settings)
    assert isinstance(manager, AwsSqsManager)
    transport = manager.transport
    assert (transport.topic_arn, transport.queue_prefix) == (TOPIC_ARN, "chat-nodes")
    assert transport.max_message_size != 262_144  # the S3 path lifts SNS's limit
    assert (manager.heartbeat_interval, manager.heartbeat_timeout) == (3.0, 9.0)
