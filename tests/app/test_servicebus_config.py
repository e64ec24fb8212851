"""The ``servicebus`` backend of the app: its settings and the manager they build."""

from __future__ import annotations

import pytest

from app.backends import build_manager
from app.config import Settings, SettingsError

pytest.importorskip("azure.servicebus")

from socketio_cloud.transports.servicebus import ServiceBusManager

CONNECTION_STRING = (
    "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=s;UseDevelopmentEmulator=true"
)


def test_servicebus_settings_map_onto_the_manager() -> None:
    settings = Settings.from_env(
        {
            "SIO_BACKEND": "servicebus",
            "SIO_SERVICEBUS_CONNECTION_STRING": CONNECTION_STRING,
            "SIO_SERVICEBUS_TOPIC": "chat",
            "SIO_SUBSCRIPTION_PREFIX": "chat-nodes",
            "SIO_LARGE_PAYLOAD_CONTAINER": "payloads",
            "SIO_LARGE_PAYLOAD_ACCOUNT_URL": "https://acct.blob.core.windows.net",
            "SIO_SERVICEBUS_CA_FILE": "/tmp/ca.pem",
            "SIO_HEARTBEAT_INTERVAL": "3",
            "SIO_HEARTBEAT_TIMEOUT": "9",
        }
    )
    manager = build_manager(settings)
    assert isinstance(manager, ServiceBusManager)
    transport = manager.transport
    assert transport.connection_string == CONNECTION_STRING
    assert (transport.topic_name, transport.subscription_prefix) == ("chat", "chat-nodes")
    assert transport.admin_options == {"connection_verify": "/tmp/ca.pem"}
    assert transport.max_message_size > 262_144  # the Blob path lifts the broker's limit
    assert (manager.heartbeat_interval, manager.heartbeat_timeout) == (3.0, 9.0)


def test_the_namespace_alone_selects_the_managed_identity() -> None:
    settings = Settings.from_env(
        {"SIO_BACKEND": "servicebus", "SIO_SERVICEBUS_NAMESPACE": "ns.servicebus.windows.net"}
    )
    manager = build_manager(settings)
    assert isinstance(manager, ServiceBusManager)
    assert manager.transport.connection_string is None
    assert manager.transport.fully_qualified_namespace == "ns.servicebus.windows.net"
    assert manager.transport.topic_name == "socket.io"
    assert manager.transport.max_message_size == 262_144


@pytest.mark.parametrize(
    "environ",
    [{}, {"SIO_SERVICEBUS_CONNECTION_STRING": "x", "SIO_SERVICEBUS_NAMESPACE": "y"}],
)
def test_exactly_one_credential_is_needed_to_build_the_manager(environ: dict[str, str]) -> None:
    settings = Settings.from_env({"SIO_BACKEND": "servicebus", **environ})
    with pytest.raises(SettingsError, match="exactly one of SIO_SERVICEBUS_CONNECTION_STRING"):
        build_manager(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"SIO_SERVICEBUS_NAMESPACE": "y", "SIO_SUBSCRIPTION_PREFIX": "x" * 34},
            "SIO_SUBSCRIPTION_PREFIX",
        ),
        (
            {"SIO_SERVICEBUS_NAMESPACE": "y", "SIO_LARGE_PAYLOAD_CONTAINER": "c"},
            "go together",
        ),
    ],
)
def test_invalid_servicebus_settings_name_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"SIO_BACKEND": "servicebus", **environ})
