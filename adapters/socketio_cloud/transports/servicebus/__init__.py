"""The Azure Service Bus broker, wire-compatible with Node's
``@socket.io/azure-service-bus-adapter``.

Split by job: :mod:`.framing` (bodies and application properties, routing on receipt),
:mod:`.resources` (the topic, the node's subscription and its rule, through the administration
client), :mod:`.transport` (:class:`ServiceBusTransport`: receiving, sending, recovery),
:mod:`.blob` (:class:`BlobPayloadStore` for large messages) and :mod:`.manager`
(:class:`ServiceBusManager`, :class:`ServiceBusEmitter`). Facts shared with the cleanup, the
app and the deploy programs are in :mod:`socketio_cloud.brokers.servicebus`.
"""

from __future__ import annotations

from ...brokers.servicebus import DEFAULT_SUBSCRIPTION_PREFIX, DEFAULT_TOPIC_NAME
from .blob import BlobPayloadStore
from .manager import ServiceBusEmitter, ServiceBusManager
from .transport import ServiceBusTransport

__all__ = [
    "DEFAULT_SUBSCRIPTION_PREFIX",
    "DEFAULT_TOPIC_NAME",
    "BlobPayloadStore",
    "ServiceBusEmitter",
    "ServiceBusManager",
    "ServiceBusTransport",
]
