"""AWS CDK constructs and stack deploying a socketio-cloud cluster."""

from .cleanup import CleanupFunction
from .service import SocketIoService
from .settings import ClusterSettings
from .stack import SocketIoCloudStack
from .topic import ClusterTopic

__all__ = [
    "CleanupFunction",
    "ClusterSettings",
    "ClusterTopic",
    "SocketIoCloudStack",
    "SocketIoService",
]
