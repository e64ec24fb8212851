"""The sync module's names and the errors a wrong setup gets at startup."""

from __future__ import annotations

import pytest
import socketio

from socketio_cloud import sync
from socketio_cloud.exceptions import NotReadyError

pytestmark = pytest.mark.sync


def test_every_broker_manager_has_a_sync_twin() -> None:
    assert {"AwsSqsManager", "MemoryManager", "RedisStreamsManager"} <= set(dir(sync))
    assert issubclass(sync.AwsSqsManager, sync.SyncClusterManager)
    with pytest.raises(AttributeError):
        sync.ClusterManager  # noqa: B018


def test_an_async_server_is_refused() -> None:
    manager = sync.RedisStreamsManager(url="redis://127.0.0.1:6379/0")
    with pytest.raises(TypeError, match="AsyncServer"):
        socketio.AsyncServer(client_manager=manager)


def test_an_unsupported_async_mode_is_refused_at_startup() -> None:
    manager = sync.RedisStreamsManager(url="redis://127.0.0.1:6379/0")
    server = socketio.Server(async_mode="threading")
    server.eio.async_mode = "made_up"  # as a future python-engineio mode would appear
    with pytest.raises(ValueError, match="made_up"):
        manager.set_server(server)


def test_operations_before_a_server_say_what_is_missing() -> None:
    manager = sync.RedisStreamsManager(url="redis://127.0.0.1:6379/0")
    with pytest.raises(NotReadyError, match=r"socketio\.Server"):
        manager.ready()


def test_connection_state_recovery_is_refused_on_sync_servers() -> None:
    from socketio_cloud import sync
    from socketio_cloud.exceptions import UnsupportedFeatureError

    with pytest.raises(UnsupportedFeatureError, match="AsyncServer only"):
        sync.RedisStreamsManager(url="redis://127.0.0.1:1/0", connection_state_recovery=True)
