"""The transport contract: what a broker implements and what the cluster core relies on.

A transport only moves bytes. It creates the node's queue or subscription, publishes cluster
messages in its broker's framing, hands every received message to the core and deletes what
it created when it closes. What a message means, who is alive and how long to wait is the
core's business (:mod:`socketio_cloud.cluster`); what every broker needs besides its own
calls (backoff, link state, decoding and delivering, payload offload) is in
:mod:`socketio_cloud.runtime` and :mod:`socketio_cloud.offload`.

Dependencies run one way: brokers (``socketio_cloud.transports.*``) import this module and
the runtime; the core imports this module and never a broker.

The guarantees every transport gives, checked for each broker by the transport contract suite
(``tests/contract``):

1. :meth:`Transport.start` returns only once a message another node publishes after it
   returned reaches ``on_message``.
2. :meth:`Transport.publish` reaches every other started node of the cluster (serving the
   message's namespace), and never the publisher itself.
3. :meth:`Transport.publish_response` reaches the requester only.
4. Malformed input is dropped (logged at a bounded rate) and consumption goes on.
5. :attr:`Transport.connected` turns False on the first failed publish or receive and True
   again on the next success.
6. :meth:`Transport.close` is idempotent and deletes the node's broker resources;
   :meth:`Transport.abort` leaves them behind, as a crashed process does.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from .protocol import DEFAULT_LIMITS, ClusterMessage, Limits

__all__ = [
    "MembershipKind",
    "MessageHandler",
    "MissedPackets",
    "Session",
    "SessionStore",
    "Transport",
]

MessageHandler = Callable[[ClusterMessage, "str | None"], Awaitable[None]]
"""Called by a transport for every message it receives: ``(message, offset)``.

The core's handler never raises; a transport awaits it without a ``try``.
"""

MembershipKind = Literal["heartbeats", "broker"]
"""How the core learns which nodes are alive.

``"heartbeats"``: nodes announce themselves and send heartbeats (Node's
``ClusterAdapterWithHeartbeat``). ``"broker"``: the broker counts the nodes serving a namespace
(Redis ``PUBSUB NUMSUB``); the transport implements :meth:`Transport.server_count` and the core
publishes no heartbeat-class message at all.
"""


class Transport(abc.ABC):
    """One broker connection of one node (or of an emitter).

    Lifecycle: :meth:`start` once (or :meth:`open_publisher` for an emitter), then any number
    of :meth:`publish` / :meth:`publish_response` calls, then :meth:`close` (graceful: the
    node's resources are deleted) or :meth:`abort` (the node vanishes as if it had died).
    """

    #: How cluster membership is kept on this broker.
    membership: ClassVar[MembershipKind] = "heartbeats"

    #: Short broker name for logs and rejection counters (``"aws"``, ``"redis-streams"``).
    broker: ClassVar[str] = "broker"

    #: Bounds for decoding untrusted input; a transport refuses to publish what receivers
    #: would drop (:class:`~socketio_cloud.exceptions.PayloadTooLarge`).
    limits: Limits = DEFAULT_LIMITS

    #: The largest message this transport publishes, in bytes as its broker counts them
    #: (with a payload-offload store: the largest that can be offloaded). None: unbounded.
    max_message_size: int | None = None

    #: Responses the core may publish at the same time. A pool of connections bounds it
    #: (the default); a transport that pipelines its commands on one connection sets more,
    #: so that many responses share a round trip.
    concurrent_responses: ClassVar[int] = 16

    # the last message queued by the default publish_soon()
    _last_queued: asyncio.Future[str | None] | None = None

    @abc.abstractmethod
    async def start(self, uid: str, on_message: MessageHandler) -> None:
        """Create the node's per-node resources and begin consuming (guarantee 1).

        Messages the transport cannot decode are dropped through the runtime's
        :class:`~socketio_cloud.runtime.Inbox`; consumption goes on.
        """

    @abc.abstractmethod
    async def publish(self, message: ClusterMessage) -> str | None:
        """Send a message to every other node; return the broker offset if it has one.

        Raises :class:`~socketio_cloud.exceptions.TransportError` when the broker cannot be
        reached and :class:`~socketio_cloud.exceptions.PayloadTooLarge` when the message
        cannot be carried.
        """

    def publish_soon(self, message: ClusterMessage) -> asyncio.Future[str | None]:
        """Queue ``message`` to be published after every message queued before it; the
        future holds :meth:`publish`'s result or error. Errors that make the message
        impossible to send at all (:class:`~socketio_cloud.exceptions.PayloadTooLarge`) may
        be raised at once.

        The default publishes one message at a time, each after the previous one finished;
        transports that can send several at once (a pipeline, a batch call) override it.
        """
        previous = getattr(self, "_last_queued", None)

        async def publish_after_previous() -> str | None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            return await self.publish(message)

        queued = asyncio.ensure_future(publish_after_previous())
        self._last_queued = queued
        return queued

    @abc.abstractmethod
    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        """Send a response to the node ``requester_uid`` only (guarantee 3)."""

    def publish_response_soon(
        self,
        requester_uid: str,
        message: ClusterMessage,
        on_error: Callable[[BaseException], None],
    ) -> bool:
        """Queue a response as :meth:`publish_response` would send it and return at once;
        ``on_error`` is called with the error if it cannot be sent later. Errors that make
        it impossible to send at all (``TypeError``/``ValueError`` from encoding,
        :class:`~socketio_cloud.exceptions.PayloadTooLarge`) may be raised at once.

        For transports that queue their commands anyway (a pipeline, a batch call): a
        broadcast with acknowledgements answers once per client, and this spares the core a
        task (and the broker client a future) per answer. The default returns False: the
        core then calls :meth:`publish_response` from at most
        :attr:`concurrent_responses` workers.
        """
        return False

    async def open_publisher(self) -> None:  # noqa: B027 - optional hook
        """Prepare for publishing only, without per-node resources (used by emitters).

        Called once before the first :meth:`publish` of an emitter; :meth:`start` implies it.
        """

    async def add_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """Called once for each namespace the node serves, before its first publish there.

        Transports that route by namespace (a channel per namespace) subscribe here.
        """

    async def remove_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """The node stops serving ``namespace`` (no local client or handler for a while).

        Transports that subscribe per namespace unsubscribe here; on a broker that counts
        subscribers, the node must no longer be counted for it.
        """

    def room_created(self, namespace: str, room: str) -> None:  # noqa: B027 - optional hook
        """A room of ``namespace`` got its first local member (sids included).

        Called synchronously by the core; brokers that route by room (AMQP bindings) start
        subscribing here and let :meth:`rooms_settled` wait for it.
        """

    def room_deleted(self, namespace: str, room: str) -> None:  # noqa: B027 - optional hook
        """The last local member of a room left."""

    async def rooms_settled(self) -> None:  # noqa: B027 - optional hook
        """Return once the broker routes to this node every room created so far.

        Awaited by ``enter_room`` and ``sockets_join`` before they return, so that a
        broadcast sent after a join reaches the new member.
        """

    async def recheck(self) -> None:  # noqa: B027 - optional hook
        """The core suspects this node receives nothing: every other node went silent at
        once. Verify the node's broker resources (a subscription deleted behind its back)
        and restore what is missing; cheap when all is well."""

    async def server_count(self, namespace: str) -> int:
        """Nodes serving ``namespace``, self included (``membership = "broker"`` only)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no broker-side membership")

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consuming and delete the per-node resources. Idempotent."""

    async def abort(self) -> None:
        """Stop consuming without any cleanup, as a crashed process would.

        The default just closes; transports whose resources outlive a crash override it so
        that tests and the cleanup can see what a dead node leaves behind.
        """
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether the transport reaches its broker (guarantee 5)."""
        return True

    @property
    def stats(self) -> Mapping[str, int]:
        """Counters of broker calls and notable events, by name (empty when not counted)."""
        return {}


@dataclass
class Session:
    """What a disconnected socket leaves behind for connection state recovery, as Node's
    ``socket.persistSession`` stores it: the socket id, the private session id the client
    reconnects with, its rooms (its own sid included) and its data (python-socketio's
    session, Node's ``socket.data``)."""

    sid: str
    pid: str
    rooms: list[str]
    data: Any = None


@dataclass
class MissedPackets:
    """The broadcasts a session missed: each one's event arguments ending with its offset, in
    order, and the offset of the last log entry read (everything up to it was looked at)."""

    packets: list[list[Any]]
    last_offset: str


class SessionStore(abc.ABC):
    """What a transport offers when its broker can support connection state recovery: it
    keeps sessions for a while and can replay what a socket missed since an offset.

    Only brokers with an ordered, replayable log of broadcasts and an offset per message can
    (Redis Streams). A :class:`Transport` that is not a ``SessionStore`` cannot be used with
    ``connection_state_recovery=True``.
    """

    @abc.abstractmethod
    async def save_session(self, namespace: str, session: Session, ttl: float) -> None:
        """Keep ``session`` for ``ttl`` seconds, under its ``pid``."""

    @abc.abstractmethod
    async def take_session(self, namespace: str, pid: str, offset: str) -> Session | None:
        """Read and delete the session ``pid`` at once; None when it expired or when
        ``offset`` is not (or no longer) in the log, and the client gets a fresh session.

        Raises :class:`~socketio_cloud.exceptions.TransportError` when the broker cannot be
        reached and :class:`~socketio_cloud.exceptions.DecodeError` for a stored value that
        is not a session.
        """

    @abc.abstractmethod
    async def missed_packets(self, namespace: str, session: Session, offset: str) -> MissedPackets:
        """The broadcasts of ``namespace`` logged after ``offset`` that targeted the
        session's rooms (:func:`socketio_cloud.recovery.missed_args`).

        Raises :class:`~socketio_cloud.exceptions.TransportError` when the broker cannot be
        reached.
        """
