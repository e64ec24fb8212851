"""Settings: the stack configuration read in one place, bad values named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from socketio_cloud_pulumi.settings import (
    AzureSettings,
    GcpSettings,
    SettingsError,
    azure_settings,
    gcp_settings,
)

pytestmark = pytest.mark.pulumi


def getter(values: dict[str, str]):  # type: ignore[no-untyped-def]
    return values.get


def test_gcp_defaults_need_only_a_project() -> None:
    settings = gcp_settings(getter({}), getter({"project": "my-project-1"}))
    assert settings == GcpSettings(project="my-project-1")


def test_gcp_keys_override_defaults() -> None:
    config = {
        "image": "europe-docker.pkg.dev/p/r/app:1",
        "minInstances": "2",
        "maxInstances": "8",
        "public": "false",
        "largePayloadBucket": "true",
        "heartbeatInterval": "2.5",
        "labels": "app=chat, team=rt",
        "cleanupSource": "/srv/cleanup",
    }
    settings = gcp_settings(getter(config), getter({"project": "p-123456", "region": "us-east1"}))
    assert (settings.min_instances, settings.max_instances) == (2, 8)
    assert settings.public is False
    assert settings.large_payload_bucket is True
    assert settings.heartbeat_interval == 2.5
    assert settings.region == "us-east1"
    assert dict(settings.labels) == {"app": "chat", "team": "rt"}
    assert settings.cleanup_source == Path("/srv/cleanup")
    assert settings.image == config["image"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"minInstances": "two"}, "config minInstances='two': not an integer"),
        ({"public": "maybe"}, "config public='maybe': not a boolean"),
        ({"minInstances": "5", "maxInstances": "2"}, "config minInstances/maxInstances"),
        ({"heartbeatTimeout": "4"}, "config heartbeatTimeout (4) must exceed"),
        ({"subscriptionPrefix": "9lives"}, "config subscriptionPrefix: a letter"),
        ({"requestTimeoutSeconds": "7200"}, "config requestTimeoutSeconds: 1 to 3600"),
        ({"shutdownTimeout": "12"}, "config shutdownTimeout: under 10"),
        ({"cleanupSchedule": "0 */15 * * * *"}, "config cleanupSchedule: five cron fields"),
        ({"name": "Socket_IO"}, "config name: 3 to 20 lower-case"),
        ({"labels": "team"}, "config labels='team': 'team' is not key=value"),
    ],
)
def test_gcp_bad_values_fail_with_one_line_naming_the_key(
    config: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        gcp_settings(getter(config), getter({"project": "p-123456"}))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_gcp_without_a_project_says_how_to_set_it() -> None:
    with pytest.raises(SettingsError, match="pulumi config set gcp:project"):
        gcp_settings(getter({}), getter({}))


def test_azure_defaults() -> None:
    assert azure_settings(getter({}), getter({})) == AzureSettings()
    assert azure_settings(getter({}), getter({"location": "northeurope"})).location == (
        "northeurope"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"subscriptionPrefix": "p" * 34}, "config subscriptionPrefix: 1 to 33"),
        ({"cleanupSchedule": "*/15 * * * *"}, "config cleanupSchedule: six NCRONTAB fields"),
        ({"messageTtlSeconds": "10"}, "config messageTtlSeconds: at least 60"),
        ({"cpu": "lots"}, "config cpu='lots': not a number"),
        ({"logRetentionDays": "7"}, "config logRetentionDays: 30 to 730"),
    ],
)
def test_azure_bad_values_fail_with_one_line_naming_the_key(
    config: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        azure_settings(getter(config), getter({}))
    assert str(raised.value).startswith(message)
