"""The postgres backend of ``python -m app``: its variables and the manager they build."""

from __future__ import annotations

import pytest

from app.backends import build_manager
from app.config import Settings, SettingsError
from socketio_cloud.transports.postgres import PostgresManager


def test_the_postgres_variables_have_nodes_defaults() -> None:
    settings = Settings.from_env({"SIO_BACKEND": "postgres"})
    assert settings.postgres_dsn is None
    assert settings.postgres_channel_prefix == "socket.io"
    assert settings.postgres_table == "socket_io_attachments"


def test_the_postgres_backend_maps_dsn_prefix_table_and_heartbeats() -> None:
    settings = Settings.from_env(
        {
            "SIO_BACKEND": "postgres",
            "SIO_POSTGRES_DSN": "postgresql://app@db:5432/app",
            "SIO_POSTGRES_CHANNEL_PREFIX": "chat",
            "SIO_POSTGRES_TABLE": "rt.attachments",
            "SIO_HEARTBEAT_INTERVAL": "3",
            "SIO_HEARTBEAT_TIMEOUT": "9",
        }
    )
    manager = build_manager(settings)
    assert isinstance(manager, PostgresManager)
    transport = manager.transport
    assert transport.dsn == "postgresql://app@db:5432/app"
    assert (transport.channel_prefix, transport.table_name) == ("chat", "rt.attachments")
    assert transport.channel("/") == "chat#/"
    assert (manager.heartbeat_interval, manager.heartbeat_timeout) == (3.0, 9.0)


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("SIO_POSTGRES_TABLE", "attachments; DROP TABLE x", "SIO_POSTGRES_TABLE"),
        ("SIO_POSTGRES_CHANNEL_PREFIX", "p" * 62, "SIO_POSTGRES_CHANNEL_PREFIX"),
    ],
)
def test_a_bad_postgres_value_names_its_variable(variable: str, value: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        Settings.from_env({"SIO_BACKEND": "postgres", variable: value})
