"""Cluster managers for python-socketio's sync ``socketio.Server`` and Flask-SocketIO.

Every broker manager of :mod:`socketio_cloud` has a sync twin of the same name here, made
from it by :class:`SyncClusterManager` (its cluster core runs unchanged on a private event
loop in a background thread)::

    from socketio_cloud import sync
    mgr = sync.RedisStreamsManager(url="redis://localhost:6379/0")
    socketio = SocketIO(app, client_manager=mgr)

A broker manager added to :mod:`socketio_cloud` is available here without any code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import socketio_cloud

from .manager import SyncBroadcastOperator, SyncClusterManager, SyncRemoteSocket

__all__ = [
    "SyncBroadcastOperator",
    "SyncClusterManager",
    "SyncRemoteSocket",
    "sync_manager_class",
]

if TYPE_CHECKING:
    AwsSqsManager: type[SyncClusterManager]
    MemoryManager: type[SyncClusterManager]
    RedisStreamsManager: type[SyncClusterManager]

_NOT_BROKERS = frozenset({"ClusterManager"})


def sync_manager_class(manager_class: type[Any]) -> type[SyncClusterManager]:
    """A :class:`SyncClusterManager` subclass that builds ``manager_class`` from its
    keyword arguments: ``sync_manager_class(RedisStreamsManager)(url=...)``."""

    def __init__(self: SyncClusterManager, **options: Any) -> None:
        SyncClusterManager.__init__(self, manager_class, **options)

    return type(
        manager_class.__name__,
        (SyncClusterManager,),
        {
            "__init__": __init__,
            "__module__": __name__,
            "__doc__": f"Sync twin of :class:`socketio_cloud.{manager_class.__name__}` "
            "(same keyword arguments, plus ``call_timeout``); see SyncClusterManager.",
        },
    )


def __getattr__(name: str) -> Any:
    if not name.endswith("Manager") or name in _NOT_BROKERS or name not in socketio_cloud.__all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = sync_manager_class(getattr(socketio_cloud, name))
    globals()[name] = cls
    return cls


def __dir__() -> list[str]:
    brokers = [n for n in socketio_cloud.__all__ if n.endswith("Manager") and n not in _NOT_BROKERS]
    return sorted({*globals(), *brokers})
