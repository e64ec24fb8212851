"""The public faces of the Service Bus broker: :class:`ServiceBusManager` for servers and
:class:`ServiceBusEmitter` for processes that only send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...brokers.servicebus import (
    DEFAULT_AUTO_DELETE_ON_IDLE,
    DEFAULT_MESSAGE_TIME_TO_LIVE,
    DEFAULT_SUBSCRIPTION_PREFIX,
    DEFAULT_TOPIC_NAME,
    STANDARD_MAX_MESSAGE_SIZE,
)
from ...cluster import ClusterManager
from ...emitter import Emitter
from ...offload import PayloadStore
from ...protocol import Limits
from .transport import ServiceBusTransport

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from typing_extensions import Unpack

    from ...cluster import ClusterOptions

__all__ = ["ServiceBusEmitter", "ServiceBusManager"]


class ServiceBusManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` on an Azure Service Bus topic, able to
    share a cluster with Node servers using ``@socket.io/azure-service-bus-adapter``.

    Each node receives from its own subscription ``<subscription_prefix>-<uid>`` (created on
    :meth:`ready`, deleted on :meth:`close`, deleted by Service Bus after
    ``auto_delete_on_idle`` when the node dies); membership is kept by heartbeats.

    >>> mgr = ServiceBusManager(connection_string=os.environ["SERVICEBUS_CONNECTION_STRING"])
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    Options: those of :class:`ServiceBusTransport`, and the cluster options of
    :class:`~socketio_cloud.cluster.ClusterManager` (``heartbeat_interval``, ...).
    """

    transport: ServiceBusTransport

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        fully_qualified_namespace: str | None = None,
        credential: AsyncTokenCredential | None = None,
        topic_name: str = DEFAULT_TOPIC_NAME,
        subscription_prefix: str = DEFAULT_SUBSCRIPTION_PREFIX,
        create_topic: bool = True,
        message_time_to_live: float = DEFAULT_MESSAGE_TIME_TO_LIVE,
        auto_delete_on_idle: float = DEFAULT_AUTO_DELETE_ON_IDLE,
        receive_batch_size: int = 100,
        max_wait_time: float = 5.0,
        max_message_size: int = STANDARD_MAX_MESSAGE_SIZE,
        payload_store: PayloadStore | None = None,
        large_payload_container: str | None = None,
        large_payload_account_url: str | None = None,
        admin_connection_string: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        admin_options: Mapping[str, Any] | None = None,
        **cluster: Unpack[ClusterOptions],
    ) -> None:
        transport = ServiceBusTransport(
            connection_string=connection_string,
            fully_qualified_namespace=fully_qualified_namespace,
            credential=credential,
            topic_name=topic_name,
            subscription_prefix=subscription_prefix,
            create_topic=create_topic,
            message_time_to_live=message_time_to_live,
            auto_delete_on_idle=auto_delete_on_idle,
            receive_batch_size=receive_batch_size,
            max_wait_time=max_wait_time,
            max_message_size=max_message_size,
            payload_store=payload_store,
            large_payload_container=large_payload_container,
            large_payload_account_url=large_payload_account_url,
            admin_connection_string=admin_connection_string,
            client_options=client_options,
            admin_options=admin_options,
            limits=cluster.get("limits"),
        )
        super().__init__(transport, **cluster)


class ServiceBusEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` that sends to the cluster's topic (Send
    claim or the "Azure Service Bus Data Sender" role only); Node and Python servers receive
    its messages alike.

    >>> emitter = ServiceBusEmitter(connection_string=conn_str, topic_name="socket.io")
    >>> await emitter.to("room1").emit("hello", "world")
    """

    transport: ServiceBusTransport

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        fully_qualified_namespace: str | None = None,
        credential: AsyncTokenCredential | None = None,
        topic_name: str = DEFAULT_TOPIC_NAME,
        max_message_size: int = STANDARD_MAX_MESSAGE_SIZE,
        payload_store: PayloadStore | None = None,
        large_payload_container: str | None = None,
        large_payload_account_url: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        namespace: str = "/",
    ) -> None:
        transport = ServiceBusTransport(
            connection_string=connection_string,
            fully_qualified_namespace=fully_qualified_namespace,
            credential=credential,
            topic_name=topic_name,
            max_message_size=max_message_size,
            payload_store=payload_store,
            large_payload_container=large_payload_container,
            large_payload_account_url=large_payload_account_url,
            client_options=client_options,
            limits=limits,
        )
        super().__init__(transport, namespace=namespace)
