"""The deployments' settings: one typed value per cloud, read from the stack's configuration.

Each program (``pulumi/gcp``, ``pulumi/azure``) calls :func:`gcp_settings` or
:func:`azure_settings` with its ``pulumi.Config`` getters; nothing else reads configuration or
the environment. Tests build the dataclasses directly. Every bad value fails with one line that
names the key: ``config minInstances='x': not an integer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = [
    "REPO_ROOT",
    "AzureSettings",
    "GcpSettings",
    "SettingsError",
    "azure_settings",
    "gcp_settings",
    "iso_duration",
]

#: The repository root: ``pulumi/socketio_cloud_pulumi/settings.py`` is two levels below it.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The library package the cleanup functions ship with.
LIBRARY_PACKAGE = REPO_ROOT / "adapters" / "socketio_cloud"

T = TypeVar("T")
#: How a program reads one key of its stack configuration (``pulumi.Config().get``).
Getter = Callable[[str], "str | None"]

# Pub/Sub subscription ids start with a letter, then letters, digits and - _ . ~ + %.
_PUBSUB_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{0,200}$")
# Service Bus subscription names are at most 50 characters: <prefix>-<16 hex> leaves 33.
_SERVICEBUS_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,32}$")
_SERVICEBUS_TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$")
# Resource names derived from ``name`` must suit the strictest service (storage accounts).
_NAME = re.compile(r"^[a-z][a-z0-9-]{2,19}$")


class SettingsError(ValueError):
    """A configuration value the program cannot deploy."""


def iso_duration(seconds: int) -> str:
    """``seconds`` as the ISO 8601 duration Azure expects (``PT5M``, ``PT1H30S``)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


@dataclass(frozen=True)
class GcpSettings:
    """Everything that differs between Google Cloud deployments of the cluster.

    Durations are seconds. The defaults give a small cluster: one always-on Cloud Run
    instance that scales to four, a cleanup run every 15 minutes, no payload bucket.
    """

    #: The project and region everything is created in.
    project: str
    region: str = "europe-west1"
    #: Base of every resource name (lower case, 3 to 20 characters); change it and every
    #: resource is replaced.
    name: str = "socketio-cloud"

    #: The app image (``REGION-docker.pkg.dev/PROJECT/REPO/app:TAG``). Unset on the first
    #: ``pulumi up``: the stack then creates everything but the service, so that the image can
    #: be pushed to the repository it created.
    image: str | None = None
    #: Id of the cluster's Pub/Sub topic and prefix of the per-node subscriptions.
    topic_id: str = "socket-io"
    subscription_prefix: str = "socket.io"
    #: How long the topic keeps messages (Pub/Sub allows 10 minutes to 31 days).
    topic_retention: int = 600

    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 10.0
    shutdown_timeout: float = 5.0

    #: Cloud Run scaling; an instance always runs so the cluster keeps its subscriptions warm.
    min_instances: int = 1
    max_instances: int = 4
    #: Concurrent requests per instance; every open websocket holds one.
    concurrency: int = 250
    cpu: str = "1"
    memory: str = "512Mi"
    #: Longest request, hence longest websocket, in seconds (Cloud Run allows 3600).
    request_timeout: int = 3600
    #: Let anyone on the internet reach the service (browsers connect to it directly).
    public: bool = True

    #: Create a Cloud Storage bucket for payloads over the Pub/Sub limit.
    large_payload_bucket: bool = False
    payload_retention_days: int = 1

    #: Cleanup: Cloud Scheduler cron, the liveness age past which a subscription is stale.
    cleanup_schedule: str = "*/15 * * * *"
    stale_after: int = 900
    cleanup_dry_run: bool = False
    cleanup_source: Path = REPO_ROOT / "functions" / "gcp_cleanup"
    cleanup_entry_point: str = "cleanup"
    cleanup_runtime: str = "python312"
    library_package: Path = LIBRARY_PACKAGE

    #: Image versions the repository keeps (older ones are deleted by its cleanup policy).
    keep_image_versions: int = 10

    #: Labels put on every resource that takes labels.
    labels: Mapping[str, str] = field(default_factory=lambda: {"app": "socketio-cloud"})

    def check(self) -> None:
        """Raise :class:`SettingsError` when values are out of range or contradict."""
        _check_common(self.name, self.heartbeat_interval, self.heartbeat_timeout)
        if not _PUBSUB_PREFIX.match(self.subscription_prefix):
            raise SettingsError(
                "config subscriptionPrefix: a letter, then letters, digits or - _ . ~ + %, "
                f"got {self.subscription_prefix!r}"
            )
        if not _PUBSUB_PREFIX.match(self.topic_id) or len(self.topic_id) < 3:
            raise SettingsError(f"config topicId: not a Pub/Sub topic id: {self.topic_id!r}")
        if not 600 <= self.topic_retention <= 31 * 86400:
            raise SettingsError("config topicRetentionSeconds: 600 to 2678400")
        if not 0 <= self.min_instances <= self.max_instances or self.max_instances < 1:
            raise SettingsError("config minInstances/maxInstances: 0 <= min <= max, max >= 1")
        if not 1 <= self.concurrency <= 1000:
            raise SettingsError("config concurrency: 1 to 1000 (Cloud Run's limit)")
        if not 0 < self.shutdown_timeout < 10:
            raise SettingsError(
                "config shutdownTimeout: under 10 (Cloud Run kills an instance 10 s after SIGTERM)"
            )
        if not 1 <= self.request_timeout <= 3600:
            raise SettingsError("config requestTimeoutSeconds: 1 to 3600 (Cloud Run's limit)")
        if self.payload_retention_days < 1:
            raise SettingsError("config payloadRetentionDays: at least 1")
        if len(self.cleanup_schedule.split()) != 5:
            raise SettingsError(
                f"config cleanupSchedule: five cron fields, got {self.cleanup_schedule!r}"
            )
        if self.stale_after < 60:
            raise SettingsError("config staleAfterSeconds: at least 60")


@dataclass(frozen=True)
class AzureSettings:
    """Everything that differs between Azure deployments of the cluster.

    Durations are seconds. The defaults give one always-on Container Apps replica that
    scales to four, a Standard Service Bus namespace, a cleanup run every 15 minutes.
    """

    location: str = "westeurope"
    #: Base of every resource name (lower case, 3 to 20 characters).
    name: str = "socketio-cloud"

    #: The app image (any registry the environment can pull from anonymously). Unset: the
    #: stack creates everything but the container app.
    image: str | None = None
    #: The Service Bus topic (Node's default ``socket.io``) and the per-node prefix.
    topic_name: str = "socket.io"
    subscription_prefix: str = "socket.io"
    #: Default time to live of the topic's messages; nodes set shorter ones per subscription.
    message_ttl: int = 300

    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 10.0
    shutdown_timeout: float = 5.0

    min_replicas: int = 1
    max_replicas: int = 4
    #: The HTTP scale rule adds a replica per this many concurrent requests (websockets).
    concurrent_requests: int = 200
    cpu: float = 0.5
    memory: str = "1Gi"
    target_port: int = 8000

    #: Create a storage account and container for payloads over Service Bus's 256 KB.
    large_payload_container: bool = False
    payload_retention_days: int = 1

    #: Cleanup: NCRONTAB schedule (six fields, seconds first) of the timer trigger.
    cleanup_schedule: str = "0 */15 * * * *"
    stale_after: int = 900
    cleanup_dry_run: bool = False
    cleanup_source: Path = REPO_ROOT / "functions" / "azure_cleanup"
    library_package: Path = LIBRARY_PACKAGE
    python_version: str = "3.11"

    log_retention_days: int = 30

    #: Tags put on every resource that takes tags.
    tags: Mapping[str, str] = field(default_factory=lambda: {"app": "socketio-cloud"})

    def check(self) -> None:
        """Raise :class:`SettingsError` when values are out of range or contradict."""
        _check_common(self.name, self.heartbeat_interval, self.heartbeat_timeout)
        if not _SERVICEBUS_PREFIX.match(self.subscription_prefix):
            raise SettingsError(
                "config subscriptionPrefix: 1 to 33 letters, digits, '.', '-' or '_' "
                f"(subscription names are at most 50), got {self.subscription_prefix!r}"
            )
        if not _SERVICEBUS_TOPIC.match(self.topic_name):
            raise SettingsError(f"config topicName: not a topic name: {self.topic_name!r}")
        if self.message_ttl < 60:
            raise SettingsError("config messageTtlSeconds: at least 60")
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise SettingsError("config minReplicas/maxReplicas: 0 <= min <= max, max >= 1")
        if self.concurrent_requests < 1:
            raise SettingsError("config concurrentRequests: at least 1")
        if self.payload_retention_days < 1:
            raise SettingsError("config payloadRetentionDays: at least 1")
        if len(self.cleanup_schedule.split()) != 6:
            raise SettingsError(
                "config cleanupSchedule: six NCRONTAB fields (seconds first), "
                f"got {self.cleanup_schedule!r}"
            )
        if self.stale_after < 60:
            raise SettingsError("config staleAfterSeconds: at least 60")
        if not 30 <= self.log_retention_days <= 730:
            raise SettingsError("config logRetentionDays: 30 to 730")


def _check_common(name: str, heartbeat_interval: float, heartbeat_timeout: float) -> None:
    if not _NAME.match(name):
        raise SettingsError(
            f"config name: 3 to 20 lower-case letters, digits or '-', a letter first; got {name!r}"
        )
    if heartbeat_timeout <= heartbeat_interval:
        raise SettingsError(
            f"config heartbeatTimeout ({heartbeat_timeout:g}) must exceed "
            f"heartbeatInterval ({heartbeat_interval:g})"
        )


def parse_bool(value: str) -> bool:
    """A configuration flag: ``true``/``false`` (also 1/0, yes/no, on/off)."""
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError("not a boolean")


def parse_labels(value: str) -> dict[str, str]:
    """``key=value,key=value`` as a mapping."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not key=value")
        labels[key.strip()] = text.strip()
    return labels


class _Reader:
    """Typed reads of configuration keys; errors name the key and the value."""

    def __init__(self, get: Getter) -> None:
        self._get = get

    def value(self, key: str, convert: Callable[[str], T], default: T) -> T:
        text = self._get(key)
        if text is None or text == "":
            return default
        try:
            return convert(text)
        except ValueError as error:
            message = str(error) or "invalid"
            raise SettingsError(f"config {key}={text!r}: {message}") from None

    def optional(self, key: str) -> str | None:
        return self._get(key) or None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("not an integer") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def gcp_settings(get: Getter, provider_get: Getter) -> GcpSettings:
    """Settings from the stack's configuration (``get``) and the ``gcp`` provider's
    (``provider_get``: ``project`` and ``region``); unset keys keep their defaults."""
    read = _Reader(get)
    project = read.optional("project") or provider_get("project")
    if not project:
        raise SettingsError("config gcp:project: set it with `pulumi config set gcp:project ID`")
    defaults = GcpSettings(project=project)
    settings = GcpSettings(
        project=project,
        region=read.optional("region") or provider_get("region") or defaults.region,
        name=read.value("name", str, defaults.name),
        image=read.optional("image"),
        topic_id=read.value("topicId", str, defaults.topic_id),
        subscription_prefix=read.value("subscriptionPrefix", str, defaults.subscription_prefix),
        topic_retention=read.value("topicRetentionSeconds", _integer, defaults.topic_retention),
        heartbeat_interval=read.value("heartbeatInterval", _number, defaults.heartbeat_interval),
        heartbeat_timeout=read.value("heartbeatTimeout", _number, defaults.heartbeat_timeout),
        shutdown_timeout=read.value("shutdownTimeout", _number, defaults.shutdown_timeout),
        min_instances=read.value("minInstances", _integer, defaults.min_instances),
        max_instances=read.value("maxInstances", _integer, defaults.max_instances),
        concurrency=read.value("concurrency", _integer, defaults.concurrency),
        cpu=read.value("cpu", str, defaults.cpu),
        memory=read.value("memory", str, defaults.memory),
        request_timeout=read.value("requestTimeoutSeconds", _integer, defaults.request_timeout),
        public=read.value("public", parse_bool, defaults.public),
        large_payload_bucket=read.value("largePayloadBucket", parse_bool, False),
        payload_retention_days=read.value(
            "payloadRetentionDays", _integer, defaults.payload_retention_days
        ),
        cleanup_schedule=read.value("cleanupSchedule", str, defaults.cleanup_schedule),
        stale_after=read.value("staleAfterSeconds", _integer, defaults.stale_after),
        cleanup_dry_run=read.value("cleanupDryRun", parse_bool, False),
        cleanup_source=read.value("cleanupSource", Path, defaults.cleanup_source),
        cleanup_entry_point=read.value("cleanupEntryPoint", str, defaults.cleanup_entry_point),
        cleanup_runtime=read.value("cleanupRuntime", str, defaults.cleanup_runtime),
        keep_image_versions=read.value("keepImageVersions", _integer, defaults.keep_image_versions),
        labels=read.value("labels", parse_labels, dict(defaults.labels)),
    )
    settings.check()
    return settings


def azure_settings(get: Getter, provider_get: Getter) -> AzureSettings:
    """Settings from the stack's configuration (``get``) and the ``azure-native`` provider's
    (``provider_get``: ``location``); unset keys keep their defaults."""
    read = _Reader(get)
    defaults = AzureSettings()
    settings = AzureSettings(
        location=read.optional("location") or provider_get("location") or defaults.location,
        name=read.value("name", str, defaults.name),
        image=read.optional("image"),
        topic_name=read.value("topicName", str, defaults.topic_name),
        subscription_prefix=read.value("subscriptionPrefix", str, defaults.subscription_prefix),
        message_ttl=read.value("messageTtlSeconds", _integer, defaults.message_ttl),
        heartbeat_interval=read.value("heartbeatInterval", _number, defaults.heartbeat_interval),
        heartbeat_timeout=read.value("heartbeatTimeout", _number, defaults.heartbeat_timeout),
        shutdown_timeout=read.value("shutdownTimeout", _number, defaults.shutdown_timeout),
        min_replicas=read.value("minReplicas", _integer, defaults.min_replicas),
        max_replicas=read.value("maxReplicas", _integer, defaults.max_replicas),
        concurrent_requests=read.value(
            "concurrentRequests", _integer, defaults.concurrent_requests
        ),
        cpu=read.value("cpu", _number, defaults.cpu),
        memory=read.value("memory", str, defaults.memory),
        target_port=read.value("targetPort", _integer, defaults.target_port),
        large_payload_container=read.value("largePayloadContainer", parse_bool, False),
        payload_retention_days=read.value(
            "payloadRetentionDays", _integer, defaults.payload_retention_days
        ),
        cleanup_schedule=read.value("cleanupSchedule", str, defaults.cleanup_schedule),
        stale_after=read.value("staleAfterSeconds", _integer, defaults.stale_after),
        cleanup_dry_run=read.value("cleanupDryRun", parse_bool, False),
        cleanup_source=read.value("cleanupSource", Path, defaults.cleanup_source),
        python_version=read.value("pythonVersion", str, defaults.python_version),
        log_retention_days=read.value("logRetentionDays", _integer, defaults.log_retention_days),
        tags=read.value("tags", parse_labels, dict(defaults.tags)),
    )
    settings.check()
    return settings
