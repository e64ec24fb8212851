"""Cluster membership: which other nodes serve a namespace, and when one leaves.

Two strategies, chosen by the transport's declaration (:data:`Transport.membership
<socketio_cloud.transport.Transport.membership>`):

- :class:`HeartbeatMembership` (``"heartbeats"``, Node's ``ClusterAdapterWithHeartbeat``):
  each node announces every namespace it serves (INITIAL_HEARTBEAT), answers announcements
  with a HEARTBEAT, heartbeats while silent and says goodbye (ADAPTER_CLOSE) when it closes.
  A node silent for ``heartbeat_timeout`` is dropped. Requests wait for the uids known when
  they were sent.
- :class:`BrokerMembership` (``"broker"``, Redis ``PUBSUB NUMSUB``): the broker counts the
  nodes serving a namespace; no heartbeat-class message is ever published, and requests
  wait for that many answers.

Only heartbeat-class messages (1, 2, 13) change the membership: a response or a broadcast
from an unknown uid adds nobody, so forged traffic cannot inflate the count beyond what a
forger could do with heartbeats, and the number of tracked nodes per namespace is bounded
(``max_nodes``). Nodes that vanish are logged in one line per sweep, not one per node.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

from .protocol import EMITTER_UID, ClusterMessage, MessageType
from .tasks import TaskSet
from .transport import Transport

__all__ = [
    "HEARTBEAT_TYPES",
    "BrokerMembership",
    "Expected",
    "HeartbeatMembership",
    "Membership",
    "membership_for",
]

HEARTBEAT_TYPES: Final = frozenset(
    {MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT, MessageType.ADAPTER_CLOSE}
)

Expected = frozenset[str] | int
"""Whom a request waits for: the uids of the other nodes, or how many answers."""

NodeLeft = Callable[[str, str], None]
"""Called with ``(namespace, uid)`` when a node leaves or is declared gone."""


class Membership(abc.ABC):
    """The cluster's nodes as seen by one node, per namespace it serves."""

    def __init__(self, uid: str, transport: Transport, *, logger: logging.Logger) -> None:
        self.uid = uid
        self.transport = transport
        self.logger = logger
        self.on_node_left: NodeLeft = lambda namespace, uid: None
        #: Called when every other node went silent at once: more likely this node stopped
        #: receiving than the whole cluster died.
        self.on_silence: Callable[[], None] = lambda: None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """The transport is started: begin whatever loops the strategy needs."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop the loops (the node closes or aborts)."""

    async def join(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """The node starts serving ``namespace`` (the transport already subscribed)."""

    async def leave(self, namespaces: Iterable[str]) -> None:  # noqa: B027 - optional hook
        """The node leaves the cluster gracefully."""

    async def forget(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """The node stops serving ``namespace``."""

    def published(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """The node just published a (non-response) message in ``namespace``."""

    def observe(self, message: ClusterMessage, served: bool) -> bool:
        """Take note of a received message from another node; True when it was a
        membership message that needs no further handling. ``served``: whether this node
        serves the message's namespace."""
        return message.type in HEARTBEAT_TYPES

    @abc.abstractmethod
    async def server_count(self, namespace: str) -> int:
        """Servers serving ``namespace``, this one included."""

    @abc.abstractmethod
    async def expected(self, namespace: str) -> Expected:
        """Whom a request published now in ``namespace`` must wait for."""


class HeartbeatMembership(Membership):
    """Membership by heartbeats, as Node's ``ClusterAdapterWithHeartbeat``.

    :param heartbeat_interval: seconds between heartbeats of a silent namespace.
    :param heartbeat_timeout: seconds of silence after which a node counts as gone.
    :param max_nodes: nodes tracked per namespace at most; announcements from further uids
        are ignored (and logged at a bounded rate).
    """

    def __init__(
        self,
        uid: str,
        transport: Transport,
        *,
        heartbeat_interval: float,
        heartbeat_timeout: float,
        max_nodes: int = 1000,
        logger: logging.Logger,
    ) -> None:
        super().__init__(uid, transport, logger=logger)
        if heartbeat_interval <= 0 or heartbeat_timeout <= heartbeat_interval:
            raise ValueError("need 0 < heartbeat_interval < heartbeat_timeout")
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.max_nodes = max_nodes
        self._nodes: dict[str, dict[str, float]] = {}
        self._namespaces: set[str] = set()
        self._last_publish: dict[str, float] = {}
        self._loops = TaskSet("membership")
        self._replies = TaskSet("membership")
        self._overflow_logged = 0.0

    def nodes(self, namespace: str) -> frozenset[str]:
        """The other nodes known to serve ``namespace``."""
        return frozenset(self._nodes.get(namespace, ()))

    async def start(self) -> None:
        self._loops.spawn(self._heartbeat_loop(), name="heartbeats")
        self._loops.spawn(self._sweep_loop(), name="heartbeat sweep")
        for namespace in sorted(self._namespaces):
            await self._send(MessageType.INITIAL_HEARTBEAT, namespace)

    async def stop(self) -> None:
        await self._loops.stop()
        await self._replies.stop()

    async def join(self, namespace: str) -> None:
        self._namespaces.add(namespace)
        if len(self._loops):  # started: announce now; otherwise start() does
            await self._send(MessageType.INITIAL_HEARTBEAT, namespace)

    async def leave(self, namespaces: Iterable[str]) -> None:
        for namespace in sorted(namespaces):
            try:
                await self.transport.publish(
                    ClusterMessage(MessageType.ADAPTER_CLOSE, self.uid, namespace)
                )
            except Exception as exc:
                self.logger.warning("could not announce close for %s: %s", namespace, exc)

    async def forget(self, namespace: str) -> None:
        self._namespaces.discard(namespace)
        self._last_publish.pop(namespace, None)
        self._nodes.pop(namespace, None)
        await self.leave([namespace])

    def published(self, namespace: str) -> None:
        self._last_publish[namespace] = time.time()

    def observe(self, message: ClusterMessage, served: bool) -> bool:
        kind = message.type
        if kind not in HEARTBEAT_TYPES or message.uid == EMITTER_UID:
            return kind in HEARTBEAT_TYPES
        namespace = message.nsp
        if kind is MessageType.ADAPTER_CLOSE:
            if message.uid in self._nodes.get(namespace, ()):
                self.logger.info("node %s left (%s)", message.uid, namespace)
                self._remove(namespace, message.uid)
            return True
        if not served:
            # Node keeps one adapter per namespace it has: a namespace that only others
            # announce is none of this node's business (and must not make it serve one)
            return True
        self._record(namespace, message.uid)
        if kind is MessageType.INITIAL_HEARTBEAT:
            self._replies.spawn(self._send(MessageType.HEARTBEAT, namespace))
        return True

    async def server_count(self, namespace: str) -> int:
        return 1 + len(self._nodes.get(namespace, ()))

    async def expected(self, namespace: str) -> Expected:
        return self.nodes(namespace)

    def _record(self, namespace: str, uid: str) -> None:
        nodes = self._nodes.setdefault(namespace, {})
        if uid not in nodes and len(nodes) >= self.max_nodes:
            now = time.monotonic()
            if now - self._overflow_logged >= 60:
                self._overflow_logged = now
                self.logger.warning(
                    "more than %d nodes announce %s; ignoring the others", self.max_nodes, namespace
                )
            return
        nodes[uid] = time.monotonic()

    def _remove(self, namespace: str, uid: str) -> None:
        if self._nodes.get(namespace, {}).pop(uid, None) is not None:
            self.on_node_left(namespace, uid)

    async def _send(self, kind: MessageType, namespace: str) -> None:
        self._last_publish[namespace] = time.time()
        try:
            await self.transport.publish(ClusterMessage(kind, self.uid, namespace))
        except Exception as exc:
            self.logger.warning("could not publish %s: %s", kind.name, exc)

    async def _heartbeat_loop(self) -> None:
        # Heartbeats go out on a wall-clock grid shared by every node (multiples of the
        # interval), so that each node's queue receives the others' heartbeats together and
        # brokers billed per receive can fetch them in one call. A namespace is skipped at a
        # tick when it published in the last quarter interval; the longest silence is then
        # 1.25 intervals (Node's one-shot timer: 1), well below the timeout at which Node
        # peers drop a silent node.
        interval = self.heartbeat_interval
        slack = min(interval / 4, (self.heartbeat_timeout - interval) / 4)
        while True:
            now = time.time()
            tick = (now // interval + 1) * interval
            await asyncio.sleep(tick - now)
            for namespace in sorted(self._namespaces):
                if self._last_publish.get(namespace, 0.0) <= tick - slack:
                    await self._send(MessageType.HEARTBEAT, namespace)

    async def _sweep_loop(self) -> None:
        period = min(1.0, self.heartbeat_timeout / 4)
        while True:
            await asyncio.sleep(period)
            deadline = time.monotonic() - self.heartbeat_timeout
            gone = [
                (namespace, uid)
                for namespace, nodes in self._nodes.items()
                for uid, last_seen in nodes.items()
                if last_seen < deadline
            ]
            if not gone:
                continue
            uids = sorted({uid for _, uid in gone})
            shown = ", ".join(uids[:5]) + (f" and {len(uids) - 5} more" if len(uids) > 5 else "")
            self.logger.info("%d node(s) seem down: %s", len(uids), shown)
            for namespace, uid in gone:
                self._remove(namespace, uid)
            if not any(self._nodes.values()):
                self.logger.info("every other node went silent; checking this node's receiving")
                self.on_silence()


class BrokerMembership(Membership):
    """Membership counted by the broker (``Transport.server_count``): no heartbeats."""

    async def server_count(self, namespace: str) -> int:
        return await self.transport.server_count(namespace)

    async def expected(self, namespace: str) -> Expected:
        return await self.transport.server_count(namespace) - 1


def membership_for(
    uid: str,
    transport: Transport,
    *,
    heartbeat_interval: float,
    heartbeat_timeout: float,
    logger: logging.Logger,
) -> Membership:
    """The strategy the transport declares."""
    if transport.membership == "broker":
        return BrokerMembership(uid, transport, logger=logger)
    return HeartbeatMembership(
        uid,
        transport,
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        logger=logger,
    )
