"""The cluster core: a python-socketio client manager speaking Node's cluster-adapter protocol.

:class:`ClusterManager` makes plain python-socketio calls (``sio.emit``, ``enter_room``,
``disconnect``, ``close_room``, ``call``) cluster-wide and adds what Node's cluster adapters
offer: ``fetch_sockets``, ``sockets_join``/``sockets_leave``, ``disconnect_sockets``,
broadcasts with acknowledgements, server-side emits (with acknowledgements), heartbeats and
server counts, and room events. It is broker-agnostic: a
:class:`~socketio_cloud.transport.Transport` moves the bytes, and the node's lifecycle and
plumbing are :class:`~socketio_cloud.node.ClusterNode`'s.

One node uses one uid for every namespace; every message carries its namespace, and the node
heartbeats each namespace it serves, so Node peers (one adapter per namespace) see it as one
server per namespace, as they see each other.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypedDict

from . import protocol
from .exceptions import (
    AckTimeoutError,
    FetchSocketsTimeout,
    PayloadTooLarge,
    ServerSideEmitTimeout,
    TransportError,
)
from .local import MANY_SOCKETS, Fanout, Handler, only_sids_of
from .node import ClusterNode
from .operators import BroadcastOperator, Selector, normalize_namespace, room_list
from .protocol import RESPONSE_TYPES, BroadcastOptions, ClusterMessage, MessageType
from .recovery import with_offset
from .remote_socket import RemoteSocket
from .requests import AckRequest, PendingRequest
from .server_events import NO_REPLY

__all__ = ["ClusterManager", "ClusterOptions", "RemoteSocket"]


class ClusterOptions(TypedDict, total=False):
    """The keyword options of :class:`ClusterManager` that every broker manager also takes
    (``AwsSqsManager(topic_arn=..., heartbeat_interval=2)``); see :class:`ClusterManager`."""

    heartbeat_interval: float
    heartbeat_timeout: float
    requests_timeout: float
    callback_timeout: float
    fanout: Fanout
    queued_emits: bool
    limits: protocol.Limits | None
    logger: logging.Logger | None
    connection_state_recovery: bool
    max_disconnection_duration: float


def _event_args(data: Any) -> list[Any]:
    """python-socketio's ``data`` convention: a tuple is many arguments, None is none."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]


#: Bounds of one batch of client replies (see :data:`protocol.BATCH_REPLIES`): far below
#: every broker's message size, and few messages for a broadcast to many clients.
REPLY_BATCH_MAX_REPLIES = 1000
REPLY_BATCH_MAX_BYTES = 64 * 1024


class _ReplyBatch:
    """The client replies to one acknowledged broadcast from a requester that takes them in
    batches: those that arrive in one loop turn leave together, in one BROADCAST_ACK (or
    more, past the bounds), after the turn's other work."""

    __slots__ = ("_manager", "_namespace", "_packets", "_request_id", "_requester", "_size")

    def __init__(
        self, manager: ClusterManager, requester: str, namespace: str, request_id: str
    ) -> None:
        self._manager = manager
        self._requester = requester
        self._namespace = namespace
        self._request_id = request_id
        self._packets: list[list[Any]] = []
        self._size = 0

    def add(self, args: tuple[Any, ...]) -> None:
        """Take one client's reply (the tuple of its arguments; the first one travels)."""
        packets = self._packets
        if not packets:
            asyncio.get_running_loop().call_soon(self.flush)
        packets.append([args[0]] if args else [])
        self._size += protocol.reply_size(args)
        if len(packets) >= REPLY_BATCH_MAX_REPLIES or self._size >= REPLY_BATCH_MAX_BYTES:
            self.flush()

    def flush(self) -> None:
        """Publish the replies taken since the last flush, if any."""
        packets = self._packets
        if not packets:
            return  # sent already, because the batch filled up
        self._packets = []
        self._size = 0
        manager = self._manager

        def message(packets: list[list[Any]]) -> ClusterMessage:
            data = {"requestId": self._request_id, "packets": packets}
            return ClusterMessage(MessageType.BROADCAST_ACK, manager.uid, self._namespace, data)

        def encodable() -> ClusterMessage:
            # a reply the broker's encoding refuses is left out, not the whole batch
            return message([packet for packet in packets if _encodable(packet)])

        manager._respond(self._requester, message(packets), unencodable=encodable)


def _encodable(packet: list[Any]) -> bool:
    try:
        protocol.encode_data({"packets": packet})
    except (TypeError, ValueError, OverflowError):
        return False
    return True


class ClusterManager(ClusterNode, Selector):
    """A python-socketio client manager whose operations reach every node of a cluster.

    Pass it to ``socketio.AsyncServer(client_manager=...)`` and ``await mgr.ready()`` at start
    up (it also starts by itself on first use); ``await mgr.close()`` at shutdown sends the
    leave notice and deletes the node's broker resources.

    :param transport: the broker connection (see :mod:`socketio_cloud.transports`).
    :param heartbeat_interval: seconds between heartbeats (Node ``heartbeatInterval`` 5000 ms).
    :param heartbeat_timeout: seconds of silence after which a node is considered gone
        (Node ``heartbeatTimeout`` 10000 ms).
    :param requests_timeout: default seconds to wait for other nodes' answers to
        ``fetch_sockets``, ``server_side_emit_with_ack`` and acknowledged broadcasts
        (Node: 5000 ms).
    :param callback_timeout: seconds an acknowledgement callback given to ``sio.emit``/
        ``sio.call`` for a client on another node stays registered (python-socketio's
        ``call`` default timeout is 60 s).
    :param limits: bounds for decoding untrusted broker messages.
    :param fanout: how events reach this node's clients: ``"auto"`` (a websocket frame built
        once and written to idle connections where safe, else Engine.IO's queue),
        ``"queue"`` (Engine.IO's queue only) or ``"tasks"`` (python-socketio's way, one
        task per client); see :data:`socketio_cloud.local.FANOUT_MODES`.
    :param queued_emits: when True, ``sio.emit()`` without a callback returns once the
        broadcast is queued for the broker, in order behind the node's earlier publishes,
        as Node's ``io.emit()`` does; a publish that fails afterwards is logged, counted in
        :attr:`stats` (``queued_failed``) and raised by ``await mgr.flush()``. Off by
        default: ``await sio.emit()`` then returns once the broker has the message and
        raises :class:`~socketio_cloud.exceptions.TransportError` itself. Either way,
        publishes of the same loop turn share a broker round trip where the broker allows
        it (a Redis pipeline, an SNS ``PublishBatch``). With connection state recovery on,
        broadcasts are always awaited: each needs its offset before local delivery.
    :param logger: logger to use; defaults to ``socketio_cloud.cluster``.
    :param connection_state_recovery: Node's ``connectionStateRecovery``: a client that
        reconnects within ``max_disconnection_duration`` gets its sid, rooms, session and the
        events it missed back (see :mod:`socketio_cloud.recovery`). Only transports that are a
        :class:`~socketio_cloud.transport.SessionStore` support it (Redis Streams);
        others raise :class:`~socketio_cloud.exceptions.UnsupportedFeatureError`.
    :param max_disconnection_duration: seconds a disconnected socket's session is kept
        (Node's ``maxDisconnectionDuration``, 2 minutes by default).

    Who is in the cluster is the business of a :mod:`~socketio_cloud.membership` strategy,
    chosen by the transport; pending requests live in a
    :class:`~socketio_cloud.requests.RequestTable`.
    """

    name = "socketio-cloud"

    async def _dispatch(self, message: ClusterMessage, offset: str | None = None) -> None:
        # Node's order: (own messages are dropped by the transport's Inbox), membership,
        # drop other namespaces, dispatch
        kind = message.type
        if kind in RESPONSE_TYPES:
            self._on_response(message)
            return
        namespace = message.nsp
        if self.membership.observe(message, namespace in self._namespaces):
            return
        if namespace not in self._namespaces:
            return
        if kind is MessageType.BROADCAST:
            await self._on_broadcast(message, offset)
        elif kind is MessageType.SOCKETS_JOIN:
            assert message.data is not None
            self._apply_join(namespace, message.options(), message.data["rooms"])
        elif kind is MessageType.SOCKETS_LEAVE:
            assert message.data is not None
            self._apply_leave(namespace, message.options(), message.data["rooms"])
        elif kind is MessageType.DISCONNECT_SOCKETS:
            assert message.data is not None
            await self._apply_disconnect(
                namespace, message.options(), bool(message.data.get("close", False))
            )
        elif kind is MessageType.FETCH_SOCKETS:
            self._spawn(self._answer_fetch(message))
        elif kind is MessageType.SERVER_SIDE_EMIT:
            self._spawn(self._run_server_handlers(message))

    def _on_response(self, message: ClusterMessage) -> None:
        # the same order as _dispatch: membership, drop other namespaces, then the request
        served = message.nsp in self._namespaces
        if not self.membership.observe(message, served) and served:
            self._requests.on_response(message)

    async def _on_broadcast(self, message: ClusterMessage, offset: str | None = None) -> None:
        data = message.data
        assert data is not None
        # validated: options as a map, a request id as text or absent
        opts = protocol.options_from_wire(data.get("opts"))
        event_args = data["packet"]["data"]
        request_id = data.get("requestId")
        if not isinstance(request_id, str):
            request_id = None
        if request_id is None:
            if self._recovery is not None:
                event_args = with_offset(event_args, opts, offset)
            self._deliver(message.nsp, opts, event_args, offset)
            return
        requester = message.uid
        namespace = message.nsp
        reply: Callable[[tuple[Any, ...]], None]
        if data.get(protocol.BATCH_REPLIES) is True:
            reply = _ReplyBatch(self, requester, namespace, request_id).add
        else:

            def reply(args: tuple[Any, ...]) -> None:
                response: dict[str, Any] = {"requestId": request_id}
                if args:
                    response["packet"] = args[0]
                self._respond(
                    requester,
                    ClusterMessage(MessageType.BROADCAST_ACK, self.uid, namespace, response),
                )

        # the count goes out first: the requester needs it to know how many replies to expect
        count = await self._deliver_with_ack(namespace, opts, event_args, reply)
        self._respond(
            requester,
            ClusterMessage(
                MessageType.BROADCAST_CLIENT_COUNT,
                self.uid,
                namespace,
                {"requestId": request_id, "clientCount": count},
            ),
        )

    # ------------------------------------------------------------------------ python-socketio API

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        if self._recovery is not None and namespace not in self._namespaces and self.is_ready:
            # a socket being restored must not miss what is published while the log is read
            await self._serve(namespace)
        sid: str | None = await super().pre_connect(eio_sid, namespace)
        if sid is not None and namespace not in self._namespaces and self._state == "ready":
            await self._serve(namespace)
        return sid

    async def emit(
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
        if target is None and skip_sid is None:
            opts = protocol.EVERYONE
        else:
            opts = BroadcastOptions(room_list(target), room_list(skip_sid), {})
        event_args = [event, *_event_args(data)]
        local_only = bool(kwargs.get("ignore_queue"))
        if callback is not None:
            await self._emit_with_callback(namespace, opts, event_args, callback, local_only)
            return
        if local_only:
            self._deliver(namespace, opts, event_args)
            return
        await self._broadcast(namespace, opts, event_args)

    async def _emit_with_callback(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        callback: Callable[..., Any],
        local_only: bool,
    ) -> None:
        recipients = self._select(namespace, opts)
        if recipients and self._delivery is not None:
            self._send_with_ack_ids(namespace, recipients, event_args, callback)
        if local_only or self._targets_only_local_sids(namespace, opts):
            return

        def on_reply(args: tuple[Any, ...]) -> None:
            try:
                result = callback(*args)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                self.logger.exception("acknowledgement callback failed")

        request_id = self._requests.open_ack(AckRequest(None, 0, on_reply=on_reply))
        loop = asyncio.get_running_loop()
        loop.call_later(self.callback_timeout, self._requests.close, request_id)
        await self._publish_ack_broadcast(
            namespace, opts, event_args, request_id, self.callback_timeout
        )

    def _targets_only_local_sids(self, namespace: str, opts: BroadcastOptions) -> bool:
        """Whether every target room is the sid of a socket on this node (nothing to publish)."""
        return only_sids_of(self.rooms.get(namespace), opts)

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        if self.is_connected(sid, namespace):
            return True
        await self._disconnect_sockets(namespace, BroadcastOptions((sid,)), False)
        return False

    async def enter_room(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        """Add a socket to a room, wherever in the cluster it is connected."""
        namespace = normalize_namespace(namespace)
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
            await self.transport.rooms_settled()
            return
        await self._add_sockets(namespace, BroadcastOptions((sid,)), [room])

    async def leave_room(self, sid: str, namespace: str, room: str) -> None:
        """Remove a socket from a room, wherever in the cluster it is connected."""
        namespace = normalize_namespace(namespace)
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            self.basic_leave_room(sid, namespace, room)
            return
        await self._del_sockets(namespace, BroadcastOptions((sid,)), [room])

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        """Remove every socket of the cluster from a room."""
        namespace = normalize_namespace(namespace)
        await self._del_sockets(namespace, BroadcastOptions((room,)), [room])

    # ------------------------------------------------------------------------ operations

    async def _broadcast(
        self, namespace: str, opts: BroadcastOptions, event_args: list[Any]
    ) -> None:
        if self._recovery is not None and not opts.flags.get("local"):
            await self._broadcast_logged(namespace, opts, event_args)
            return
        self._deliver(namespace, opts, event_args)
        if opts.flags.get("local") or (
            opts.rooms and self._targets_only_local_sids(namespace, opts)
        ):
            return
        message = ClusterMessage(
            MessageType.BROADCAST,
            self.uid,
            namespace,
            protocol.broadcast_data(_wire(opts), event_args),
        )
        if self.queued_emits:
            await self._publish_queued(message)
        else:
            await self._publish(message)

    async def _broadcast_logged(
        self, namespace: str, opts: BroadcastOptions, event_args: list[Any]
    ) -> None:
        """A broadcast with connection state recovery on: published first, even to sockets
        of this node only (a recovering client replays it from the log), then delivered here
        with the offset the broker gave it, as Node does."""
        message = ClusterMessage(
            MessageType.BROADCAST,
            self.uid,
            namespace,
            protocol.broadcast_data(_wire(opts), event_args),
        )
        try:
            offset = await self._publish(message)
        except (TransportError, PayloadTooLarge):
            self._deliver(namespace, opts, event_args)
            raise
        self._deliver(namespace, opts, with_offset(event_args, opts, offset), offset)

    async def _publish_ack_broadcast(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        request_id: str,
        timeout: float,
    ) -> None:
        """Publish a BROADCAST whose receivers answer with counts and client replies."""
        flags = {**opts.flags, "timeout": round(timeout * 1000)}
        wire_opts = _wire(BroadcastOptions(opts.rooms, opts.except_rooms, flags))
        data = protocol.broadcast_data(wire_opts, event_args, request_id, batch_replies=True)
        await self._publish(ClusterMessage(MessageType.BROADCAST, self.uid, namespace, data))

    async def _broadcast_with_ack(
        self,
        namespace: str,
        opts: BroadcastOptions,
        event_args: list[Any],
        timeout: float | None,
    ) -> list[Any]:
        timeout = timeout if timeout is not None else self.requests_timeout
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        local_only = bool(opts.flags.get("local"))
        if local_only:
            request = AckRequest(future, 1)
        else:
            await self._ensure_ready(namespace)
            request = AckRequest.expecting(future, await self.membership.expected(namespace))
        request_id = self._requests.open_ack(request)
        try:
            if not local_only:
                await self._publish_ack_broadcast(namespace, opts, event_args, request_id, timeout)
            count = await self._deliver_with_ack(namespace, opts, event_args, request.add_reply)
            request.add_count(self.uid, count)
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout)
            except asyncio.TimeoutError:
                raise AckTimeoutError(
                    f"{len(request.responses)} of {request.expected_clients} acknowledgements "
                    f"from {len(request.counted)} of {request.expected_servers} servers "
                    f"within {timeout} s",
                    list(request.responses),
                ) from None
        finally:
            self._requests.close(request_id)

    async def _fetch_sockets(self, namespace: str, opts: BroadcastOptions) -> list[RemoteSocket]:
        def snapshots(details: list[dict[str, Any]]) -> list[RemoteSocket]:
            return self._remote_sockets(namespace, details)

        if opts.flags.get("local"):
            return await self._use_local_socket_details(namespace, opts, snapshots)
        local: list[RemoteSocket] | None = None

        async def describe_local() -> None:
            # while the other nodes describe theirs
            nonlocal local
            local = await self._use_local_socket_details(namespace, opts, snapshots)

        responses = await self._request(
            namespace,
            MessageType.FETCH_SOCKETS,
            lambda request_id: {"opts": _wire(opts).to_wire(), "requestId": request_id},
            opts.timeout,
            FetchSocketsTimeout,
            lambda found: (local or []) + found,
            meanwhile=describe_local,
            convert=snapshots,
        )
        if local is None:  # no other node to ask
            local = await self._use_local_socket_details(namespace, opts, snapshots)
        return local + responses

    def _remote_sockets(self, namespace: str, found: list[dict[str, Any]]) -> list[RemoteSocket]:
        if len(found) < MANY_SOCKETS:
            return RemoteSocket._from_details(self, namespace, found)
        with protocol.gc_paused():
            return RemoteSocket._from_details(self, namespace, found)

    async def _request(
        self,
        namespace: str,
        kind: MessageType,
        build_data: Callable[[str], dict[str, Any]],
        timeout: float | None,
        timeout_error: type[FetchSocketsTimeout] | type[ServerSideEmitTimeout],
        partial: Callable[[list[Any]], list[Any]],
        meanwhile: Callable[[], Awaitable[None]] | None = None,
        convert: Callable[[list[Any]], list[Any]] | None = None,
    ) -> list[Any]:
        """Publish a request and wait for every other node's response; ``meanwhile`` runs
        once the request is out (not when there is no other node to ask), ``convert`` on
        each node's items as they arrive."""
        await self._ensure_ready(namespace)
        timeout = timeout if timeout is not None else self.requests_timeout
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        request = PendingRequest.expecting(
            kind, namespace, future, await self.membership.expected(namespace), convert
        )
        if request.done:
            return []
        request_id = self._requests.open(request)
        try:
            await self._publish(ClusterMessage(kind, self.uid, namespace, build_data(request_id)))
            if meanwhile is not None:
                await meanwhile()
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            waiting = (
                len(request.missing)
                if request.missing is not None
                else (request.expected - len(request.responders))
            )
            raise timeout_error(
                f"{waiting} node(s) did not answer {kind.name} within {timeout} s",
                partial(list(request.responses)),
            ) from None
        finally:
            self._requests.close(request_id)

    async def _add_sockets(self, namespace: str, opts: BroadcastOptions, rooms: list[str]) -> None:
        self._apply_join(namespace, opts, rooms)
        await self.transport.rooms_settled()
        await self._publish_room_change(MessageType.SOCKETS_JOIN, namespace, opts, rooms)

    async def _del_sockets(self, namespace: str, opts: BroadcastOptions, rooms: list[str]) -> None:
        self._apply_leave(namespace, opts, rooms)
        await self._publish_room_change(MessageType.SOCKETS_LEAVE, namespace, opts, rooms)

    async def _publish_room_change(
        self, kind: MessageType, namespace: str, opts: BroadcastOptions, rooms: list[str]
    ) -> None:
        if opts.flags.get("local") or self._targets_only_local_sids(namespace, opts):
            return
        data = {"opts": _wire(opts).to_wire(), "rooms": list(rooms)}
        await self._publish(ClusterMessage(kind, self.uid, namespace, data))

    async def _disconnect_sockets(
        self, namespace: str, opts: BroadcastOptions, close: bool
    ) -> None:
        publish = not opts.flags.get("local") and not self._targets_only_local_sids(namespace, opts)
        await self._apply_disconnect(namespace, opts, close)
        if publish:
            await self._publish(
                ClusterMessage(
                    MessageType.DISCONNECT_SOCKETS,
                    self.uid,
                    namespace,
                    {"opts": _wire(opts).to_wire(), "close": close},
                )
            )

    # ------------------------------------------------------------------------ fetch_sockets

    async def _answer_fetch(self, message: ClusterMessage) -> None:
        namespace = message.nsp

        def answer(sockets: list[dict[str, Any]]) -> None:
            data = {"requestId": message.request_id, "sockets": sockets}

            def without_session_data() -> ClusterMessage:
                # a session holds something msgpack cannot carry: report the sockets without it
                self.logger.warning(
                    "socket data of %s is not serializable; sending it empty", namespace
                )
                for socket in sockets:
                    socket["data"] = {}
                return ClusterMessage(MessageType.FETCH_SOCKETS_RESPONSE, self.uid, namespace, data)

            # encoded once, by the transport; only a failure to encode builds the fallback
            self._respond(
                message.uid,
                ClusterMessage(MessageType.FETCH_SOCKETS_RESPONSE, self.uid, namespace, data),
                unencodable=without_session_data,
            )

        await self._use_local_socket_details(namespace, message.options(), answer)

    async def fetch_sockets(
        self,
        to: str | Iterable[str] | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> list[RemoteSocket]:
        """Every socket of the cluster in ``to`` (rooms or sids; all when omitted).

        Raises :class:`~socketio_cloud.exceptions.FetchSocketsTimeout` (with the sockets found
        in ``responses``) when a node does not answer in time.
        """
        operator = self.of(namespace or "/")
        if to is not None:
            operator = operator.to(to)
        if timeout is not None:
            operator = operator.timeout(timeout)
        return await operator.fetch_sockets()

    # ------------------------------------------------------------------------ server-side emit

    def on_server_event(self, event: str, namespace: str = "/") -> Callable[[Handler], Handler]:
        """Decorator registering a handler for events other servers send with
        :meth:`server_side_emit`. The handler gets the event's arguments; for
        :meth:`server_side_emit_with_ack` its return value (awaited if a coroutine) is the
        reply of this server."""
        namespace = normalize_namespace(namespace)

        def register(func: Handler) -> Handler:
            self._server_events.add(namespace, event, func)
            if self._state == "ready" and namespace not in self._namespaces:
                self._spawn(self._serve(namespace))
            return func

        return register

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event to the other servers of the cluster (not to clients)."""
        namespace = normalize_namespace(namespace)
        await self._publish(
            ClusterMessage(
                MessageType.SERVER_SIDE_EMIT, self.uid, namespace, {"packet": [event, *args]}
            )
        )

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, namespace: str = "/", timeout: float | None = None
    ) -> list[Any]:
        """Send an event to the other servers and return each one's reply.

        Raises :class:`~socketio_cloud.exceptions.ServerSideEmitTimeout` (with the replies
        that came in time in ``responses``) when a server does not answer in time.
        """
        namespace = normalize_namespace(namespace)
        return await self._request(
            namespace,
            MessageType.SERVER_SIDE_EMIT,
            lambda request_id: {"requestId": request_id, "packet": [event, *args]},
            timeout,
            ServerSideEmitTimeout,
            lambda replies: replies,
        )

    async def _run_server_handlers(self, message: ClusterMessage) -> None:
        assert message.data is not None
        event, *args = message.data["packet"]
        reply = await self._server_events.run(message.nsp, event, args)
        request_id = message.request_id
        if request_id is None or reply is NO_REPLY:
            return
        response: dict[str, Any] = {"requestId": request_id}
        if reply is not None:
            response["packet"] = reply
        self._respond(
            message.uid,
            ClusterMessage(MessageType.SERVER_SIDE_EMIT_RESPONSE, self.uid, message.nsp, response),
        )

    # ------------------------------------------------------------------------ fluent selector

    @property
    def _root(self) -> BroadcastOperator:
        return BroadcastOperator(self)


def _wire(opts: BroadcastOptions) -> BroadcastOptions:
    """Options as published: ``local`` never travels."""
    if "local" not in opts.flags:
        return opts
    flags = {k: v for k, v in opts.flags.items() if k != "local"}
    return BroadcastOptions(opts.rooms, opts.except_rooms, flags)
