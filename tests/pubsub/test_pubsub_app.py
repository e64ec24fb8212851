"""The reference service on Pub/Sub: ``python -m app`` settings and the 3-node demo on the
emulator (``scripts/demo --backend pubsub``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.backends import build_manager
from app.config import Settings, SettingsError
from app.embedded_pubsub import find_emulator
from socketio_cloud.transports.pubsub import PubSubManager
from tests.app.nodes import REPO_ROOT
from tests.app.test_demo import free_port_run
from tests.support.services import require_service

pytestmark = pytest.mark.pubsub


def test_pubsub_settings_build_a_pubsub_manager() -> None:
    settings = Settings.from_env(
        {
            "SIO_BACKEND": "pubsub",
            "SIO_GCP_PROJECT": "my-project-1",
            "SIO_PUBSUB_TOPIC": "chat",
            "SIO_SUBSCRIPTION_PREFIX": "chat-node",
            "SIO_LARGE_PAYLOAD_BUCKET": "my-bucket",
            "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
            "SIO_HEARTBEAT_INTERVAL": "2",
        }
    )
    manager = build_manager(settings)
    assert isinstance(manager, PubSubManager)
    transport = manager.transport
    assert transport.topic == "projects/my-project-1/topics/chat"
    assert transport.subscription_prefix == "chat-node"
    assert transport.emulator_host == "127.0.0.1:8085"
    assert transport.max_message_size == transport.limits.max_message_size  # a store is set
    assert manager.heartbeat_interval == 2


def test_pubsub_defaults_and_project_fallback() -> None:
    settings = Settings.from_env({"SIO_BACKEND": "pubsub", "GOOGLE_CLOUD_PROJECT": "proj-123"})
    assert (settings.gcp_project, settings.pubsub_topic, settings.subscription_prefix) == (
        "proj-123",
        "socket-io",
        "socket.io",
    )
    assert settings.pubsub_emulator_host is None


def test_bad_pubsub_settings() -> None:
    with pytest.raises(SettingsError, match="SIO_SUBSCRIPTION_PREFIX"):
        Settings.from_env(
            {"SIO_BACKEND": "pubsub", "SIO_GCP_PROJECT": "p-1234", "SIO_SUBSCRIPTION_PREFIX": "9x"}
        )
    with pytest.raises(SettingsError, match="SIO_GCP_PROJECT"):
        build_manager(Settings.from_env({"SIO_BACKEND": "pubsub"}))


@pytest.mark.slow
def test_the_demo_runs_on_the_emulator() -> None:
    require_service(find_emulator() is not None, "no Pub/Sub emulator")
    # the nodes' ports and the emulator's, chosen together so that they cannot collide
    base = free_port_run(4)
    command = [sys.executable, "-m", "app.demo", "--backend", "pubsub", "--check"]
    result = subprocess.run(
        [*command, "--base-port", str(base), "--pubsub-port", str(base + 3)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "one Pub/Sub subscription each" in result.stdout
    assert "all 3 node subscriptions were deleted" in result.stdout
