"""Write-only access to a cluster from a process that runs no Socket.IO server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .operators import BroadcastOperator, Selector, normalize_namespace
from .protocol import EMITTER_UID, BroadcastOptions, ClusterMessage, MessageType, broadcast_data
from .remote_socket import RemoteSocket
from .transports.base import Transport

__all__ = ["Emitter"]


class Emitter(Selector):
    """Sends events and room operations to the clients of a cluster, over any transport.

    Messages carry the uid ``"emitter"``: nodes never count an emitter as a server and
    never answer it, so operations that need answers (acknowledgements, ``fetch_sockets``)
    are not available here.

    >>> emitter = Emitter(transport)
    >>> await emitter.of("/admin").to("room1").emit("hello", "world")
    """

    def __init__(self, transport: Transport, *, namespace: str = "/") -> None:
        self.transport = transport
        self.namespace = normalize_namespace(namespace)
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def _open(self) -> None:
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self.transport.open_publisher()
                self._opened = True

    async def _publish(self, kind: MessageType, namespace: str, data: dict[str, Any]) -> None:
        await self._open()
        await self.transport.publish(ClusterMessage(kind, EMITTER_UID, namespace, data))

    async def close(self) -> None:
        """Release the transport's connections."""
        await self.transport.close()

    # -- fluent selector ------------------------------------------------------------------------

    @property
    def _root(self) -> BroadcastOperator:
        return BroadcastOperator(self, self.namespace)

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event to every client of the namespace."""
        await self._root.emit(event, *args)

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of the namespace join ``rooms``."""
        await self._root.sockets_join(rooms)

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of the namespace leave ``rooms``."""
        await self._root.sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of the namespace."""
        await self._root.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """Send an event to every server of the cluster (no acknowledgement possible)."""
        await self._publish(
            MessageType.SERVER_SIDE_EMIT,
            normalize_namespace(namespace or self.namespace),
            {"packet": [event, *args]},
        )

    # -- operation target -----------------------------------------------------------------------

    @staticmethod
    def _opts(opts: BroadcastOptions) -> dict[str, Any]:
        flags = {k: v for k, v in opts.flags.items() if k != "local"}
        return BroadcastOptions(opts.rooms, opts.except_rooms, flags).to_wire()

    async def _broadcast(
        self, namespace: str, opts: BroadcastOptions, event_args: list[Any]
    ) -> None:
        if opts.flags.get("local"):
            raise TypeError("an emitter has no local sockets")
        data = broadcast_data(opts, event_args)
        data["opts"] = self._opts(opts)
        await self._publish(MessageType.BROADCAST, namespace, data)

    async def _broadcast_with_ack(
        self, namespace: str, opts: BroadcastOptions, event_args: list[Any], timeout: float | None
    ) -> list[Any]:
        raise TypeError("emitters cannot receive acknowledgements; use a ClusterManager")

    async def _fetch_sockets(self, namespace: str, opts: BroadcastOptions) -> list[RemoteSocket]:
        raise TypeError("emitters cannot fetch sockets; use a ClusterManager")

    async def _add_sockets(self, namespace: str, opts: BroadcastOptions, rooms: list[str]) -> None:
        await self._publish(
            MessageType.SOCKETS_JOIN, namespace, {"opts": self._opts(opts), "rooms": rooms}
        )

    async def _del_sockets(self, namespace: str, opts: BroadcastOptions, rooms: list[str]) -> None:
        await self._publish(
            MessageType.SOCKETS_LEAVE, namespace, {"opts": self._opts(opts), "rooms": rooms}
        )

    async def _disconnect_sockets(
        self, namespace: str, opts: BroadcastOptions, close: bool
    ) -> None:
        await self._publish(
            MessageType.DISCONNECT_SOCKETS, namespace, {"opts": self._opts(opts), "close": close}
        )
