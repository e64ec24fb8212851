"""One ClusterManager on a recording transport, with a python-socketio server but no HTTP
server: core behaviour message by message, without brokers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import socketio

from socketio_cloud.cluster import ClusterManager
from socketio_cloud.transport import MembershipKind
from tests.support.recording import RecordingTransport

PEER_A = "aaaaaaaaaaaaaaaa"
PEER_B = "bbbbbbbbbbbbbbbb"


@dataclass
class CoreNode:
    manager: ClusterManager
    transport: RecordingTransport
    sio: socketio.AsyncServer

    async def connect(self, namespace: str = "/") -> str:
        """A local socket (no real connection: enough for rooms, selection and details)."""
        eio_sid = f"eio-{len(self.manager._sid_rooms.get(namespace, {}))}"
        sid = await self.manager.connect(eio_sid, namespace)
        return str(sid)


async def start_node(membership: MembershipKind = "heartbeats", servers: int = 1) -> CoreNode:
    transport = RecordingTransport(membership, servers)
    manager = ClusterManager(
        transport, heartbeat_interval=0.2, heartbeat_timeout=0.6, requests_timeout=2
    )
    # every namespace accepted, as in the reference app: the forged-announcement case
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, namespaces="*")
    await manager.ready()
    return CoreNode(manager, transport, sio)


@pytest.fixture
async def node() -> AsyncIterator[CoreNode]:
    core = await start_node()
    try:
        yield core
    finally:
        await core.manager.close()


@pytest.fixture
async def counted_node() -> AsyncIterator[CoreNode]:
    """A node whose broker counts members (``membership = "broker"``), 3 servers."""
    core = await start_node("broker", servers=3)
    try:
        yield core
    finally:
        await core.manager.close()
