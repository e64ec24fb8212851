"""A transport that records what the core publishes and lets a test feed it messages.

Core tests use it to drive one :class:`~socketio_cloud.cluster.ClusterManager` without a
broker or a server: dispatch, requests, membership and malformed input, message by message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.transport import MembershipKind, MessageHandler, Transport


class RecordingTransport(Transport):
    """Records publishes; :meth:`feed` hands a message to the core as a broker would.

    ``membership`` is ``"heartbeats"`` unless given; with ``"broker"``, :meth:`server_count`
    answers ``servers`` (settable by the test).
    """

    broker: ClassVar[str] = "recording"

    def __init__(self, membership: MembershipKind = "heartbeats", servers: int = 1) -> None:
        self.membership = membership  # type: ignore[misc]  # a per-instance choice in tests
        self.servers = servers
        self.published: list[ClusterMessage] = []
        self.responses: list[tuple[str, ClusterMessage]] = []
        self.namespaces: list[str] = []
        self.uid = ""
        self.started = self.closed = self.aborted = False
        self._on_message: MessageHandler | None = None
        self._new_publish = asyncio.Event()

    async def start(self, uid: str, on_message: MessageHandler) -> None:
        self.uid = uid
        self._on_message = on_message
        self.started = True

    async def publish(self, message: ClusterMessage) -> str | None:
        self.published.append(message)
        self._new_publish.set()
        return None

    async def publish_response(self, requester_uid: str, message: ClusterMessage) -> None:
        self.responses.append((requester_uid, message))
        self._new_publish.set()

    async def add_namespace(self, namespace: str) -> None:
        self.namespaces.append(namespace)

    async def server_count(self, namespace: str) -> int:
        return self.servers

    async def close(self) -> None:
        self.closed = True

    async def abort(self) -> None:
        self.aborted = True

    @property
    def stats(self) -> Mapping[str, int]:
        return {"published": len(self.published), "responses": len(self.responses)}

    async def feed(
        self, kind: MessageType, uid: str, nsp: str = "/", data: dict[str, Any] | None = None
    ) -> None:
        """Deliver a message from node ``uid`` to the core, and let it act on it."""
        assert self._on_message is not None, "start the manager first"
        await self._on_message(ClusterMessage(kind, uid, nsp, data), None)
        # let the tasks the message started (responses, handlers) run
        for _ in range(5):
            await asyncio.sleep(0)

    def of_type(self, kind: MessageType) -> list[ClusterMessage]:
        return [message for message in self.published if message.type is kind]

    def responses_of_type(self, kind: MessageType) -> list[tuple[str, ClusterMessage]]:
        return [(to, message) for to, message in self.responses if message.type is kind]

    async def wait_for_publish(self, kind: MessageType, count: int = 1) -> ClusterMessage:
        """The ``count``-th published message of ``kind``, once it is published (5 s max)."""

        async def arrived() -> ClusterMessage:
            while len(self.of_type(kind)) < count:
                self._new_publish.clear()
                await self._new_publish.wait()
            return self.of_type(kind)[count - 1]

        return await asyncio.wait_for(arrived(), 5)
