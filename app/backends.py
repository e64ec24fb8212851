"""Which cluster manager each ``SIO_BACKEND`` value builds: the library's table
(:data:`socketio_cloud.config.BACKENDS`), the one place that maps variables onto managers.

A broker plugs in there; broker libraries are imported when its manager is built, so a node
only needs the packages of the backend it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socketio_cloud.config import BACKENDS

if TYPE_CHECKING:
    from socketio_cloud.cluster import ClusterManager

    from .config import Settings

__all__ = ["BACKENDS", "build_manager"]


def build_manager(settings: Settings) -> ClusterManager:
    """The cluster manager ``settings.backend`` names (not started yet)."""
    return settings.manager()
