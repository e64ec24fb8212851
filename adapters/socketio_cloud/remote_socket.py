"""A socket found by ``fetch_sockets``, wherever in the cluster it is connected."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import FrozenInstanceError
from typing import Any, NoReturn

from .exceptions import DecodeError
from .operators import BroadcastOperator, OperationTarget
from .protocol import PackedMap

logger = logging.getLogger("socketio_cloud")

__all__ = ["RemoteSocket"]

_FIELDS = ("id", "namespace", "rooms", "data", "handshake")


class RemoteSocket:
    """A snapshot of one socket (``id``, ``rooms``, ``data``, ``handshake``) whose methods act
    on the live socket through the cluster, like Node's ``RemoteSocket``. Immutable; equal to
    another with the same fields.

    ``data`` is the python-socketio session of the socket in its namespace (Node: ``socket.data``).
    The ``handshake`` of a socket found on another node may arrive packed (a large answer
    leaves it so); it is unpacked when first read.
    """

    # Slots, not a dataclass's __dict__: a fetch_sockets of a large cluster makes tens of
    # thousands at once, and each __dict__ would be one more object for the garbage
    # collector to walk for as long as the caller keeps them.
    __slots__ = ("_handshake", "_target", "data", "id", "namespace", "rooms")

    id: str
    namespace: str
    rooms: frozenset[str]
    data: Any
    _handshake: Mapping[str, Any] | PackedMap
    _target: OperationTarget

    def __init__(
        self,
        id: str,
        namespace: str,
        rooms: frozenset[str],
        data: Any,
        handshake: Mapping[str, Any] | PackedMap,
        _target: OperationTarget,
    ) -> None:
        _set_id(self, id)
        _set_namespace(self, namespace)
        _set_rooms(self, rooms)
        _set_data(self, data)
        _set_handshake(self, handshake)
        _set_target(self, _target)

    @classmethod
    def _from_details(
        cls, target: OperationTarget, namespace: str, found: list[dict[str, Any]]
    ) -> list[RemoteSocket]:
        """One per validated socket description of a fetch answer (``id``, ``rooms``,
        ``data``, ``handshake``, which may still be packed), in one loop without ``__init__``
        calls: an answer holds up to tens of thousands."""
        new = object.__new__
        set_id, set_namespace, set_rooms = _set_id, _set_namespace, _set_rooms
        set_data, set_handshake, set_target = _set_data, _set_handshake, _set_target
        sockets: list[RemoteSocket] = []
        append = sockets.append
        for details in found:
            socket = new(cls)
            set_id(socket, details["id"])
            set_namespace(socket, namespace)
            set_rooms(socket, frozenset(details.get("rooms") or ()))
            set_data(socket, details.get("data"))
            set_handshake(socket, details.get("handshake") or {})
            set_target(socket, target)
            append(socket)
        return sockets

    @property
    def handshake(self) -> Mapping[str, Any]:
        """Node's ``socket.handshake``: headers, time, address, url, query, auth..."""
        held = self._handshake
        if not isinstance(held, PackedMap):
            return held
        try:
            handshake: Mapping[str, Any] = held.unpack()
        except DecodeError as exc:
            # its structure was checked when it arrived; only its text can be broken
            logger.warning("handshake of socket %s cannot be read (%s); empty", self.id, exc)
            handshake = {}
        _set_handshake(self, handshake)
        return handshake

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, RemoteSocket)
        return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)

    # the fields include maps: no hash, as for the frozen dataclass this class was
    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            RemoteSocket,
            (self.id, self.namespace, self.rooms, self.data, self._handshake, self._target),
        )

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


# The slots' own setters: __setattr__ refuses every assignment.
_slots = vars(RemoteSocket)
_set_id = _slots["id"].__set__
_set_namespace = _slots["namespace"].__set__
_set_rooms = _slots["rooms"].__set__
_set_data = _slots["data"].__set__
_set_handshake = _slots["_handshake"].__set__
_set_target = _slots["_target"].__set__
