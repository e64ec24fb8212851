"""The service's amqp backend: settings from the environment, the manager they build."""

from __future__ import annotations

import pytest

from app.backends import build_manager
from app.config import Settings, SettingsError
from socketio_cloud.transports.amqp import AmqpManager


def test_the_amqp_backend_reads_its_url_and_exchange() -> None:
    settings = Settings.from_env(
        {
            "SIO_BACKEND": "amqp",
            "SIO_AMQP_URL": "amqp://user:secret@broker:5672/chat",
            "SIO_AMQP_EXCHANGE": "chat",
            "SIO_QUEUE_PREFIX": "chat-nodes",
            "SIO_HEARTBEAT_INTERVAL": "2",
        }
    )
    manager = build_manager(settings)
    assert isinstance(manager, AmqpManager)
    assert manager.transport.url == "amqp://user:secret@broker:5672/chat"
    assert manager.transport.exchange_name == "chat"
    assert manager.transport.queue_prefix == "chat-nodes"
    assert manager.heartbeat_interval == 2


def test_defaults_point_at_a_local_rabbitmq() -> None:
    settings = Settings.from_env({"SIO_BACKEND": "amqp"})
    assert settings.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert settings.amqp_exchange == "socket.io"


def test_a_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(SettingsError, match="SIO_AMQP_URL"):
        Settings.from_env({"SIO_BACKEND": "amqp", "SIO_AMQP_URL": "redis://localhost"})
