"""A node's place in the cluster: starting and leaving, the namespaces it serves, publishing,
and the entry point of everything its transport receives.

:class:`ClusterNode` owns the transport, the membership strategy
(:mod:`socketio_cloud.membership`), the table of pending requests
(:mod:`socketio_cloud.requests`) and the server-event handlers
(:mod:`socketio_cloud.server_events`). What messages mean and the cluster operations are
:class:`~socketio_cloud.cluster.ClusterManager`'s.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable

from . import compat, protocol
from .exceptions import NotReadyError, PayloadTooLarge, TransportError, UnsupportedFeatureError
from .local import Fanout, LocalManager
from .membership import membership_for
from .operators import normalize_namespace
from .protocol import ClusterMessage
from .recovery import DEFAULT_MAX_DISCONNECTION_DURATION, ConnectionRecovery
from .requests import RequestTable
from .runtime import CoreHandler
from .server_events import ServerEvents
from .tasks import cancel_and_wait
from .transport import SessionStore, Transport

__all__ = ["MAX_CONCURRENT_RESPONSES", "ClusterNode"]

#: Responses a node publishes at the same time, at most (unless its transport says more:
#: :attr:`~socketio_cloud.transport.Transport.concurrent_responses`).
MAX_CONCURRENT_RESPONSES = 16

# Started nodes not closed yet: told about at interpreter exit (see _warn_unclosed).
_open_nodes: weakref.WeakSet[ClusterNode] = weakref.WeakSet()


@atexit.register
def _warn_unclosed_at_exit() -> None:
    for node in list(_open_nodes):
        node._warn_unclosed("the interpreter exits")


class ClusterNode(LocalManager):
    """The lifecycle and plumbing of a cluster node; see
    :class:`~socketio_cloud.cluster.ClusterManager` for its options and its operations."""

    def __init__(
        self,
        transport: Transport,
        *,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
        requests_timeout: float = 5.0,
        callback_timeout: float = 60.0,
        fanout: Fanout = "auto",
        queued_emits: bool = False,
        limits: protocol.Limits | None = None,
        logger: logging.Logger | None = None,
        connection_state_recovery: bool = False,
        max_disconnection_duration: float = DEFAULT_MAX_DISCONNECTION_DURATION,
    ) -> None:
        super().__init__(fanout=fanout, logger=logger)
        self.transport = transport
        if connection_state_recovery:
            if not isinstance(transport, SessionStore):
                raise UnsupportedFeatureError(
                    f"connection state recovery needs a broker that keeps an ordered log of "
                    f"broadcasts with offsets (Redis Streams); {type(transport).__name__} "
                    "cannot store sessions or replay missed packets"
                )
            self._recovery = ConnectionRecovery(transport, max_disconnection_duration)
        self.uid = protocol.new_uid()
        self.membership = membership_for(
            self.uid,
            transport,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            logger=self.logger,
        )
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.requests_timeout = requests_timeout
        self.callback_timeout = callback_timeout
        self.queued_emits = queued_emits
        self._counts: Counter[str] = Counter()
        # publishes queued by emits that did not wait for them, and their errors since flush()
        self._queued: set[asyncio.Future[str | None]] = set()
        self._queued_failures = 0
        self._first_queued_error: BaseException | None = None
        self.limits = limits or protocol.DEFAULT_LIMITS
        self._state = "new"
        self._ready_lock = asyncio.Lock()
        self._responses: deque[tuple[str, ClusterMessage, Callable[[], ClusterMessage] | None]] = (
            deque()
        )
        self._response_workers = 0
        self._response_error_handlers: dict[
            protocol.MessageType, Callable[[BaseException], None]
        ] = {}
        self._max_response_workers = max(MAX_CONCURRENT_RESPONSES, transport.concurrent_responses)
        self._namespaces: set[str] = set()
        #: A namespace other than "/" with no local client, handler or operation for this
        #: long stops being served (Node's ``cleanupEmptyChildNamespaces``), so the set of
        #: served namespaces stays bounded by what this node really uses.
        self.namespace_idle_timeout = max(60.0, 6 * heartbeat_timeout)
        self._namespace_used: dict[str, float] = {}
        self._requests = RequestTable()
        self.membership.on_node_left = self._requests.node_left
        self.membership.on_silence = self._recheck_transport
        self._server_events = ServerEvents(self.logger)
        # brokers that route by room learn of the node's local rooms
        self.on("create-room", transport.room_created)
        self.on("delete-room", transport.room_deleted)

    # ------------------------------------------------------------------------ lifecycle

    def initialize(self) -> None:
        """Called by python-socketio on the first connection: start if nobody did."""
        super().initialize()
        if self._state == "new":
            self._spawn(self.ready())

    @property
    def is_ready(self) -> bool:
        """Whether the node is part of the cluster."""
        return self._state == "ready"

    @property
    def connected(self) -> bool:
        """Whether the node is ready and its transport reaches the broker."""
        return self.is_ready and self.transport.connected

    async def ready(self) -> None:
        """Create the node's broker resources, start consuming and announce the node.

        Idempotent and safe to call concurrently (Node's ``adapter.init()``).
        """
        if self._state == "ready":
            return
        async with self._ready_lock:
            if self._state == "ready":
                return
            if self._state == "closed":
                raise NotReadyError("the manager was closed")
            self._state = "starting"
            try:
                await self.transport.start(
                    self.uid, CoreHandler(self._on_message, self._respond_now)
                )
                for namespace in sorted(self._served_namespaces()):
                    await self._serve(namespace)
            except BaseException:
                self._state = "new"
                raise
            self._state = "ready"
            _open_nodes.add(self)
            await self.membership.start()
            self._spawn(self._prune_namespaces())
            self.logger.info("node %s joined the cluster", self.uid)

    async def close(self) -> None:
        """Leave the cluster: tell the other nodes, stop, delete the node's resources."""
        if self._state in ("closed", "new"):
            self._state = "closed"
            return
        await self._drain()
        await self.membership.leave(self._namespaces)
        await self._stop()
        await self.transport.close()
        self.logger.info("node %s left the cluster", self.uid)

    async def abort(self) -> None:
        """Stop at once without telling anyone and without deleting broker resources, as a
        crashed process would (other nodes notice after ``heartbeat_timeout``)."""
        await self._stop()
        await self.transport.abort()

    def _recheck_transport(self) -> None:
        self._spawn(self.transport.recheck())

    def _warn_unclosed(self, why: str) -> None:
        if getattr(self, "_state", None) != "ready":
            return
        self.logger.warning(
            "node %s was never closed (%s): its %s resources stay behind until the broker "
            "expires them or the cleanup sweeps them; call `await manager.close()` at shutdown "
            "(see the README's Quick start for the lifespan wiring)",
            self.uid,
            why,
            self.transport.broker,
        )

    def __del__(self) -> None:
        self._warn_unclosed("it was garbage-collected")

    async def _stop(self) -> None:
        _open_nodes.discard(self)
        self._state = "closed"
        await self.membership.stop()
        await cancel_and_wait(self._tasks)
        self._requests.fail_all(NotReadyError("the manager was closed"))

    # ------------------------------------------------------------------------ namespaces

    def _served_namespaces(self) -> set[str]:
        served = {"/", *self._namespaces, *(ns for ns in self.rooms if ns)}
        served |= self._server_events.namespaces()
        if self.server is not None:
            served |= compat.served_namespaces(self.server)
        return served

    async def _serve(self, namespace: str) -> None:
        """Start serving a namespace: the transport subscribes, the cluster learns of it."""
        self._namespace_used[namespace] = time.monotonic()
        if namespace in self._namespaces:
            return
        self._namespaces.add(namespace)
        await self.transport.add_namespace(namespace)
        await self.membership.join(namespace)

    def _namespace_in_use(self, namespace: str) -> bool:
        if namespace == "/" or self.rooms.get(namespace, {}).get(None):
            return True
        if namespace in self._server_events.namespaces():
            return True
        return self.server is not None and namespace in compat.served_namespaces(self.server)

    async def _prune_namespaces(self) -> None:
        while True:
            await asyncio.sleep(self.namespace_idle_timeout / 2)
            now = time.monotonic()
            for namespace in sorted(self._namespaces):
                if self._namespace_in_use(namespace):
                    self._namespace_used[namespace] = now
                elif now - self._namespace_used.get(namespace, now) >= self.namespace_idle_timeout:
                    await self._unserve(namespace)

    async def _unserve(self, namespace: str) -> None:
        """Stop serving an unused namespace: the others stop counting this node for it."""
        self._namespaces.discard(namespace)
        self._namespace_used.pop(namespace, None)
        await self.membership.forget(namespace)
        try:
            await self.transport.remove_namespace(namespace)
        except Exception as exc:
            self.logger.warning("could not stop serving %s: %s", namespace, exc)
        self.logger.info(
            "namespace %s unused for %g s: no longer served", namespace, self.namespace_idle_timeout
        )

    async def server_count(self, namespace: str = "/") -> int:
        """Number of servers in the cluster serving ``namespace``, this one included."""
        namespace = normalize_namespace(namespace)
        await self._ensure_ready(namespace)
        return await self.membership.server_count(namespace)

    # ------------------------------------------------------------------------ publishing

    async def _ensure_ready(self, namespace: str) -> None:
        if self._state != "ready":
            if self._state == "closed":
                raise NotReadyError("the manager was closed")
            await self.ready()
        await self._serve(namespace)

    def _serving(self, namespace: str) -> bool:
        """Whether the node is ready and serves ``namespace`` already (which is then marked
        as used), so that publishing needs nothing awaited first."""
        if self._state == "ready" and namespace in self._namespaces:
            self._namespace_used[namespace] = time.monotonic()
            return True
        return False

    async def _publish(self, message: ClusterMessage) -> str | None:
        if not self._serving(message.nsp):
            await self._ensure_ready(message.nsp)
        self.membership.published(message.nsp)
        try:
            return await self.transport.publish(message)
        except (TransportError, PayloadTooLarge):
            raise
        except Exception as exc:
            raise TransportError(f"publish failed: {exc}") from exc

    async def _publish_queued(self, message: ClusterMessage) -> None:
        """Queue ``message`` for the broker behind the node's earlier publishes and return
        without waiting for it; a failure is logged, counted and raised by :meth:`flush`."""
        if not self._serving(message.nsp):
            await self._ensure_ready(message.nsp)
        self.membership.published(message.nsp)
        try:
            queued = self.transport.publish_soon(message)
        except (TransportError, PayloadTooLarge):
            raise
        except Exception as exc:
            raise TransportError(f"publish failed: {exc}") from exc
        self._counts["queued"] += 1
        self._queued.add(queued)
        queued.add_done_callback(self._queued_done)

    def _queued_done(self, queued: asyncio.Future[str | None]) -> None:
        self._queued.discard(queued)
        if queued.cancelled():
            error: BaseException = TransportError("a queued publish was cancelled")
        else:
            exception = queued.exception()
            if exception is None:
                return
            error = exception
        self._counts["queued_failed"] += 1
        self._queued_failures += 1
        if self._first_queued_error is None:
            # one warning until the next flush(), which reports them all
            self._first_queued_error = error
            self.logger.warning("a queued publish failed: %s", error)
        else:
            self.logger.debug("a queued publish failed: %s", error)

    async def flush(self) -> None:
        """Wait until every publish queued so far (``queued_emits``) reached the broker.

        Raises :class:`~socketio_cloud.exceptions.TransportError` if any queued publish
        failed since the previous ``flush()`` (each failure is also counted in
        :attr:`stats` as ``queued_failed`` and logged).
        """
        await self._drain()
        failures, first = self._queued_failures, self._first_queued_error
        self._queued_failures, self._first_queued_error = 0, None
        if failures:
            raise TransportError(
                f"{failures} queued publish(es) failed since the last flush; the first: {first}"
            ) from first

    async def _drain(self) -> None:
        while self._queued:
            await asyncio.wait(list(self._queued))

    @property
    def stats(self) -> dict[str, int]:
        """The node's counters (``queued``, ``queued_failed``, ``responses_failed``) and its
        transport's."""
        return {**self.transport.stats, **self._counts}

    def _respond(
        self,
        requester: str,
        message: ClusterMessage,
        *,
        unencodable: Callable[[], ClusterMessage] | None = None,
    ) -> None:
        """Publish a response in the background: the consumer must not wait on the broker.

        ``unencodable`` makes the response to send instead when ``message`` cannot be
        encoded (msgpack refuses a value in it).
        """
        on_error = self._response_error_handlers.get(message.type)
        if on_error is None:
            # one per message type, not a closure per response (which would keep each
            # message alive until its batch is sent)
            on_error = self._response_error_handlers[message.type] = functools.partial(
                self._response_failed, message.type
            )
        try:
            try:
                queued = self.transport.publish_response_soon(requester, message, on_error)
            except (TypeError, ValueError):
                if unencodable is None:
                    raise
                queued = self.transport.publish_response_soon(requester, unencodable(), on_error)
        except Exception as exc:
            self._response_failed(message.type, exc)
            return
        if queued:
            return
        # a broadcast to many clients needing acks answers once per client: a few workers
        # publish them (connection pools refuse past their size), not a task per answer
        self._responses.append((requester, message, unencodable))
        if self._response_workers < self._max_response_workers:
            self._response_workers += 1
            self._spawn(self._publish_responses())

    async def _publish_responses(self) -> None:
        try:
            while self._responses:
                requester, message, unencodable = self._responses.popleft()
                try:
                    try:
                        await self.transport.publish_response(requester, message)
                    except (TypeError, ValueError):
                        if unencodable is None:
                            raise
                        await self.transport.publish_response(requester, unencodable())
                except Exception as exc:
                    self._response_failed(message.type, exc)
        finally:
            self._response_workers -= 1

    def _response_failed(self, kind: protocol.MessageType, exc: BaseException | None) -> None:
        self._counts["responses_failed"] += 1
        self.logger.warning("could not send %s: %s", kind.name, exc)

    # ------------------------------------------------------------------------ receiving

    async def _on_message(self, message: ClusterMessage, offset: str | None = None) -> None:
        """Entry point for every message a transport receives. Never raises."""
        try:
            await self._dispatch(message, offset)
        except Exception:
            self.logger.exception(
                "error handling %s from %s (%s)", message.type.name, message.uid, message.nsp
            )

    def _respond_now(self, message: ClusterMessage) -> None:
        """Entry point for a response (types 8 to 13) a transport hands over synchronously
        (:meth:`Inbox.accept_now <socketio_cloud.runtime.Inbox.accept_now>`). Never raises."""
        try:
            self._on_response(message)
        except Exception:
            self.logger.exception(
                "error handling %s from %s (%s)", message.type.name, message.uid, message.nsp
            )

    async def _dispatch(self, message: ClusterMessage, offset: str | None = None) -> None:
        """Act on a message from another node (the cluster manager's business); ``offset``
        is where the broker logged it, if it logs messages."""
        raise NotImplementedError

    def _on_response(self, message: ClusterMessage) -> None:
        """Act on a response from another node, without waiting on anything (the cluster
        manager's business); :meth:`_dispatch` hands responses here too."""
        raise NotImplementedError
