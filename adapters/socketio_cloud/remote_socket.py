"""A socket found by ``fetch_sockets``, wherever in the cluster it is connected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .operators import BroadcastOperator, OperationTarget

__all__ = ["RemoteSocket"]


@dataclass(frozen=True)
class RemoteSocket:
    """A snapshot of one socket (``id``, ``rooms``, ``data``, ``handshake``) whose methods act
    on the live socket through the cluster, like Node's ``RemoteSocket``.

    ``data`` is the python-socketio session of the socket in its namespace (Node: ``socket.data``).
    """

    id: str
    namespace: str
    rooms: frozenset[str]
    data: Any
    handshake: Mapping[str, Any]
    _target: OperationTarget = field(repr=False, compare=False)

    @classmethod
    def _build(
        cls,
        target: OperationTarget,
        namespace: str,
        id: str,
        rooms: frozenset[str],
        data: Any,
        handshake: Mapping[str, Any],
    ) -> RemoteSocket:
        """Make one without the frozen dataclass's per-field ``__setattr__`` calls: a
        ``fetch_sockets`` of a large cluster builds tens of thousands at once."""
        socket = object.__new__(cls)
        socket.__dict__.update(
            id=id, namespace=namespace, rooms=rooms, data=data, handshake=handshake, _target=target
        )
        return socket

    @property
    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self._target, self.namespace, rooms=(self.id,))

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event to this socket."""
        await self._operator.emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float = 5.0) -> Any:
        """Send an event and return the client's reply (its first argument)."""
        operator = self._operator.timeout(timeout)._with_flag("expectSingleResponse", True)
        replies = await operator.emit_with_ack(event, *args)
        return replies[0] if replies else None

    async def join(self, rooms: str | Iterable[str]) -> None:
        """Make this socket join ``rooms``."""
        await self._operator.sockets_join(rooms)

    async def leave(self, rooms: str | Iterable[str]) -> None:
        """Make this socket leave ``rooms``."""
        await self._operator.sockets_leave(rooms)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket from its namespace (``close=True``: the whole connection)."""
        await self._operator.disconnect_sockets(close)
