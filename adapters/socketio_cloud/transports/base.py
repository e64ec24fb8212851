"""What a broker transport implements, and the helpers transports share.

A transport only moves bytes: it creates the node's queue or subscription, publishes
cluster messages in its broker's framing, hands every decoded message to the core and
deletes what it created when it closes. What a message means, who is alive and how long to
wait is the cluster core's business (:mod:`socketio_cloud.cluster`).
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar

from ..protocol import ClusterMessage

__all__ = ["MessageHandler", "Transport", "log_rejected"]

MessageHandler = Callable[[ClusterMessage, "str | None"], Awaitable[None]]
"""Called by a transport for every message it receives: ``(message, offset)``."""

logger = logging.getLogger("socketio_cloud.transports")


class Transport(abc.ABC):
    """One broker connection of one node.

    Lifecycle: :meth:`start` once, then any number of :meth:`publish` /
    :meth:`publish_response` calls, then :meth:`close` (graceful: the node's resources are
    deleted) or :meth:`abort` (the node vanishes as if its process had died).
    """

    #: Whether the core keeps cluster membership with heartbeats. Transports whose broker
    #: can count subscribers (``PUBSUB NUMSUB``) set this to False and implement
    #: :meth:`server_count`.
    heartbeats: ClassVar[bool] = True

    #: The largest encoded message the broker accepts, or None when unbounded.
    max_message_size: int | None = None

    @abc.abstractmethod
    async def start(self, uid: str, on_message: MessageHandler) -> None:
        """Create the node's per-node resources and begin consuming.

        Must return only once a message published by another node after this call
        returns will reach ``on_message``. Messages the transport cannot decode are
        logged with :func:`log_rejected` and dropped; the transport keeps consuming.
        Messages from ``uid`` itself may be delivered; the core drops them.
        """

    @abc.abstractmethod
    async def publish(self, message: ClusterMessage) -> str | None:
        """Send a message to every other node; return the broker offset if it has one."""

    @abc.abstractmethod
    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        """Send a response to the node ``requester_uid`` (others may receive and drop it)."""

    async def open_publisher(self) -> None:  # noqa: B027 - optional hook
        """Prepare for publishing only, without per-node resources (used by emitters).

        Called once before the first :meth:`publish` of an emitter; :meth:`start` implies it.
        """

    async def add_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """Called once for each namespace the node serves, before its first publish.

        Transports that route by namespace (channels per namespace) subscribe here.
        """

    async def server_count(self, namespace: str) -> int:
        """Number of nodes serving ``namespace``, self included (non-heartbeat transports)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consuming and delete the per-node resources. Idempotent."""

    async def abort(self) -> None:
        """Stop consuming without any cleanup, as a crashed process would.

        The default just closes; transports whose resources outlive a crash override it so
        that tests and the cleanup function can see what a dead node leaves behind.
        """
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether the transport currently reaches its broker."""
        return True


_last_rejection_log: dict[str, float] = {}


def log_rejected(transport: str, reason: object, *, interval: float = 5.0) -> None:
    """Log a dropped, malformed message; at most once per ``interval`` per transport so that
    a flood of garbage cannot flood the log."""
    now = time.monotonic()
    if now - _last_rejection_log.get(transport, 0.0) >= interval:
        _last_rejection_log[transport] = now
        logger.warning("%s: dropped a malformed message: %s", transport, reason)
    else:
        logger.debug("%s: dropped a malformed message: %s", transport, reason)
