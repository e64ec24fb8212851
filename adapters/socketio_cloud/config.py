"""A cluster manager configured by environment variables alone: :func:`from_env`.

``SIO_BACKEND`` picks the broker; each broker reads its own variables. An empty variable
counts as unset. A bad value raises :class:`ConfigError` naming the variable.

Variables (default in brackets):

- ``SIO_BACKEND``: memory, aws, redis, postgres, amqp, pubsub or servicebus [memory]
- ``SIO_HEARTBEAT_INTERVAL`` / ``SIO_HEARTBEAT_TIMEOUT``: seconds between heartbeats /
  before a silent node is dropped [5 / 10]
- aws: ``SIO_TOPIC_ARN`` (existing topic) or ``SIO_TOPIC_NAME`` (created or found
  [socket-io]); ``SIO_QUEUE_PREFIX`` [socket-io]; ``SIO_LARGE_PAYLOAD_BUCKET`` (S3, for
  messages over 256 KiB) [none]; ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, when there is
  no topic ARN
- redis: ``SIO_REDIS_URL`` [redis://localhost:6379/0], ``SIO_REDIS_STREAM`` [socket.io]
- postgres: ``SIO_POSTGRES_DSN`` [postgresql://localhost:5432/postgres; libpq's ``PG*``
  variables fill what it leaves out], ``SIO_POSTGRES_CHANNEL_PREFIX`` [socket.io],
  ``SIO_POSTGRES_TABLE`` [socket_io_attachments]
- amqp: ``SIO_AMQP_URL`` [amqp://guest:guest@localhost:5672/], ``SIO_AMQP_EXCHANGE``
  [socket.io], ``SIO_QUEUE_PREFIX`` [socket-io]
- pubsub: ``SIO_GCP_PROJECT``, else ``GOOGLE_CLOUD_PROJECT`` [required];
  ``SIO_PUBSUB_TOPIC`` [socket-io]; ``SIO_SUBSCRIPTION_PREFIX`` [socket.io];
  ``SIO_LARGE_PAYLOAD_BUCKET`` (Cloud Storage, over 10 MB) [none]; ``PUBSUB_EMULATOR_HOST``
  [none]
- servicebus: ``SIO_SERVICEBUS_CONNECTION_STRING``, or ``SIO_SERVICEBUS_NAMESPACE``
  (``<ns>.servicebus.windows.net``, reached with the managed identity through
  ``DefaultAzureCredential``) [one of them required]; ``SIO_SERVICEBUS_TOPIC`` [socket.io];
  ``SIO_SUBSCRIPTION_PREFIX`` [socket.io]; ``SIO_LARGE_PAYLOAD_CONTAINER`` with
  ``SIO_LARGE_PAYLOAD_ACCOUNT_URL`` (Blob Storage, for messages over 256 KB) [none];
  ``SIO_SERVICEBUS_CA_FILE`` (CA bundle the administration client trusts, for a local test
  double) [none]

With a topic ARN the AWS region is the ARN's (``AWS_REGION`` is then not used); endpoint
and credentials come from boto3's own variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...) or the task role. Google credentials are
the application default ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .brokers.aws import (
    DEFAULT_QUEUE_PREFIX,
    DEFAULT_TOPIC_NAME,
    QUEUE_PREFIX_PATTERN,
    parse_topic_arn,
)
from .exceptions import SocketIOCloudError

if TYPE_CHECKING:
    from typing_extensions import Self

    from .cluster import ClusterManager

__all__ = ["BACKENDS", "ClusterConfig", "ConfigError", "Environment", "from_env"]

# Pub/Sub resource ids: the prefix starts the node's subscription id <prefix>-<16 hex>.
_SUBSCRIPTION_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{0,200}$")


class ConfigError(SocketIOCloudError, ValueError):
    """An environment variable holds a value that cannot be used; ``variable`` names it."""

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class Environment:
    """Typed reads of environment variables; errors name the variable, empty means unset."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def optional(self, name: str) -> str | None:
        """The stripped value of ``name``, None when unset or empty."""
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str, *, max_length: int | None = None) -> str:
        """Text, at most ``max_length`` characters."""
        value = self.optional(name)
        if value is None:
            return default
        if max_length is not None and len(value) > max_length:
            raise ConfigError(
                f"{name}: at most {max_length} characters, got {len(value)}", variable=name
            )
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices`` (case-insensitive), lower case."""
        value = self.optional(name)
        if value is None:
            return default
        if value.lower() not in choices:
            raise ConfigError(
                f"{name}: expected one of {', '.join(choices)}, got {value!r}", variable=name
            )
        return value.lower()

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        """An integer from ``minimum`` to ``maximum``."""
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(
                f"{name}: expected an integer, got {value!r}", variable=name
            ) from None
        if not minimum <= number <= maximum:
            raise ConfigError(
                f"{name}: expected {minimum} to {maximum}, got {number}", variable=name
            )
        return number

    def seconds(self, name: str, default: float) -> float:
        """A positive, finite number of seconds."""
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(
                f"{name}: expected a number of seconds, got {value!r}", variable=name
            ) from None
        if not 0 < number < float("inf"):
            raise ConfigError(
                f"{name}: expected a positive number of seconds, got {value!r}", variable=name
            )
        return number


@dataclass(frozen=True)
class ClusterConfig:
    """The broker and cluster part of a node's configuration, as environment variables
    give it (:meth:`from_env`); :meth:`manager` builds the manager it describes."""

    backend: str = "memory"
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 10.0
    topic_arn: str | None = None
    topic_name: str = DEFAULT_TOPIC_NAME
    queue_prefix: str = DEFAULT_QUEUE_PREFIX
    large_payload_bucket: str | None = None
    aws_region: str | None = None
    redis_url: str = "redis://localhost:6379/0"
    redis_stream: str = "socket.io"
    amqp_url: str = "amqp://guest:guest@localhost:5672/"
    amqp_exchange: str = "socket.io"
    postgres_dsn: str | None = None
    postgres_channel_prefix: str = "socket.io"
    postgres_table: str = "socket_io_attachments"
    gcp_project: str | None = None
    pubsub_topic: str = "socket-io"
    subscription_prefix: str = "socket.io"
    pubsub_emulator_host: str | None = None
    servicebus_connection_string: str | None = None
    servicebus_namespace: str | None = None
    servicebus_topic: str = "socket.io"
    large_payload_container: str | None = None
    large_payload_account_url: str | None = None
    servicebus_ca_file: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The configuration in ``environ`` (default: ``os.environ``).

        Raises :class:`ConfigError` naming the variable when a value is invalid.
        """
        config = cls(**cls.read(Environment(environ)))
        config.check()
        return config

    @classmethod
    def read(cls, env: Environment) -> dict[str, Any]:
        """The fields given by the environment (subclasses add theirs)."""
        d = ClusterConfig()
        return {
            "backend": env.choice("SIO_BACKEND", d.backend, tuple(BACKENDS)),
            "heartbeat_interval": env.seconds("SIO_HEARTBEAT_INTERVAL", d.heartbeat_interval),
            "heartbeat_timeout": env.seconds("SIO_HEARTBEAT_TIMEOUT", d.heartbeat_timeout),
            "topic_arn": env.optional("SIO_TOPIC_ARN"),
            "topic_name": env.text("SIO_TOPIC_NAME", d.topic_name),
            "queue_prefix": env.text("SIO_QUEUE_PREFIX", d.queue_prefix),
            "large_payload_bucket": env.optional("SIO_LARGE_PAYLOAD_BUCKET"),
            "aws_region": env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION"),
            "redis_url": env.text("SIO_REDIS_URL", d.redis_url),
            "redis_stream": env.text("SIO_REDIS_STREAM", d.redis_stream),
            "amqp_url": env.text("SIO_AMQP_URL", d.amqp_url),
            "amqp_exchange": env.text("SIO_AMQP_EXCHANGE", d.amqp_exchange),
            "postgres_dsn": env.optional("SIO_POSTGRES_DSN"),
            "postgres_channel_prefix": env.text(
                "SIO_POSTGRES_CHANNEL_PREFIX", d.postgres_channel_prefix
            ),
            "postgres_table": env.text("SIO_POSTGRES_TABLE", d.postgres_table),
            "gcp_project": env.optional("SIO_GCP_PROJECT") or env.optional("GOOGLE_CLOUD_PROJECT"),
            "pubsub_topic": env.text("SIO_PUBSUB_TOPIC", d.pubsub_topic),
            "subscription_prefix": env.text("SIO_SUBSCRIPTION_PREFIX", d.subscription_prefix),
            "pubsub_emulator_host": env.optional("PUBSUB_EMULATOR_HOST"),
            "servicebus_connection_string": env.optional("SIO_SERVICEBUS_CONNECTION_STRING"),
            "servicebus_namespace": env.optional("SIO_SERVICEBUS_NAMESPACE"),
            "servicebus_topic": env.text("SIO_SERVICEBUS_TOPIC", d.servicebus_topic),
            "large_payload_container": env.optional("SIO_LARGE_PAYLOAD_CONTAINER"),
            "large_payload_account_url": env.optional("SIO_LARGE_PAYLOAD_ACCOUNT_URL"),
            "servicebus_ca_file": env.optional("SIO_SERVICEBUS_CA_FILE"),
        }

    def check(self) -> None:
        """Raise :class:`ConfigError` when values are malformed or contradict each other."""
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ConfigError(
                f"SIO_HEARTBEAT_TIMEOUT ({self.heartbeat_timeout:g}) must exceed "
                f"SIO_HEARTBEAT_INTERVAL ({self.heartbeat_interval:g})",
                variable="SIO_HEARTBEAT_TIMEOUT",
            )
        if not QUEUE_PREFIX_PATTERN.match(self.queue_prefix):
            raise ConfigError(
                f"SIO_QUEUE_PREFIX: 1 to 63 letters, digits, '-' or '_', got {self.queue_prefix!r}",
                variable="SIO_QUEUE_PREFIX",
            )
        if self.topic_arn is not None and parse_topic_arn(self.topic_arn) is None:
            raise ConfigError(
                f"SIO_TOPIC_ARN: not an SNS topic ARN: {self.topic_arn!r} "
                "(expected arn:aws:sns:<region>:<12-digit account>:<topic name>)",
                variable="SIO_TOPIC_ARN",
            )
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                "SIO_REDIS_URL: expected a redis://, rediss:// or unix:// URL",
                variable="SIO_REDIS_URL",
            )
        if not self.amqp_url.startswith(("amqp://", "amqps://")):
            raise ConfigError(
                "SIO_AMQP_URL: expected an amqp:// or amqps:// URL", variable="SIO_AMQP_URL"
            )
        if not _SUBSCRIPTION_PREFIX.match(self.subscription_prefix):
            raise ConfigError(
                "SIO_SUBSCRIPTION_PREFIX: a letter, then letters, digits or . _ ~ + % -, "
                f"got {self.subscription_prefix!r}",
                variable="SIO_SUBSCRIPTION_PREFIX",
            )
        self._check_postgres()
        if self.backend == "servicebus":
            self._check_servicebus()

    def _check_servicebus(self) -> None:
        from .brokers import servicebus

        try:
            servicebus.check_subscription_prefix(self.subscription_prefix)
        except ValueError as exc:
            raise ConfigError(
                f"SIO_SUBSCRIPTION_PREFIX: {exc}", variable="SIO_SUBSCRIPTION_PREFIX"
            ) from None
        if (self.large_payload_container is None) != (self.large_payload_account_url is None):
            raise ConfigError(
                "SIO_LARGE_PAYLOAD_CONTAINER and SIO_LARGE_PAYLOAD_ACCOUNT_URL go together",
                variable="SIO_LARGE_PAYLOAD_CONTAINER",
            )

    def _check_postgres(self) -> None:
        from .brokers import postgres

        try:
            postgres.check_channel(postgres.channel_name(self.postgres_channel_prefix, "/"))
        except ValueError as exc:
            raise ConfigError(
                f"SIO_POSTGRES_CHANNEL_PREFIX: {exc}", variable="SIO_POSTGRES_CHANNEL_PREFIX"
            ) from None
        try:
            postgres.check_table_name(self.postgres_table)
        except ValueError as exc:
            raise ConfigError(f"SIO_POSTGRES_TABLE: {exc}", variable="SIO_POSTGRES_TABLE") from None

    def cluster_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`socketio_cloud.cluster.ClusterManager`."""
        return {
            "heartbeat_interval": self.heartbeat_interval,
            "heartbeat_timeout": self.heartbeat_timeout,
        }

    def manager(self, **overrides: Any) -> ClusterManager:
        """The manager of :attr:`backend` (not started yet). ``overrides`` are keyword
        arguments of that manager's class, and win over the configuration."""
        return BACKENDS[self.backend](self, overrides)


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> ClusterManager:
    """The cluster manager the environment describes (not started: call ``await ready()``).

    Reads ``SIO_BACKEND`` and the variables of that broker (see :mod:`socketio_cloud.config`)
    from ``environ`` (default: ``os.environ``). ``overrides`` are keyword arguments of the
    broker's manager class that win over the environment, e.g.
    ``from_env(ready_timeout=10)`` for AWS. Raises :class:`ConfigError` naming the variable
    when one holds a bad value, ``ModuleNotFoundError`` naming the extra when the broker's
    client library is not installed.

    >>> mgr = socketio_cloud.from_env()          # SIO_BACKEND=aws SIO_TOPIC_ARN=arn:...
    >>> sio = socketio.AsyncServer(client_manager=mgr, async_mode="asgi")
    """
    return ClusterConfig.from_env(environ).manager(**overrides)


# ---------------------------------------------------------------------------- backends
#
# One function per SIO_BACKEND value. Broker libraries are imported inside it, through the
# package's lazy names, so a node needs only its broker's extra and a missing one is named.


def _memory(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import MemoryManager

    return MemoryManager(**{**config.cluster_options(), **overrides})


def _aws(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import AwsSqsManager

    options: dict[str, Any] = {
        "topic_arn": config.topic_arn,
        "topic_name": config.topic_name,
        "queue_prefix": config.queue_prefix,
        "large_payload_bucket": config.large_payload_bucket,
        # With a topic ARN the transport takes the ARN's region; AWS_REGION only fills in
        # without one (passing it as well would turn a stale variable into a mismatch).
        "region_name": None if config.topic_arn else config.aws_region,
        **config.cluster_options(),
    }
    return AwsSqsManager(**{**options, **overrides})


def _redis(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import RedisStreamsManager

    options: dict[str, Any] = {
        "url": config.redis_url,
        "stream_name": config.redis_stream,
        **config.cluster_options(),
    }
    return RedisStreamsManager(**{**options, **overrides})


def _postgres(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import PostgresManager

    options: dict[str, Any] = {
        "dsn": config.postgres_dsn,
        "channel_prefix": config.postgres_channel_prefix,
        "table_name": config.postgres_table,
        **config.cluster_options(),
    }
    return PostgresManager(**{**options, **overrides})


def _amqp(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import AmqpManager

    options: dict[str, Any] = {
        "url": config.amqp_url,
        "exchange": config.amqp_exchange,
        "queue_prefix": config.queue_prefix,
        **config.cluster_options(),
    }
    return AmqpManager(**{**options, **overrides})


def _pubsub(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import PubSubManager

    project = overrides.pop("project", config.gcp_project)
    if not project:
        raise ConfigError(
            "SIO_GCP_PROJECT (or GOOGLE_CLOUD_PROJECT) is needed for pubsub",
            variable="SIO_GCP_PROJECT",
        )
    options: dict[str, Any] = {
        "project": project,
        "topic": config.pubsub_topic,
        "subscription_prefix": config.subscription_prefix,
        "large_payload_bucket": config.large_payload_bucket,
        "emulator_host": config.pubsub_emulator_host,
        **config.cluster_options(),
    }
    return PubSubManager(**{**options, **overrides})


def _servicebus(config: ClusterConfig, overrides: dict[str, Any]) -> ClusterManager:
    from . import ServiceBusManager

    given = {"connection_string", "fully_qualified_namespace"} & set(overrides)
    if not given and (config.servicebus_connection_string is None) == (
        config.servicebus_namespace is None
    ):
        raise ConfigError(
            "servicebus: set exactly one of SIO_SERVICEBUS_CONNECTION_STRING and "
            "SIO_SERVICEBUS_NAMESPACE",
            variable="SIO_SERVICEBUS_CONNECTION_STRING",
        )
    admin_options = {}
    if config.servicebus_ca_file is not None:
        admin_options["connection_verify"] = config.servicebus_ca_file
    options: dict[str, Any] = {
        "connection_string": config.servicebus_connection_string,
        "fully_qualified_namespace": config.servicebus_namespace,
        "topic_name": config.servicebus_topic,
        "subscription_prefix": config.subscription_prefix,
        "large_payload_container": config.large_payload_container,
        "large_payload_account_url": config.large_payload_account_url,
        "admin_options": admin_options,
        **config.cluster_options(),
    }
    return ServiceBusManager(**{**options, **overrides})


#: The manager each ``SIO_BACKEND`` value builds.
BACKENDS: dict[str, Callable[[ClusterConfig, dict[str, Any]], ClusterManager]] = {
    "memory": _memory,
    "aws": _aws,
    "redis": _redis,
    "postgres": _postgres,
    "amqp": _amqp,
    "pubsub": _pubsub,
    "servicebus": _servicebus,
}
