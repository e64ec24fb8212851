"""An in-process bus: several nodes in one event loop, for tests and single-process setups.

Messages still go through the msgpack codec, so the memory transport exercises the same
encoding and validation as the real brokers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .. import protocol
from ..cluster import ClusterManager
from ..emitter import Emitter
from ..exceptions import PayloadTooLarge, TransportError
from ..protocol import ClusterMessage
from ..runtime import Inbox
from ..tasks import cancel_and_wait
from ..transport import MessageHandler, Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..cluster import ClusterOptions

__all__ = ["MemoryBus", "MemoryEmitter", "MemoryManager", "MemoryTransport"]

logger = logging.getLogger("socketio_cloud.transports.memory")


class MemoryBus:
    """The broker: delivers each published message to every other attached node.

    :param max_queue: messages a node may have waiting before further ones are dropped
        (with a warning), so a stuck node cannot exhaust memory.
    """

    def __init__(self, *, max_queue: int = 100_000) -> None:
        self.max_queue = max_queue
        self._nodes: dict[str, MemoryTransport] = {}
        self.published = 0
        self.delivered = 0

    def _attach(self, uid: str, transport: MemoryTransport) -> None:
        self._nodes[uid] = transport

    def _detach(self, uid: str) -> None:
        self._nodes.pop(uid, None)

    @property
    def uids(self) -> list[str]:
        """The uids of the attached nodes."""
        return list(self._nodes)

    def send(self, raw: bytes, *, sender: str | None = None, to: str | None = None) -> None:
        """Deliver encoded bytes to one node (``to``) or to every node but ``sender``.

        Tests use it to put arbitrary, even malformed, bytes on the bus.
        """
        self.published += 1
        if to is not None:
            node = self._nodes.get(to)
            if node is not None:
                node._enqueue(raw)
            return
        for uid, node in list(self._nodes.items()):
            if uid != sender:
                node._enqueue(raw)


class MemoryTransport(Transport):
    """A node's connection to a :class:`MemoryBus`."""

    broker = "memory"

    def __init__(self, bus: MemoryBus, *, limits: protocol.Limits | None = None) -> None:
        self.bus = bus
        self.limits = limits or protocol.DEFAULT_LIMITS
        self.max_message_size = self.limits.max_message_size
        self._uid: str | None = None
        self._queue: asyncio.Queue[bytes] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        self._uid = uid
        self._queue = asyncio.Queue(self.bus.max_queue)
        self.bus._attach(uid, self)
        self._consumer = asyncio.ensure_future(self._consume(Inbox("memory", on_message, uid=uid)))

    def _enqueue(self, raw: bytes) -> None:
        assert self._queue is not None
        try:
            self._queue.put_nowait(raw)
        except asyncio.QueueFull:
            logger.warning("node %s is not keeping up; message dropped", self._uid)

    async def _consume(self, inbox: Inbox) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            raw = await queue.get()
            self.bus.delivered += 1
            await inbox.accept(
                lambda: protocol.decode(raw, limits=self.limits),  # noqa: B023
                size=len(raw),
            )

    async def publish(self, message: ClusterMessage) -> str | None:
        self.bus.send(self._encode(message), sender=message.uid)
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        self.bus.send(self._encode(message), to=requester_uid)

    def _encode(self, message: ClusterMessage) -> bytes:
        self._check_open()
        raw = protocol.encode(message)
        limit = self.limits.max_message_size
        if len(raw) > limit:
            raise PayloadTooLarge(len(raw), limit, "receivers would drop it")
        return raw

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the memory transport is closed")

    @property
    def connected(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        if self._uid is not None:
            self.bus._detach(self._uid)
        if self._consumer is not None:
            await cancel_and_wait([self._consumer])


class MemoryManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` on an in-process :class:`MemoryBus`.

    >>> bus = MemoryBus()
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=MemoryManager(bus=bus))

    :param bus: the bus shared by the nodes of the cluster (default: a bus of its own).

    The other options are the cluster options of :class:`~socketio_cloud.cluster.ClusterManager`.
    """

    transport: MemoryTransport

    def __init__(self, *, bus: MemoryBus | None = None, **cluster: Unpack[ClusterOptions]) -> None:
        limits = cluster.get("limits")
        super().__init__(MemoryTransport(bus or MemoryBus(), limits=limits), **cluster)


class MemoryEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` on a :class:`MemoryBus`."""

    def __init__(self, bus: MemoryBus, *, namespace: str = "/") -> None:
        super().__init__(MemoryTransport(bus), namespace=namespace)
