"""The service's settings: every environment variable it reads, parsed and checked here.

============================  =============================================  =====================
Variable                      Meaning                                        Default
============================  =============================================  =====================
``SIO_BACKEND``               memory, aws, postgres, amqp, pubsub            ``memory``
``PORT``                      TCP port to listen on                          ``8000``
``SIO_HOST``                  address to listen on                           ``0.0.0.0``
``SIO_NODE_NAME``             name shown to users and other servers          the host name
``SIO_TOPIC_ARN``             existing SNS topic of the cluster (aws)        none
``SIO_TOPIC_NAME``            topic to create or find without an ARN (aws)   ``socket-io``
``SIO_QUEUE_PREFIX``          per-node SQS queue name prefix (aws)           ``socket-io``
``SIO_HEARTBEAT_INTERVAL``    seconds between heartbeats                     ``5``
``SIO_HEARTBEAT_TIMEOUT``     seconds before a silent node is dropped        ``10``
``SIO_LARGE_PAYLOAD_BUCKET``  bucket for large messages: S3 over 256 KiB     none
                              (aws), Cloud Storage over 10 MB (pubsub)
``SIO_GCP_PROJECT``           Google Cloud project (pubsub), else            none
                              ``GOOGLE_CLOUD_PROJECT``
``SIO_PUBSUB_TOPIC``          existing Pub/Sub topic of the cluster          ``socket-io``
``SIO_SUBSCRIPTION_PREFIX``   per-node subscription prefix (pubsub)          ``socket.io``
``PUBSUB_EMULATOR_HOST``      ``host:port`` of a Pub/Sub emulator (pubsub)   none
``SIO_AMQP_URL``              RabbitMQ URL, ``amqp[s]://...`` (amqp)         guest@localhost:5672
``SIO_AMQP_EXCHANGE``         the cluster's topic exchange (amqp)            ``socket.io``
``SIO_SHUTDOWN_TIMEOUT``      seconds open connections get at shutdown       ``5``
``SIO_LOG_LEVEL``             ``debug``, ``info``, ``warning`` or ``error``  ``info``
``AWS_REGION``                AWS region (aws), else ``AWS_DEFAULT_REGION``  boto3's configuration
============================  =============================================  =====================

The AWS endpoint and credentials come from boto3's own variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...) or the task role. boto3 reads only ``AWS_DEFAULT_REGION``, so
``AWS_REGION`` (what ECS and Lambda set) is passed on here. An empty variable counts as unset.

The postgres backend reads ``SIO_POSTGRES_DSN`` (connection string, default
``postgresql://localhost:5432/postgres``; libpq's ``PG*`` variables fill what it leaves out),
``SIO_POSTGRES_CHANNEL_PREFIX`` (NOTIFY channel prefix, default ``socket.io``) and
``SIO_POSTGRES_TABLE`` (attachments table, default ``socket_io_attachments``).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from socketio_cloud.brokers.aws import (
    DEFAULT_QUEUE_PREFIX,
    DEFAULT_TOPIC_NAME,
    QUEUE_PREFIX_PATTERN,
)
from socketio_cloud.exceptions import SocketIOCloudError

__all__ = ["LOG_LEVELS", "Settings", "SettingsError"]

LOG_LEVELS = ("debug", "info", "warning", "error")
_NODE_NAME_MAX = 64
# Pub/Sub resource ids: the prefix starts the node's subscription id <prefix>-<16 hex>.
_SUBSCRIPTION_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{0,200}$")


class SettingsError(SocketIOCloudError, ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """How one node of the service runs. :meth:`from_env` reads it from the environment."""

    backend: str = "memory"
    port: int = 8000
    # A container must accept connections from its load balancer, hence all interfaces.
    host: str = "0.0.0.0"
    node_name: str = field(default_factory=socket.gethostname)
    topic_arn: str | None = None
    topic_name: str = DEFAULT_TOPIC_NAME
    queue_prefix: str = DEFAULT_QUEUE_PREFIX
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 10.0
    large_payload_bucket: str | None = None
    amqp_url: str = "amqp://guest:guest@localhost:5672/"
    amqp_exchange: str = "socket.io"
    shutdown_timeout: float = 5.0
    log_level: str = "info"
    aws_region: str | None = None
    postgres_dsn: str | None = None
    postgres_channel_prefix: str = "socket.io"
    postgres_table: str = "socket_io_attachments"
    gcp_project: str | None = None
    pubsub_topic: str = "socket-io"
    subscription_prefix: str = "socket.io"
    pubsub_emulator_host: str | None = None
    # permessage-deflate costs CPU per client and message, and rules out the shared-frame
    # fan-out (socketio_cloud.direct_frames): off unless asked for
    ws_compression: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default: ``os.environ``).

        Raises :class:`SettingsError` naming the variable when a value is invalid.
        """
        env = _Environment(os.environ if environ is None else environ)
        defaults = cls()
        settings = cls(
            backend=env.choice("SIO_BACKEND", defaults.backend, _backend_names()),
            port=env.integer("PORT", defaults.port, minimum=1, maximum=65535),
            host=env.text("SIO_HOST", defaults.host),
            node_name=env.text("SIO_NODE_NAME", defaults.node_name, max_length=_NODE_NAME_MAX),
            topic_arn=env.optional("SIO_TOPIC_ARN"),
            topic_name=env.text("SIO_TOPIC_NAME", defaults.topic_name),
            queue_prefix=env.text("SIO_QUEUE_PREFIX", defaults.queue_prefix),
            heartbeat_interval=env.seconds("SIO_HEARTBEAT_INTERVAL", defaults.heartbeat_interval),
            heartbeat_timeout=env.seconds("SIO_HEARTBEAT_TIMEOUT", defaults.heartbeat_timeout),
            large_payload_bucket=env.optional("SIO_LARGE_PAYLOAD_BUCKET"),
            amqp_url=env.text("SIO_AMQP_URL", defaults.amqp_url),
            amqp_exchange=env.text("SIO_AMQP_EXCHANGE", defaults.amqp_exchange),
            shutdown_timeout=env.seconds("SIO_SHUTDOWN_TIMEOUT", defaults.shutdown_timeout),
            log_level=env.choice("SIO_LOG_LEVEL", defaults.log_level, LOG_LEVELS),
            aws_region=env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION"),
            postgres_dsn=env.optional("SIO_POSTGRES_DSN"),
            postgres_channel_prefix=env.text(
                "SIO_POSTGRES_CHANNEL_PREFIX", defaults.postgres_channel_prefix
            ),
            postgres_table=env.text("SIO_POSTGRES_TABLE", defaults.postgres_table),
            gcp_project=env.optional("SIO_GCP_PROJECT") or env.optional("GOOGLE_CLOUD_PROJECT"),
            pubsub_topic=env.text("SIO_PUBSUB_TOPIC", defaults.pubsub_topic),
            subscription_prefix=env.text("SIO_SUBSCRIPTION_PREFIX", defaults.subscription_prefix),
            pubsub_emulator_host=env.optional("PUBSUB_EMULATOR_HOST"),
            ws_compression=env.choice("SIO_WS_COMPRESSION", "off", ("on", "off")) == "on",
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise :class:`SettingsError` when values contradict each other."""
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise SettingsError(
                f"SIO_HEARTBEAT_TIMEOUT ({self.heartbeat_timeout:g}) must exceed "
                f"SIO_HEARTBEAT_INTERVAL ({self.heartbeat_interval:g})"
            )
        if not QUEUE_PREFIX_PATTERN.match(self.queue_prefix):
            raise SettingsError(
                f"SIO_QUEUE_PREFIX: 1 to 63 letters, digits, '-' or '_', got {self.queue_prefix!r}"
            )
        if not self.amqp_url.startswith(("amqp://", "amqps://")):
            raise SettingsError("SIO_AMQP_URL: expected an amqp:// or amqps:// URL")
        if self.topic_arn is not None and not (
            self.topic_arn.startswith("arn:") and ":sns:" in self.topic_arn
        ):
            raise SettingsError(f"SIO_TOPIC_ARN: not an SNS topic ARN: {self.topic_arn!r}")
        if not _SUBSCRIPTION_PREFIX.match(self.subscription_prefix):
            raise SettingsError(
                "SIO_SUBSCRIPTION_PREFIX: a letter, then letters, digits or . _ ~ + % -, "
                f"got {self.subscription_prefix!r}"
            )
        self._check_postgres()

    def _check_postgres(self) -> None:
        from socketio_cloud.brokers import postgres

        try:
            postgres.check_channel(postgres.channel_name(self.postgres_channel_prefix, "/"))
        except ValueError as exc:
            raise SettingsError(f"SIO_POSTGRES_CHANNEL_PREFIX: {exc}") from None
        try:
            postgres.check_table_name(self.postgres_table)
        except ValueError as exc:
            raise SettingsError(f"SIO_POSTGRES_TABLE: {exc}") from None

    def cluster_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`socketio_cloud.cluster.ClusterManager`."""
        return {
            "heartbeat_interval": self.heartbeat_interval,
            "heartbeat_timeout": self.heartbeat_timeout,
        }


def _backend_names() -> tuple[str, ...]:
    # Imported here: the table imports this module for its type hints.
    from .backends import BACKENDS

    return tuple(BACKENDS)


class _Environment:
    """Typed reads of environment variables; errors name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str, *, max_length: int | None = None) -> str:
        value = self.optional(name)
        if value is None:
            return default
        if max_length is not None and len(value) > max_length:
            raise SettingsError(f"{name}: at most {max_length} characters, got {len(value)}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.optional(name)
        if value is None:
            return default
        if value.lower() not in choices:
            raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value.lower()

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name}: expected an integer, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise SettingsError(f"{name}: expected {minimum} to {maximum}, got {number}")
        return number

    def seconds(self, name: str, default: float) -> float:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name}: expected a number of seconds, got {value!r}") from None
        if not 0 < number < float("inf"):
            raise SettingsError(f"{name}: expected a positive number of seconds, got {value!r}")
        return number
