"""The public faces of the AWS broker: the cluster manager and the emitter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import boto3

from ...brokers.aws import (
    DEFAULT_DELETE_DELAY,
    DEFAULT_IDLE_COALESCE,
    DEFAULT_LIVENESS_INTERVAL,
    DEFAULT_QUEUE_PREFIX,
    DEFAULT_TOPIC_NAME,
    DEFAULT_WAIT_TIME,
)
from ...cluster import ClusterManager
from ...emitter import Emitter
from ...protocol import Limits
from .transport import SNS_BATCH_ENTRIES, AwsSqsTransport

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from typing_extensions import Unpack

    from ...cluster import ClusterOptions

__all__ = ["AwsSqsEmitter", "AwsSqsManager"]


class AwsSqsManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` over SNS and SQS, able to share a
    cluster with Node servers using ``@socket.io/aws-sqs-adapter`` 0.1.

    >>> mgr = AwsSqsManager(topic_arn="arn:aws:sns:eu-west-1:123456789012:chat")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    The broker options are those of :class:`AwsSqsTransport` (each documented there, with
    its default and Node equivalent); the others (``heartbeat_interval``, ``limits``, ...)
    are the cluster options of :class:`~socketio_cloud.cluster.ClusterManager`.
    """

    transport: AwsSqsTransport

    def __init__(
        self,
        *,
        topic_name: str = DEFAULT_TOPIC_NAME,
        topic_arn: str | None = None,
        topic_tags: Mapping[str, str] | None = None,
        queue_prefix: str = DEFAULT_QUEUE_PREFIX,
        queue_tags: Mapping[str, str] | None = None,
        message_retention: int = 300,
        wait_time: int = DEFAULT_WAIT_TIME,
        pollers: int = 1,
        liveness_interval: float = DEFAULT_LIVENESS_INTERVAL,
        delete_delay: float = DEFAULT_DELETE_DELAY,
        idle_coalesce: float = DEFAULT_IDLE_COALESCE,
        idle_after: float = 10.0,
        batch_size: int = SNS_BATCH_ENTRIES,
        publish_concurrency: int = 4,
        large_payload_bucket: str | None = None,
        large_payload_prefix: str = "socketio-cloud/",
        manage_payload_lifecycle: bool = False,
        ready_timeout: float = 30.0,
        session: boto3.session.Session | None = None,
        sqs_client: SQSClient | None = None,
        sns_client: SNSClient | None = None,
        s3_client: S3Client | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        **cluster: Unpack[ClusterOptions],
    ) -> None:
        transport = AwsSqsTransport(
            topic_name=topic_name,
            topic_arn=topic_arn,
            topic_tags=topic_tags,
            queue_prefix=queue_prefix,
            queue_tags=queue_tags,
            message_retention=message_retention,
            wait_time=wait_time,
            pollers=pollers,
            liveness_interval=liveness_interval,
            delete_delay=delete_delay,
            idle_coalesce=idle_coalesce,
            idle_after=idle_after,
            batch_size=batch_size,
            publish_concurrency=publish_concurrency,
            large_payload_bucket=large_payload_bucket,
            large_payload_prefix=large_payload_prefix,
            manage_payload_lifecycle=manage_payload_lifecycle,
            ready_timeout=ready_timeout,
            session=session,
            sqs_client=sqs_client,
            sns_client=sns_client,
            s3_client=s3_client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            limits=cluster.get("limits"),
        )
        super().__init__(transport, **cluster)


class AwsSqsEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` that publishes to a cluster's SNS topic.

    Needs only ``sns:Publish`` (and ``s3:PutObject`` with a ``large_payload_bucket``) when
    given ``topic_arn``; with ``topic_name`` it creates or finds the topic. The options are
    those of :class:`AwsSqsTransport` about publishing, with the same defaults.

    >>> emitter = AwsSqsEmitter(topic_arn="arn:aws:sns:eu-west-1:123456789012:chat")
    >>> await emitter.to("room1").emit("hello", "world")
    """

    transport: AwsSqsTransport

    def __init__(
        self,
        *,
        topic_name: str = DEFAULT_TOPIC_NAME,
        topic_arn: str | None = None,
        topic_tags: Mapping[str, str] | None = None,
        large_payload_bucket: str | None = None,
        large_payload_prefix: str = "socketio-cloud/",
        manage_payload_lifecycle: bool = False,
        session: boto3.session.Session | None = None,
        sns_client: SNSClient | None = None,
        s3_client: S3Client | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        limits: Limits | None = None,
        namespace: str = "/",
    ) -> None:
        transport = AwsSqsTransport(
            topic_name=topic_name,
            topic_arn=topic_arn,
            topic_tags=topic_tags,
            large_payload_bucket=large_payload_bucket,
            large_payload_prefix=large_payload_prefix,
            manage_payload_lifecycle=manage_payload_lifecycle,
            session=session,
            sns_client=sns_client,
            s3_client=s3_client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            limits=limits,
        )
        super().__init__(transport, namespace=namespace)
