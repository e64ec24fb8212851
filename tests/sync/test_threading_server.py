"""Plain ``socketio.Server`` (threading mode, no Flask) with sync managers, two nodes in
this process on Redis Streams: the sync face of the cluster API (operators, remote
sockets, server-side events, timeouts) and its errors.

Blocking manager calls run in worker threads: the clients' event loop must keep serving.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import socketio

from socketio_cloud import sync
from socketio_cloud.exceptions import ServerSideEmitTimeout
from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.support.services import free_port, wait_until

pytest.importorskip("simple_websocket", reason="the flask extra is not installed")
from werkzeug.serving import make_server

pytestmark = [pytest.mark.sync, pytest.mark.redis, pytest.mark.timeout(60)]


@dataclass
class SyncNode:
    sio: socketio.Server
    manager: sync.SyncClusterManager
    port: int
    stop: Any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_sync_node(stream: str) -> SyncNode:
    manager = sync.RedisStreamsManager(
        url=REDIS_URL, stream_name=stream, channel_prefix=stream, heartbeat_interval=1
    )
    sio = socketio.Server(async_mode="threading", client_manager=manager)
    port = free_port()
    server = make_server("127.0.0.1", port, socketio.WSGIApp(sio), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    manager.ready()

    def stop() -> None:
        manager.close()
        server.shutdown()
        thread.join(10)

    return SyncNode(sio, manager, port, stop)


@pytest.fixture(scope="module")
def sync_nodes() -> Iterator[tuple[SyncNode, SyncNode]]:
    require_redis()
    stream = f"sio-sync-{secrets.token_hex(4)}"
    nodes = [start_sync_node(stream) for _ in range(2)]
    try:
        deadline = time.monotonic() + 15
        while any(node.manager.server_count() != 2 for node in nodes):
            assert time.monotonic() < deadline, "the nodes did not see each other"
            time.sleep(0.1)
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()
        for node in nodes:
            assert not node.manager._loop_thread.running
            assert node.manager._inbox is None or node.manager._inbox.closed
        redis.Redis.from_url(REDIS_URL).delete(stream)


@dataclass
class Client:
    sio: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid()
        assert sid is not None
        return sid

    def got(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]


async def connect(node: SyncNode) -> Client:
    sio = socketio.AsyncClient(reconnection=False)
    client = Client(sio)

    @sio.on("*")
    def any_event(event: str, data: Any = None) -> Any:
        client.events.append((event, data))
        return f"ack {data}"

    await sio.connect(node.url, transports=["websocket"], wait_timeout=10)
    return client


@pytest.fixture
async def clients(sync_nodes: tuple[SyncNode, SyncNode]) -> AsyncIterator[tuple[Client, Client]]:
    first, second = sync_nodes
    a, b = await connect(first), await connect(second)
    try:
        yield a, b
    finally:
        for client in (a, b):
            if client.sio.connected:
                await client.sio.disconnect()


async def test_operators_select_across_nodes(
    sync_nodes: tuple[SyncNode, SyncNode], clients: tuple[Client, Client]
) -> None:
    first, second = sync_nodes
    a, b = clients
    await asyncio.to_thread(first.manager.in_(b.sid).sockets_join, "green")
    # the other node applies the join when the broker brings it
    await wait_until(lambda: "green" in second.sio.rooms(b.sid), message="b in green")
    found = await asyncio.to_thread(first.manager.fetch_sockets, "green")
    assert [s.id for s in found] == [b.sid]
    assert found[0].rooms == {b.sid, "green"}

    await asyncio.to_thread(first.manager.to("green").emit, "news", 1)
    await asyncio.to_thread(first.manager.except_("green").emit, "news", 2)
    await asyncio.to_thread(first.manager.emit, "news", 3, "/")
    await wait_until(lambda: 3 in a.got("news") and 3 in b.got("news"), message="news 3")
    assert a.got("news") == [2, 3]
    assert b.got("news") == [1, 3]

    await asyncio.to_thread(first.manager.in_("green").sockets_leave, "green")
    await wait_until(lambda: "green" not in second.sio.rooms(b.sid), message="b out of green")
    assert await asyncio.to_thread(first.manager.fetch_sockets, "green") == []


async def test_local_operations_stay_on_the_node(
    sync_nodes: tuple[SyncNode, SyncNode], clients: tuple[Client, Client]
) -> None:
    first, _ = sync_nodes
    a, b = clients
    await asyncio.to_thread(first.manager.local.emit, "here", "only")
    await asyncio.to_thread(first.sio.emit, "everywhere")
    await wait_until(
        lambda: a.got("everywhere") and b.got("everywhere"), message="the cluster-wide emit"
    )
    assert a.got("here") == ["only"]
    assert b.got("here") == []
    local = await asyncio.to_thread(first.manager.local.fetch_sockets)
    assert [s.id for s in local] == [a.sid]


async def test_remote_socket_methods(
    sync_nodes: tuple[SyncNode, SyncNode], clients: tuple[Client, Client]
) -> None:
    first, second = sync_nodes
    _, b = clients
    [remote] = await asyncio.to_thread(first.manager.fetch_sockets, b.sid)
    assert remote.handshake["address"]
    assert (remote.id, remote.namespace, remote.data) == (b.sid, "/", {})
    assert b.sid in remote.rooms and repr(remote).startswith(f"SyncRemoteSocket(id='{b.sid}'")
    [again] = await asyncio.to_thread(first.manager.fetch_sockets, b.sid)
    assert again == remote
    with pytest.raises(AttributeError):
        remote.id = "other"  # type: ignore[misc]
    assert await asyncio.to_thread(remote.emit_with_ack, "question", "q1") == "ack q1"
    await asyncio.to_thread(remote.join, "red")
    await wait_until(lambda: "red" in second.sio.rooms(b.sid), message="b in red")
    await asyncio.to_thread(first.sio.close_room, "red")
    await wait_until(lambda: "red" not in second.sio.rooms(b.sid), message="room closed")
    await asyncio.to_thread(remote.disconnect)
    await wait_until(lambda: not b.sio.connected, message="b disconnected")


async def test_emit_with_callback_reaches_remote_clients(
    sync_nodes: tuple[SyncNode, SyncNode], clients: tuple[Client, Client]
) -> None:
    first, _ = sync_nodes
    _, b = clients
    replies: list[Any] = []
    await asyncio.to_thread(first.sio.emit, "call", "x", to=b.sid, callback=replies.append)
    await wait_until(lambda: replies, message="the remote client's reply")
    assert replies == ["ack x"]


async def test_server_side_events(sync_nodes: tuple[SyncNode, SyncNode]) -> None:
    first, second = sync_nodes
    seen: list[Any] = []
    release = threading.Event()

    @second.manager.on_server_event("hello")
    def hello(*args: Any) -> Any:
        seen.append(args)
        return {"from": second.manager.uid}

    @second.manager.on_server_event("slow")
    def slow() -> str:
        release.wait(10)
        return "late"

    await asyncio.to_thread(first.manager.server_side_emit, "hello", 1, 2)
    await wait_until(lambda: seen, message="the server event")
    assert seen == [(1, 2)]
    replies = await asyncio.to_thread(first.manager.server_side_emit_with_ack, "hello")
    assert replies == [{"from": second.manager.uid}]
    with pytest.raises(ServerSideEmitTimeout):
        await asyncio.to_thread(first.manager.server_side_emit_with_ack, "slow", timeout=0.3)
    release.set()


async def test_a_reply_to_the_sender_follows_the_broadcast_before_it(
    sync_nodes: tuple[SyncNode, SyncNode], clients: tuple[Client, Client]
) -> None:
    first, _ = sync_nodes
    a, _ = clients

    @first.sio.on("order")
    def order(sid: str, data: Any = None) -> None:
        first.sio.emit("seq", "broadcast")  # crosses the loop
        first.sio.emit("seq", "reply", to=sid)  # delivered on the spot

    await a.sio.emit("order", None)
    await wait_until(lambda: len(a.got("seq")) == 2, message="both events")
    assert a.got("seq") == ["broadcast", "reply"]
