"""socketio-cloud: python-socketio cluster managers on managed cloud brokers.

The public names are imported lazily, so that light users of the package (the cleanup
function, which ships with boto3 only) do not import python-socketio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ClusterManager": "socketio_cloud.cluster",
    "RemoteSocket": "socketio_cloud.cluster",
    "BroadcastOperator": "socketio_cloud.operators",
    "Emitter": "socketio_cloud.emitter",
    "MemoryBus": "socketio_cloud.transports.memory",
    "MemoryManager": "socketio_cloud.transports.memory",
    "MemoryEmitter": "socketio_cloud.transports.memory",
    "AwsSqsManager": "socketio_cloud.transports.aws",
    "AwsSqsEmitter": "socketio_cloud.transports.aws",
    "RedisStreamsManager": "socketio_cloud.transports.redis_streams",
    "RedisStreamsEmitter": "socketio_cloud.transports.redis_streams",
    "AmqpManager": "socketio_cloud.transports.amqp",
    "AmqpEmitter": "socketio_cloud.transports.amqp",
    "PostgresManager": "socketio_cloud.transports.postgres",
    "PostgresEmitter": "socketio_cloud.transports.postgres",
    "PubSubManager": "socketio_cloud.transports.pubsub",
    "PubSubEmitter": "socketio_cloud.transports.pubsub",
    "ServiceBusManager": "socketio_cloud.transports.servicebus",
    "ServiceBusEmitter": "socketio_cloud.transports.servicebus",
    "Transport": "socketio_cloud.transport",
    "from_env": "socketio_cloud.config",
    "ClusterConfig": "socketio_cloud.config",
    "ConfigError": "socketio_cloud.config",
    "SocketIOCloudError": "socketio_cloud.exceptions",
    "DecodeError": "socketio_cloud.exceptions",
    "PayloadTooLarge": "socketio_cloud.exceptions",
    "TransportError": "socketio_cloud.exceptions",
    "NotReadyError": "socketio_cloud.exceptions",
    "ClusterTimeoutError": "socketio_cloud.exceptions",
    "FetchSocketsTimeout": "socketio_cloud.exceptions",
    "ServerSideEmitTimeout": "socketio_cloud.exceptions",
    "AckTimeoutError": "socketio_cloud.exceptions",
    "UnsupportedVersionError": "socketio_cloud.exceptions",
    "UnsupportedFeatureError": "socketio_cloud.exceptions",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .cluster import ClusterManager as ClusterManager
    from .cluster import RemoteSocket as RemoteSocket
    from .config import ClusterConfig as ClusterConfig
    from .config import ConfigError as ConfigError
    from .config import from_env as from_env
    from .emitter import Emitter as Emitter
    from .exceptions import AckTimeoutError as AckTimeoutError
    from .exceptions import ClusterTimeoutError as ClusterTimeoutError
    from .exceptions import DecodeError as DecodeError
    from .exceptions import FetchSocketsTimeout as FetchSocketsTimeout
    from .exceptions import NotReadyError as NotReadyError
    from .exceptions import PayloadTooLarge as PayloadTooLarge
    from .exceptions import ServerSideEmitTimeout as ServerSideEmitTimeout
    from .exceptions import SocketIOCloudError as SocketIOCloudError
    from .exceptions import TransportError as TransportError
    from .exceptions import UnsupportedFeatureError as UnsupportedFeatureError
    from .exceptions import UnsupportedVersionError as UnsupportedVersionError
    from .operators import BroadcastOperator as BroadcastOperator
    from .transport import Transport as Transport
    from .transports.amqp import AmqpEmitter as AmqpEmitter
    from .transports.amqp import AmqpManager as AmqpManager
    from .transports.aws import AwsSqsEmitter as AwsSqsEmitter
    from .transports.aws import AwsSqsManager as AwsSqsManager
    from .transports.memory import MemoryBus as MemoryBus
    from .transports.memory import MemoryEmitter as MemoryEmitter
    from .transports.memory import MemoryManager as MemoryManager
    from .transports.postgres import PostgresEmitter as PostgresEmitter
    from .transports.postgres import PostgresManager as PostgresManager
    from .transports.pubsub import PubSubEmitter as PubSubEmitter
    from .transports.pubsub import PubSubManager as PubSubManager
    from .transports.redis_streams import RedisStreamsEmitter as RedisStreamsEmitter
    from .transports.redis_streams import RedisStreamsManager as RedisStreamsManager
    from .transports.servicebus import ServiceBusEmitter as ServiceBusEmitter
    from .transports.servicebus import ServiceBusManager as ServiceBusManager


#: The optional dependency group ("extra") each broker module needs.
_EXTRAS = {
    "socketio_cloud.transports.aws": "aws",
    "socketio_cloud.transports.redis_streams": "redis",
    "socketio_cloud.transports.amqp": "amqp",
    "socketio_cloud.transports.pubsub": "gcp",
    "socketio_cloud.transports.postgres": "postgres",
    "socketio_cloud.transports.servicebus": "azure",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'socketio_cloud' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get(module)
        if extra is None or (exc.name or "").startswith("socketio_cloud"):
            raise
        raise ModuleNotFoundError(
            f"{name} needs the {extra!r} extra ({exc.name} is not installed): "
            f"pip install 'socketio-cloud[{extra}]'",
            name=exc.name,
        ) from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
