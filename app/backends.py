"""Which cluster manager each ``SIO_BACKEND`` value builds.

A broker plugs in with one function ``(settings) -> ClusterManager`` and one entry in
:data:`BACKENDS`; broker libraries are imported inside the function, so a node only needs
the packages of the backend it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from socketio_cloud.cluster import ClusterManager

    from .config import Settings

__all__ = ["BACKENDS", "build_manager"]

ManagerFactory = Callable[["Settings"], "ClusterManager"]


def memory_manager(settings: Settings) -> ClusterManager:
    """A cluster of one: the in-process bus (development, tests)."""
    from socketio_cloud.transports.memory import MemoryManager

    return MemoryManager(**settings.cluster_options())


def aws_manager(settings: Settings) -> ClusterManager:
    """SNS + SQS; endpoint and credentials come from boto3's environment."""
    from socketio_cloud.transports.aws import AwsSqsManager

    return AwsSqsManager(
        topic_arn=settings.topic_arn,
        topic_name=settings.topic_name,
        queue_prefix=settings.queue_prefix,
        large_payload_bucket=settings.large_payload_bucket,
        region_name=settings.aws_region,
        **settings.cluster_options(),
    )


def amqp_manager(settings: Settings) -> ClusterManager:
    """RabbitMQ (AMQP 0-9-1) with room-routed delivery."""
    from socketio_cloud.transports.amqp import AmqpManager

    return AmqpManager(
        url=settings.amqp_url,
        exchange=settings.amqp_exchange,
        queue_prefix=settings.queue_prefix,
        **settings.cluster_options(),
    )


def postgres_manager(settings: Settings) -> ClusterManager:
    """PostgreSQL LISTEN/NOTIFY, compatible with Node's ``@socket.io/postgres-adapter``."""
    from socketio_cloud.transports.postgres import PostgresManager

    return PostgresManager(
        dsn=settings.postgres_dsn,
        channel_prefix=settings.postgres_channel_prefix,
        table_name=settings.postgres_table,
        **settings.cluster_options(),
    )


def pubsub_manager(settings: Settings) -> ClusterManager:
    """Google Cloud Pub/Sub; credentials are Google's application default ones, the
    emulator is used when ``PUBSUB_EMULATOR_HOST`` is set."""
    from socketio_cloud.transports.pubsub import PubSubManager

    from .config import SettingsError

    if not settings.gcp_project:
        raise SettingsError("SIO_GCP_PROJECT (or GOOGLE_CLOUD_PROJECT) is needed for pubsub")
    return PubSubManager(
        project=settings.gcp_project,
        topic=settings.pubsub_topic,
        subscription_prefix=settings.subscription_prefix,
        large_payload_bucket=settings.large_payload_bucket,
        emulator_host=settings.pubsub_emulator_host,
        **settings.cluster_options(),
    )


BACKENDS: dict[str, ManagerFactory] = {
    "memory": memory_manager,
    "aws": aws_manager,
    "postgres": postgres_manager,
    "amqp": amqp_manager,
    "pubsub": pubsub_manager,
}


def build_manager(settings: Settings) -> ClusterManager:
    """The cluster manager ``settings.backend`` names (not started yet)."""
    return BACKENDS[settings.backend](settings)
