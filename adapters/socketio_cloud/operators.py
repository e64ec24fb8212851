"""The fluent selector shared by cluster managers and emitters.

``mgr.to("room1").except_("room2").timeout(5).emit_with_ack("question")`` builds an immutable
:class:`BroadcastOperator` step by step and ends in one cluster-wide operation, like Node's
``io.to(...).except(...)`` chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from .protocol import BroadcastOptions

if TYPE_CHECKING:
    from .remote_socket import RemoteSocket

__all__ = ["BroadcastOperator", "OperationTarget", "Selector", "normalize_namespace", "room_list"]


class OperationTarget(Protocol):
    """What an operator needs from a manager or an emitter (Node's adapter methods)."""

    async def _broadcast(
        self, namespace: str, opts: BroadcastOptions, event_args: list[Any]
    ) -> None: ...

    async def _broadcast_with_ack(
        self, namespace: str, opts: BroadcastOptions, event_args: list[Any], timeout: float | None
    ) -> list[Any]: ...

    async def _fetch_sockets(
        self, namespace: str, opts: BroadcastOptions
    ) -> list[RemoteSocket]: ...

    async def _add_sockets(
        self, namespace: str, opts: BroadcastOptions, rooms: list[str]
    ) -> None: ...

    async def _del_sockets(
        self, namespace: str, opts: BroadcastOptions, rooms: list[str]
    ) -> None: ...

    async def _disconnect_sockets(
        self, namespace: str, opts: BroadcastOptions, close: bool
    ) -> None: ...


def room_list(rooms: str | Iterable[str] | None) -> tuple[str, ...]:
    """One room, several rooms or none, as a tuple without duplicates (order kept)."""
    if rooms is None:
        return ()
    if isinstance(rooms, str):
        return (rooms,)
    result: dict[str, None] = {}
    for room in rooms:
        if not isinstance(room, str):
            raise TypeError(f"room names are strings, got {type(room).__name__}")
        result[room] = None
    return tuple(result)


def normalize_namespace(namespace: str | None) -> str:
    """``None`` → ``"/"``; a missing leading slash is added, as Node's emitters do."""
    if not namespace:
        return "/"
    return namespace if namespace.startswith("/") else f"/{namespace}"


@dataclass(frozen=True)
class BroadcastOperator:
    """An immutable selection of sockets in one namespace, ending in a cluster-wide operation.

    Selection: :meth:`to` / :meth:`in_` (union of rooms; none = every socket),
    :meth:`except_` (members of these rooms are skipped), :meth:`of` (namespace).
    Modifiers: :attr:`local` (this node only), :attr:`volatile`, :meth:`compress`,
    :meth:`timeout` (seconds, for acknowledgements and requests).
    """

    target: OperationTarget = field(repr=False)
    namespace: str = "/"
    rooms: tuple[str, ...] = ()
    except_rooms: tuple[str, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)

    # -- selection ----------------------------------------------------------------------------

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Also target the members of ``room`` (one name or several)."""
        return replace(self, rooms=room_list((*self.rooms, *room_list(room))))

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Alias of :meth:`to` (Node's ``in``)."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Skip every member of ``room`` (a sid is a room of one)."""
        return replace(self, except_rooms=room_list((*self.except_rooms, *room_list(room))))

    def of(self, namespace: str) -> BroadcastOperator:
        """The same selection in another namespace."""
        return replace(self, namespace=normalize_namespace(namespace))

    # -- modifiers ----------------------------------------------------------------------------

    def _with_flag(self, name: str, value: Any) -> BroadcastOperator:
        return replace(self, flags={**self.flags, name: value})

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets connected to this node; nothing is published."""
        return self._with_flag("local", True)

    @property
    def volatile(self) -> BroadcastOperator:
        """The event may be dropped for clients that are not ready to receive it."""
        return self._with_flag("volatile", True)

    def compress(self, compress: bool) -> BroadcastOperator:
        """Whether to compress the event (passed to Node peers; Python ignores it)."""
        return self._with_flag("compress", compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long acknowledgements and cluster requests may take (seconds)."""
        if seconds <= 0:
            raise ValueError("timeout must be positive")
        return self._with_flag("timeout", round(seconds * 1000))

    # -- operations ---------------------------------------------------------------------------

    @property
    def options(self) -> BroadcastOptions:
        """The selection as wire options."""
        return BroadcastOptions(self.rooms, self.except_rooms, dict(self.flags))

    @property
    def _timeout_seconds(self) -> float | None:
        value = self.flags.get("timeout")
        return None if value is None else float(value) / 1000.0

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event to every selected client in the cluster."""
        await self.target._broadcast(self.namespace, self.options, [event, *args])

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send an event and return every selected client's reply (first argument of each).

        Raises :class:`~socketio_cloud.exceptions.AckTimeoutError` carrying the replies that
        came in time when not every client answered within the timeout.
        """
        return await self.target._broadcast_with_ack(
            self.namespace, self.options, [event, *args], self._timeout_seconds
        )

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """Every selected socket in the cluster, as :class:`RemoteSocket` objects."""
        return await self.target._fetch_sockets(self.namespace, self.options)

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every selected socket join ``rooms``."""
        await self.target._add_sockets(self.namespace, self.options, list(room_list(rooms)))

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every selected socket leave ``rooms``."""
        await self.target._del_sockets(self.namespace, self.options, list(room_list(rooms)))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket; ``close=True`` closes the whole connection."""
        await self.target._disconnect_sockets(self.namespace, self.options, close)


class Selector:
    """The entry points of the fluent selector, for classes that are operation targets
    (managers, emitters): each starts a :class:`BroadcastOperator` on ``_root``."""

    @property
    def _root(self) -> BroadcastOperator:
        raise NotImplementedError

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Select the sockets in ``room`` (one name or several)."""
        return self._root.to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Alias of :meth:`to`."""
        return self._root.to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Select every socket except the members of ``room``."""
        return self._root.except_(room)

    def of(self, namespace: str) -> BroadcastOperator:
        """Select the sockets of another namespace (a missing leading ``/`` is added)."""
        return self._root.of(namespace)

    @property
    def local(self) -> BroadcastOperator:
        """Select the sockets of this node only (managers)."""
        return self._root.local

    @property
    def volatile(self) -> BroadcastOperator:
        """Mark the next emit volatile."""
        return self._root.volatile

    def compress(self, compress: bool) -> BroadcastOperator:
        """Set the compress flag of the next emit."""
        return self._root.compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Bound acknowledgements and requests of the next operation."""
        return self._root.timeout(seconds)
