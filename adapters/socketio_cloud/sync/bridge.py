"""The loop side of a sync manager: a broker manager whose local sockets are a sync server's.

:func:`bridged` derives, from any broker manager class (``RedisStreamsManager``,
``AwsSqsManager``, ...), a class whose cluster core runs unchanged on the private loop while
every touch of local sockets -- the hooks :class:`~socketio_cloud.local.LocalManager` gives
the core -- is handed to the sync manager's side (:class:`ServerSideLocal`). The core never
reads or writes the sync server's tables from the loop thread, with one exception: the
single-key lookups of :meth:`ServerSideLocal._targets_only_local_sids`, atomic under the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..cluster import ClusterManager
from ..protocol import BroadcastOptions

if TYPE_CHECKING:
    from .manager import SyncClusterManager

__all__ = ["ServerSideLocal", "bridged"]

Manager = TypeVar("Manager", bound=ClusterManager)
_T = TypeVar("_T")


class ServerSideLocal(ClusterManager):
    """Overrides of the core's local hooks that act on the sync server's side instead."""

    _server_side: SyncClusterManager

    def _select(self, namespace: str, opts: BroadcastOptions) -> list[tuple[str, str]]:
        # the core has no sockets of its own; every path that needs them is overridden
        return []

    def _targets_only_local_sids(self, namespace: str, opts: BroadcastOptions) -> bool:
        return self._server_side._only_local_sids(namespace, opts)

    def _served_namespaces(self) -> set[str]:
        return super()._served_namespaces() | self._server_side._served_namespaces()

    def _deliver(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        offset: str | None = None,  # recovery only: refused on sync servers
    ) -> int:
        self._server_side._inbox_post(self._server_side._deliver_local, namespace, opts, event_args)
        return 0

    async def _deliver_with_ack(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        on_reply: Callable[[tuple[Any, ...]], Any],
    ) -> int:
        loop = asyncio.get_running_loop()

        def reply(args: tuple[Any, ...]) -> None:  # on the server's side
            _call_soon(loop, on_reply, args)

        count: int = await self._on_server_side(
            self._server_side._deliver_local_with_ack, namespace, opts, event_args, reply
        )
        return count

    def _apply_join(self, namespace: str, opts: BroadcastOptions, rooms: Any) -> None:
        self._server_side._inbox_post(self._server_side._join_local, namespace, opts, list(rooms))

    def _apply_leave(self, namespace: str, opts: BroadcastOptions, rooms: Any) -> None:
        self._server_side._inbox_post(self._server_side._leave_local, namespace, opts, list(rooms))

    async def _apply_disconnect(self, namespace: str, opts: BroadcastOptions, close: bool) -> None:
        self._server_side._inbox_post(self._server_side._disconnect_local, namespace, opts, close)

    async def _use_local_socket_details(
        self,
        namespace: str,
        opts: BroadcastOptions,
        use: Callable[[list[dict[str, Any]]], _T],
    ) -> _T:
        details: list[dict[str, Any]] = await self._on_server_side(
            self._server_side._local_socket_details, namespace, opts
        )
        return use(details)

    def _warn_unclosed(self, why: str) -> None:
        if getattr(self, "_state", None) != "ready":
            return
        self.logger.warning(
            "node %s was never closed (%s): its %s resources stay behind until the broker "
            "expires them or the cleanup sweeps them; call manager.close() at shutdown, or "
            "manager.close_on_signals() once the server exists",
            self.uid,
            why,
            self.transport.broker,
        )

    async def _on_server_side(
        self, func: Callable[..., Any], *args: Any, own_task: bool = False
    ) -> Any:
        """Run ``func(*args)`` on the server's side and return its result. ``own_task``: in
        a task of its own (``func`` may block or wait on the cluster), else in the inbox."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def run() -> None:
            try:
                result = func(*args)
            except BaseException as exc:
                _call_soon(loop, _settle, future, None, exc)
            else:
                _call_soon(loop, _settle, future, result, None)

        if own_task:
            self._server_side._inbox_post(self._server_side._start_task, run)
        else:
            self._server_side._inbox_post(run)
        return await future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _call_soon(loop: asyncio.AbstractEventLoop, func: Callable[..., Any], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(func, *args)
    except RuntimeError:  # the loop is closed: the node was closed meanwhile
        pass


_bridged: dict[type[Any], type[Any]] = {}


def bridged(manager_class: type[Manager]) -> type[Manager]:
    """``manager_class`` with its local hooks on a sync server's side."""
    if not (isinstance(manager_class, type) and issubclass(manager_class, ClusterManager)):
        raise TypeError(f"{manager_class!r} is not a ClusterManager subclass")
    cls = _bridged.get(manager_class)
    if cls is None:
        name = f"ServerSide{manager_class.__name__}"
        cls = type(name, (ServerSideLocal, manager_class), {"__module__": __name__})
        _bridged[manager_class] = cls
    return cast(type[Manager], cls)
