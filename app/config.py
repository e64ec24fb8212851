"""The service's settings: every environment variable it reads, parsed and checked here.

============================  =============================================  =====================
Variable                      Meaning                                        Default
============================  =============================================  =====================
``SIO_BACKEND``               cluster broker: ``memory`` or ``aws``          ``memory``
``PORT``                      TCP port to listen on                          ``8000``
``SIO_HOST``                  address to listen on                           ``0.0.0.0``
``SIO_NODE_NAME``             name shown to users and other servers          the host name
``SIO_TOPIC_ARN``             existing SNS topic of the cluster (aws)        none
``SIO_TOPIC_NAME``            topic to create or find without an ARN (aws)   ``socket-io``
``SIO_QUEUE_PREFIX``          per-node SQS queue name prefix (aws)           ``socket-io``
``SIO_HEARTBEAT_INTERVAL``    seconds between heartbeats                     ``5``
``SIO_HEARTBEAT_TIMEOUT``     seconds before a silent node is dropped        ``10``
``SIO_LARGE_PAYLOAD_BUCKET``  S3 bucket for messages over 256 KiB (aws)      none
``SIO_SHUTDOWN_TIMEOUT``      seconds open connections get at shutdown       ``5``
``SIO_LOG_LEVEL``             ``debug``, ``info``, ``warning`` or ``error``  ``info``
``AWS_REGION``                AWS region (aws), else ``AWS_DEFAULT_REGION``  boto3's configuration
============================  =============================================  =====================

The AWS endpoint and credentials come from boto3's own variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...) or the task role. boto3 reads only ``AWS_DEFAULT_REGION``, so
``AWS_REGION`` (what ECS and Lambda set) is passed on here. An empty variable counts as unset.
"""

from __future__ import annotations

import os
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
    shutdown_timeout: float = 5.0
    log_level: str = "info"
    aws_region: str | None = None
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
            shutdown_timeout=env.seconds("SIO_SHUTDOWN_TIMEOUT", defaults.shutdown_timeout),
            log_level=env.choice("SIO_LOG_LEVEL", defaults.log_level, LOG_LEVELS),
            aws_region=env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION"),
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
        if self.topic_arn is not None and not (
            self.topic_arn.startswith("arn:") and ":sns:" in self.topic_arn
        ):
            raise SettingsError(f"SIO_TOPIC_ARN: not an SNS topic ARN: {self.topic_arn!r}")

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
