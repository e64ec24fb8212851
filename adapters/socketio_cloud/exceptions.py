"""The exceptions socketio_cloud raises.

Every exception derives from :class:`SocketIOCloudError`, so callers can catch the
whole family in one place.
"""

from __future__ import annotations

from typing import Any


class SocketIOCloudError(Exception):
    """Base class of every error raised by socketio_cloud."""


class DecodeError(SocketIOCloudError):
    """A message from the broker is malformed, oversized or of an unknown shape."""


class PayloadTooLarge(SocketIOCloudError):
    """A message is larger than the broker accepts and no large-payload path is configured."""

    def __init__(self, size: int, limit: int, hint: str = "") -> None:
        message = f"message of {size} bytes exceeds the broker limit of {limit} bytes"
        if hint:
            message = f"{message}; {hint}"
        super().__init__(message)
        self.size = size
        self.limit = limit


class TransportError(SocketIOCloudError):
    """The broker could not be reached or refused an operation."""


class NotReadyError(SocketIOCloudError):
    """The manager is used before :meth:`ClusterManager.ready` or after it was closed."""


class ClusterTimeoutError(SocketIOCloudError, TimeoutError):
    """A cluster request did not complete in time.

    ``responses`` holds what arrived before the deadline, so callers can still use a
    partial answer.
    """

    def __init__(self, message: str, responses: list[Any]) -> None:
        super().__init__(message)
        self.responses = responses


class FetchSocketsTimeout(ClusterTimeoutError):
    """Not every node answered ``fetch_sockets`` in time; ``responses`` holds the sockets found."""


class ServerSideEmitTimeout(ClusterTimeoutError):
    """Not every node acknowledged a server-side emit in time; ``responses`` holds the replies."""


class AckTimeoutError(ClusterTimeoutError):
    """Not every client acknowledged a broadcast in time; ``responses`` holds the replies."""


class UnsupportedVersionError(SocketIOCloudError):
    """The installed python-socketio is older than the releases socketio_cloud supports."""


class UnsupportedFeatureError(SocketIOCloudError, ValueError):
    """A feature was asked of a transport whose broker cannot provide it (connection state
    recovery on a broker without a replayable log)."""
