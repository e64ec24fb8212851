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


def postgres_manager(settings: Settings) -> ClusterManager:
    """PostgreSQL LISTEN/NOTIFY, compatible with Node's ``@socket.io/postgres-adapter``."""
    from socketio_cloud.transports.postgres import PostgresManager

    return PostgresManager(
        dsn=settings.postgres_dsn,
        channel_prefix=settings.postgres_channel_prefix,
        table_name=settings.postgres_table,
        **settings.cluster_options(),
    )


BACKENDS: dict[str, ManagerFactory] = {
    "memory": memory_manager,
    "aws": aws_manager,
    "postgres": postgres_manager,
}


def build_manager(settings: Settings) -> ClusterManager:
    """The cluster manager ``settings.backend`` names (not started yet)."""
    return BACKENDS[settings.backend](settings)
