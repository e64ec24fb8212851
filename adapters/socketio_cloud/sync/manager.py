"""Cluster managers for python-socketio's sync ``socketio.Server`` (and Flask-SocketIO).

:class:`SyncClusterManager` is the sync server's client manager. Its sockets and rooms are
python-socketio's own tables (``socketio.Manager``), read and written only on the server's
side: a thread, or a greenlet under eventlet/gevent. The cluster core -- the broker manager
it wraps, unchanged -- runs on a private asyncio loop in a real OS thread
(:class:`~socketio_cloud.sync.crossing.LoopThread`). Calls go to the loop and wait for their
result; what the core must do to local sockets comes back through the
:class:`~socketio_cloud.sync.crossing.ServerInbox` (see :mod:`socketio_cloud.sync.bridge`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any, NoReturn, TypeVar

import socketio

from .. import compat
from ..cluster import ClusterManager
from ..exceptions import ClusterTimeoutError, NotReadyError, UnsupportedFeatureError
from ..handshake import build_handshake
from ..local import js_json_compatible, only_sids_of, select_sockets
from ..operators import BroadcastOperator, normalize_namespace, room_list
from ..protocol import BroadcastOptions
from ..remote_socket import RemoteSocket
from .bridge import ServerSideLocal, bridged
from .crossing import SUPPORTED_ASYNC_MODES, LoopThread, ServerInbox, real_thread_api

__all__ = ["SyncBroadcastOperator", "SyncClusterManager", "SyncRemoteSocket"]

T = TypeVar("T")
Handler = TypeVar("Handler", bound=Callable[..., Any])

#: Seconds a call waits for the loop beyond its own timeout before giving up.
CALL_MARGIN = 5.0


class SyncClusterManager(socketio.Manager):  # type: ignore[misc]
    """A client manager for ``socketio.Server`` whose operations reach every node of a
    cluster, built on any broker manager of this package.

    ``SyncClusterManager(RedisStreamsManager, url=...)`` takes the broker manager class and
    its keyword arguments; the named classes of :mod:`socketio_cloud.sync`
    (``sync.RedisStreamsManager(url=...)``) do the same in one step. Give it to
    ``socketio.Server(client_manager=...)`` or ``SocketIO(app, client_manager=...)``; it
    starts with the first connection or :meth:`ready`, and :meth:`close` (or
    :meth:`close_on_signals`) leaves the cluster and deletes the node's broker resources.

    Cluster operations are plain blocking calls that return results: :meth:`fetch_sockets`,
    :meth:`server_side_emit_with_ack`, ``to(...).emit_with_ack(...)``.

    :param manager_class: the broker manager (a :class:`~socketio_cloud.ClusterManager`).
    :param call_timeout: seconds an operation without a timeout of its own (an emit, a room
        change) may wait for the cluster core.
    :param options: the broker manager's keyword arguments.
    """

    def __init__(
        self,
        manager_class: type[ClusterManager],
        /,
        *,
        call_timeout: float = 30.0,
        **options: Any,
    ) -> None:
        super().__init__()
        if options.get("connection_state_recovery"):
            # its hooks live in the asyncio server's connect and disconnect paths
            raise UnsupportedFeatureError(
                "connection state recovery is available on socketio.AsyncServer only, "
                "not on sync servers"
            )
        core = bridged(manager_class)(**options)
        assert isinstance(core, ServerSideLocal)
        core._server_side = self
        self.cluster: ClusterManager = core
        self.call_timeout = call_timeout
        self._loop_thread = LoopThread(f"socketio-cloud-{core.uid}")
        self._inbox: ServerInbox | None = None
        self._issued: dict[tuple[str, str], int] = {}
        self._closed = False
        self._closing = False
        # a real lock, held without yielding: starting is never switched away from
        self._starting = real_thread_api()[1]()

    # ------------------------------------------------------------------------ state

    @property
    def uid(self) -> str:
        """This node's id in the cluster."""
        return self.cluster.uid

    @property
    def is_ready(self) -> bool:
        """Whether the node is part of the cluster."""
        return self.cluster.is_ready

    @property
    def connected(self) -> bool:
        """Whether the node is ready and its transport reaches the broker."""
        return self.cluster.connected

    # ------------------------------------------------------------------------ lifecycle

    def set_server(self, server: Any) -> None:
        mode = server.eio.async_mode
        if server.is_asyncio_based():
            raise TypeError(
                "SyncClusterManager is for socketio.Server; give socketio.AsyncServer the "
                "broker manager itself (socketio_cloud.RedisStreamsManager, ...)"
            )
        if mode not in SUPPORTED_ASYNC_MODES:
            raise ValueError(
                f"async_mode {mode!r} is not supported by socketio_cloud.sync "
                f"(supported: {', '.join(SUPPORTED_ASYNC_MODES)})"
            )
        compat.check_socketio_version()
        super().set_server(server)

    def initialize(self) -> None:
        """Called by python-socketio on the first request: start joining the cluster."""
        super().initialize()
        if not self._closed:
            self._start()
            self._submit(self.cluster.ready())

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise NotReadyError("the manager was closed")
        if self.server is None:
            raise NotReadyError("give the manager to a socketio.Server first")
        if self._inbox is not None and self._loop_thread.loop is not None:
            return self._loop_thread.loop
        with self._starting:
            if self._inbox is None:
                self._inbox = ServerInbox(self.server)
                self._inbox.start()
            return self._loop_thread.start()

    def ready(self, timeout: float | None = None) -> None:
        """Create the node's broker resources and join the cluster (idempotent); blocks."""
        self._start()
        self._call(self.cluster.ready(), timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Leave the cluster (the others are told), delete the node's broker resources and
        stop the loop thread. Idempotent; a call made while another one runs (a second
        signal) returns at once."""
        if self._closed or self._closing:
            return
        self._closing = True
        try:
            if self._loop_thread.running and self._inbox is not None:
                self._call(self.cluster.close(), timeout)
        finally:
            self._closed = True
            self._loop_thread.stop()
            if self._inbox is not None:
                self._inbox.stop()

    def close_on_signals(self, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """On each of ``signals``: close the manager, then raise ``SystemExit(0)`` in the
        main thread (threading) or main greenlet (eventlet, gevent) so the server stops.

        Call it from the main thread after the server exists (Python delivers signals to
        the main thread only); ECS and Kubernetes stop a task with SIGTERM.
        """
        server = self.server
        if server is None:
            raise NotReadyError("give the manager to a socketio.Server first")
        green = server.eio.async_mode != "threading"
        handled: list[int] = []

        def close_and_exit() -> None:
            try:
                self.close()
            except Exception:
                logging.getLogger("socketio_cloud.sync").exception("closing failed")
            raise SystemExit(0)

        def on_signal(signum: int, frame: Any) -> None:
            if self._closing or self._closed or handled:
                return  # a second signal while closing: the first one finishes the job
            handled.append(signum)
            if green and self._inbox is not None and not self._inbox.closed:
                # the handler may run inside the hub, which then goes back to waiting on
                # its file descriptors: hand the blocking work to a greenlet through the
                # inbox, whose pipe wakes the hub. SystemExit from that greenlet reaches
                # the main greenlet through the hub.
                self._inbox.post(self._start_task, close_and_exit)
            else:
                close_and_exit()

        for signum in signals:
            signal.signal(signum, on_signal)

    # ------------------------------------------------------------------------ crossing

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait, in the server's async mode, for its result."""
        try:
            loop = self._start()
        except BaseException:
            coro.close()
            raise
        inbox = self._inbox
        assert inbox is not None
        if inbox.in_runner():
            coro.close()
            raise RuntimeError("a blocking cluster call cannot run inside the server inbox")
        done = self.server.eio.create_event()
        outcome: dict[str, Any] = {}
        task_box: list[asyncio.Task[T]] = []

        def finished(task: asyncio.Future[T]) -> None:  # on the loop
            if task.cancelled():
                outcome["error"] = NotReadyError("the operation was cancelled")
            elif task.exception() is not None:
                outcome["error"] = task.exception()
            else:
                outcome["result"] = task.result()
            inbox.post(done.set)

        def begin() -> None:  # on the loop
            task = loop.create_task(coro)
            task_box.append(task)
            task.add_done_callback(finished)

        try:
            loop.call_soon_threadsafe(begin)
        except RuntimeError:
            coro.close()
            raise NotReadyError("the manager was closed") from None
        limit = self.call_timeout if timeout is None else timeout + CALL_MARGIN
        done.wait(limit)
        if not outcome:
            if task_box:
                loop.call_soon_threadsafe(task_box[0].cancel)
            raise ClusterTimeoutError(f"the cluster did not answer within {limit} s", [])
        if "error" in outcome:
            raise outcome["error"]
        result: T = outcome["result"]
        return result

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` on the loop without waiting (failures are logged by the core)."""
        loop = self._start()
        try:
            loop.call_soon_threadsafe(self.cluster._spawn, coro)
        except RuntimeError:
            coro.close()

    def _inbox_post(self, func: Callable[..., Any], *args: Any) -> None:
        if self._inbox is not None:
            self._inbox.post(func, *args)

    def _start_task(self, func: Callable[..., Any], *args: Any) -> None:
        self.server.start_background_task(func, *args)

    # ------------------------------------------------------------------------ python-socketio API

    def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        sid: str | None = super().pre_connect(eio_sid, namespace)
        if sid is not None:
            self._issued[(namespace, sid)] = int(time.time() * 1000)
            if self.cluster.is_ready and namespace not in self.cluster._namespaces:
                self._submit(self.cluster._ensure_ready(namespace))
        return sid

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        self._issued.pop((namespace, sid), None)
        super().basic_disconnect(sid, namespace, **kwargs)

    def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        """Cluster-wide ``sio.emit``: ``to``/``room`` (one or several rooms or sids),
        ``skip_sid`` (one or several sids or rooms), ``callback`` (called with each client's
        reply; for clients on other nodes with the reply's first argument)."""
        namespace = normalize_namespace(namespace)
        target = to if to is not None else room
        opts = BroadcastOptions(room_list(target), room_list(skip_sid), {})
        event_args = [event, *_event_args(data)]
        local_only = bool(kwargs.get("ignore_queue"))
        if callback is None:
            # sids of this node only (a reply to the sender): no need to cross to the loop.
            # Order is kept: a cluster call returns through the inbox, after the local
            # deliveries it queued there.
            if local_only or self._only_local_sids(namespace, opts):
                self._deliver_local(namespace, opts, event_args)
            else:
                self._call(self.cluster._broadcast(namespace, opts, event_args))
            return
        for sid, _ in select_sockets(self.rooms.get(namespace), opts):
            self._send(namespace, sid, event_args, callback)
        if local_only or self._only_local_sids(namespace, opts):
            return

        def remote_reply(*args: Any) -> None:  # on the loop
            self._inbox_post(self._start_task, callback, *args)

        self._call(
            self.cluster._emit_with_callback(namespace, opts, event_args, remote_reply, False)
        )

    def can_disconnect(self, sid: str, namespace: str) -> bool:
        if self.is_connected(sid, namespace):
            return True
        self._call(self.cluster.can_disconnect(sid, namespace))
        return False

    def enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        """Add a socket to a room, wherever in the cluster it is connected."""
        namespace = normalize_namespace(namespace)
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
            return
        self._call(self.cluster.enter_room(sid, namespace, room))

    def leave_room(self, sid: str, namespace: str, room: str) -> None:
        """Remove a socket from a room, wherever in the cluster it is connected."""
        namespace = normalize_namespace(namespace)
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            self.basic_leave_room(sid, namespace, room)
            return
        self._call(self.cluster.leave_room(sid, namespace, room))

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Remove every socket of the cluster from a room."""
        self._call(self.cluster.close_room(room, namespace))

    # ------------------------------------------------------------------------ cluster API

    @property
    def _root(self) -> SyncBroadcastOperator:
        return SyncBroadcastOperator(self, BroadcastOperator(self.cluster))

    def to(self, room: str | Iterable[str]) -> SyncBroadcastOperator:
        """Select the sockets in ``room`` (one name or several)."""
        return self._root.to(room)

    def in_(self, room: str | Iterable[str]) -> SyncBroadcastOperator:
        """Alias of :meth:`to`."""
        return self._root.to(room)

    def except_(self, room: str | Iterable[str]) -> SyncBroadcastOperator:
        """Select every socket except the members of ``room``."""
        return self._root.except_(room)

    def of(self, namespace: str) -> SyncBroadcastOperator:
        """Select the sockets of another namespace."""
        return self._root.of(namespace)

    @property
    def local(self) -> SyncBroadcastOperator:
        """Select the sockets of this node only."""
        return self._root.local

    def timeout(self, seconds: float) -> SyncBroadcastOperator:
        """Bound acknowledgements and requests of the next operation."""
        return self._root.timeout(seconds)

    def fetch_sockets(
        self,
        to: str | Iterable[str] | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> list[SyncRemoteSocket]:
        """Every socket of the cluster in ``to`` (rooms or sids; all when omitted).

        Raises :class:`~socketio_cloud.exceptions.FetchSocketsTimeout` when a node does not
        answer in time.
        """
        operator = self.of(namespace or "/")
        if to is not None:
            operator = operator.to(to)
        if timeout is not None:
            operator = operator.timeout(timeout)
        return operator.fetch_sockets()

    def server_count(self, namespace: str = "/") -> int:
        """Number of servers in the cluster serving ``namespace``, this one included."""
        return self._call(self.cluster.server_count(namespace))

    def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event to the other servers of the cluster (not to clients)."""
        self._call(self.cluster.server_side_emit(event, *args, namespace=namespace))

    def server_side_emit_with_ack(
        self, event: str, *args: Any, namespace: str = "/", timeout: float | None = None
    ) -> list[Any]:
        """Send an event to the other servers and return each one's reply.

        Raises :class:`~socketio_cloud.exceptions.ServerSideEmitTimeout` (with the replies
        that came in time in ``responses``) when a server does not answer in time.
        """
        wait = timeout if timeout is not None else self.cluster.requests_timeout
        return self._call(
            self.cluster.server_side_emit_with_ack(
                event, *args, namespace=namespace, timeout=timeout
            ),
            wait,
        )

    def on_server_event(self, event: str, namespace: str = "/") -> Callable[[Handler], Handler]:
        """Decorator registering a handler for events other servers send with
        :meth:`server_side_emit`. The handler runs on the server's side (a thread or a
        greenlet) with the event's arguments; its return value is this server's reply to
        :meth:`server_side_emit_with_ack`."""
        namespace = normalize_namespace(namespace)
        core = self.cluster
        assert isinstance(core, ServerSideLocal)

        def register(func: Handler) -> Handler:
            async def on_server_side(*args: Any) -> Any:
                return await core._on_server_side(func, *args, own_task=True)

            core._server_events.add(namespace, event, on_server_side)
            if core.is_ready:
                self._submit(core._ensure_ready(namespace))
            return func

        return register

    # ------------------------------------------------------------------------ server side
    # What the core asks of local sockets; runs in the inbox, on the server's side.

    def _only_local_sids(self, namespace: str, opts: BroadcastOptions) -> bool:
        return only_sids_of(self.rooms.get(namespace), opts)

    def _served_namespaces(self) -> set[str]:
        # read from the loop thread while the server may add a namespace: retry the copy
        for _ in range(3):
            try:
                served = {ns for ns in tuple(self.rooms) if ns}
                break
            except RuntimeError:
                continue
        else:
            served = set()
        return served | compat.served_namespaces(self.server)

    def _send(
        self,
        namespace: str,
        to: str | list[str],
        event_args: list[Any],
        callback: Callable[..., Any] | None = None,
    ) -> None:
        event, args = event_args[0], tuple(event_args[1:])
        try:
            super().emit(event, args, namespace, to=to, callback=callback)
        except TypeError:
            # dates from Node peers (msgpack timestamps): sent as JavaScript's toJSON text
            compatible = js_json_compatible(list(args))
            super().emit(event, tuple(compatible), namespace, to=to, callback=callback)

    def _deliver_local(self, namespace: str, opts: BroadcastOptions, event_args: list[Any]) -> int:
        recipients = select_sockets(self.rooms.get(namespace), opts)
        if recipients:
            self._send(namespace, [sid for sid, _ in recipients], event_args)
        return len(recipients)

    def _deliver_local_with_ack(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        on_reply: Callable[[tuple[Any, ...]], None],
    ) -> int:
        def reply(*args: Any) -> None:
            on_reply(args)

        recipients = select_sockets(self.rooms.get(namespace), opts)
        for sid, _ in recipients:
            self._send(namespace, sid, event_args, reply)
        return len(recipients)

    def _join_local(self, namespace: str, opts: BroadcastOptions, rooms: list[str]) -> None:
        for sid, _ in select_sockets(self.rooms.get(namespace), opts):
            for room in rooms:
                if room != sid and self.is_sid_room(namespace, room):
                    continue
                self.basic_enter_room(sid, namespace, room)

    def _leave_local(self, namespace: str, opts: BroadcastOptions, rooms: list[str]) -> None:
        for sid, _ in select_sockets(self.rooms.get(namespace), opts):
            for room in rooms:
                self.basic_leave_room(sid, namespace, room)

    def _disconnect_local(self, namespace: str, opts: BroadcastOptions, close: bool) -> None:
        server = self.server
        for sid, eio_sid in select_sockets(self.rooms.get(namespace), opts):
            # disconnect handlers are user code and may call the cluster: own tasks
            if close:
                self._start_task(server.eio.disconnect, eio_sid)
            else:
                self._start_task(server.disconnect, sid, namespace, True)

    def _local_socket_details(self, namespace: str, opts: BroadcastOptions) -> list[dict[str, Any]]:
        details = []
        for sid, _ in select_sockets(self.rooms.get(namespace), opts):
            issued = self._issued.get((namespace, sid), int(time.time() * 1000))
            environ = self.server.get_environ(sid, namespace=namespace)
            try:
                data = self.server.get_session(sid, namespace=namespace)
            except Exception:
                data = {}
            details.append(
                {
                    "id": sid,
                    "handshake": build_handshake(environ, issued_ms=issued, auth=None),
                    "rooms": list(self.get_rooms(sid, namespace)),
                    "data": data,
                }
            )
        return details


@dataclass(frozen=True)
class SyncBroadcastOperator:
    """An immutable selection of sockets ending in a blocking cluster-wide operation: the
    sync face of :class:`~socketio_cloud.operators.BroadcastOperator` (same selection and
    modifiers)."""

    manager: SyncClusterManager = field(repr=False)
    operator: BroadcastOperator

    def _with(self, operator: BroadcastOperator) -> SyncBroadcastOperator:
        return SyncBroadcastOperator(self.manager, operator)

    def to(self, room: str | Iterable[str]) -> SyncBroadcastOperator:
        """Also target the members of ``room`` (one name or several)."""
        return self._with(self.operator.to(room))

    def in_(self, room: str | Iterable[str]) -> SyncBroadcastOperator:
        """Alias of :meth:`to`."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> SyncBroadcastOperator:
        """Skip every member of ``room``."""
        return self._with(self.operator.except_(room))

    def of(self, namespace: str) -> SyncBroadcastOperator:
        """The same selection in another namespace."""
        return self._with(self.operator.of(namespace))

    @property
    def local(self) -> SyncBroadcastOperator:
        """Only this node's sockets."""
        return self._with(self.operator.local)

    @property
    def volatile(self) -> SyncBroadcastOperator:
        """Mark the next emit volatile."""
        return self._with(self.operator.volatile)

    def compress(self, compress: bool) -> SyncBroadcastOperator:
        """Set the compress flag of the next emit."""
        return self._with(self.operator.compress(compress))

    def timeout(self, seconds: float) -> SyncBroadcastOperator:
        """Bound acknowledgements and requests of the next operation."""
        return self._with(self.operator.timeout(seconds))

    def _wait(self) -> float:
        seconds = self.operator._timeout_seconds
        return seconds if seconds is not None else self.manager.cluster.requests_timeout

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to every selected client in the cluster."""
        self.manager._call(self.operator.emit(event, *args))

    def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send an event and return every selected client's reply (first argument of each).

        Raises :class:`~socketio_cloud.exceptions.AckTimeoutError` carrying the replies that
        came in time when not every client answered within the timeout.
        """
        return self.manager._call(self.operator.emit_with_ack(event, *args), self._wait())

    def fetch_sockets(self) -> list[SyncRemoteSocket]:
        """Every selected socket in the cluster."""
        found = self.manager._call(self.operator.fetch_sockets(), self._wait())
        return [SyncRemoteSocket.of(socket, self.manager) for socket in found]

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every selected socket join ``rooms``."""
        self.manager._call(self.operator.sockets_join(rooms))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every selected socket leave ``rooms``."""
        self.manager._call(self.operator.sockets_leave(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket; ``close=True`` closes the whole connection."""
        self.manager._call(self.operator.disconnect_sockets(close))


class SyncRemoteSocket:
    """A snapshot of one socket of the cluster (``id``, ``rooms``, ``data``, ``handshake``)
    whose methods act on the live socket, blocking: the sync face of
    :class:`~socketio_cloud.RemoteSocket` (immutable, compared by its fields)."""

    __slots__ = ("_manager", "_socket")

    _socket: RemoteSocket
    _manager: SyncClusterManager

    def __init__(self, socket: RemoteSocket, manager: SyncClusterManager) -> None:
        object.__setattr__(self, "_socket", socket)
        object.__setattr__(self, "_manager", manager)

    @classmethod
    def of(cls, socket: RemoteSocket, manager: SyncClusterManager) -> SyncRemoteSocket:
        return cls(socket, manager)

    @property
    def id(self) -> str:
        return self._socket.id

    @property
    def namespace(self) -> str:
        return self._socket.namespace

    @property
    def rooms(self) -> frozenset[str]:
        return self._socket.rooms

    @property
    def data(self) -> Any:
        return self._socket.data

    @property
    def handshake(self) -> Mapping[str, Any]:
        """Node's ``socket.handshake`` (unpacked when first read, as for RemoteSocket)."""
        return self._socket.handshake

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __repr__(self) -> str:
        return "Sync" + repr(self._socket)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, SyncRemoteSocket)
        return self._socket == other._socket

    __hash__ = None  # type: ignore[assignment]

    @property
    def _operator(self) -> SyncBroadcastOperator:
        return self._manager.of(self.namespace).to(self.id)

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to this socket."""
        self._operator.emit(event, *args)

    def emit_with_ack(self, event: str, *args: Any, timeout: float = 5.0) -> Any:
        """Send an event and return the client's reply (its first argument)."""
        operator = self._operator.timeout(timeout)
        single = operator._with(operator.operator._with_flag("expectSingleResponse", True))
        replies = single.emit_with_ack(event, *args)
        return replies[0] if replies else None

    def join(self, rooms: str | Iterable[str]) -> None:
        """Make this socket join ``rooms``."""
        self._operator.sockets_join(rooms)

    def leave(self, rooms: str | Iterable[str]) -> None:
        """Make this socket leave ``rooms``."""
        self._operator.sockets_leave(rooms)

    def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket (``close=True``: the whole connection)."""
        self._operator.disconnect_sockets(close)


def _event_args(data: Any) -> list[Any]:
    """python-socketio's ``data`` convention: a tuple is many arguments, None is none."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]
