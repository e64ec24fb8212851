"""Frames built once and written straight to idle websocket connections, and the fallbacks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import socketio
import websockets

from socketio_cloud import MemoryBus, MemoryManager
from socketio_cloud.direct_frames import DirectFrames, install, text_frame
from socketio_cloud.protocol import BroadcastOptions
from tests.behaviour.harness import Node, connect_client, make_node


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 70000])
def test_text_frame_header_encodes_the_length(size: int) -> None:
    text = "x" * size
    frame = text_frame(text)
    assert frame[0] == 0x81
    if size < 126:
        assert frame[1] == size and frame[2:] == text.encode()
    elif size < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size
    assert frame.endswith(text.encode())


def test_utf8_payload_length_counts_bytes() -> None:
    frame = text_frame("é€")
    assert frame[1] == len("é€".encode())


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    node = make_node("solo", MemoryManager(bus=MemoryBus()))
    await node.start()
    yield node
    await node.stop()


def _direct(node: Node) -> DirectFrames:
    delivery = node.manager._delivery
    assert delivery is not None and delivery.direct is not None
    return delivery.direct


async def test_events_go_out_as_direct_frames_in_order(node: Node) -> None:
    clients = [await connect_client(node, f"c{i}") for i in range(3)]
    try:
        for i in range(300):
            await node.sio.emit("seq", i)
            if i % 50 == 0:
                await asyncio.sleep(0.01)  # let writers go idle now and then
        for client in clients:
            await client.wait_for("seq", 300)
            assert [args[0] for args in client.received("seq")] == list(range(300))
        assert _direct(node).written > 0
    finally:
        for client in clients:
            await client.sio.disconnect()


async def test_a_connection_with_compression_falls_back_to_the_queue(node: Node) -> None:
    url = f"ws://127.0.0.1:{node.port}/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, compression="deflate") as ws:
        await ws.recv()  # engine.io open
        await ws.send("40")
        await ws.recv()  # socket.io connect
        for i in range(20):
            await node.sio.emit("seq", i)
        received = []
        while len(received) < 20:
            message = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(message, str) and message.startswith("42"):
                received.append(json.loads(message[2:])[1])
    assert received == list(range(20))
    assert _direct(node).written == 0


class _Connection:
    """Stands in for Engine.IO's websocket wrapper (weakly referenced by the registry)."""

    asgi_send = staticmethod(print)


def test_a_busy_writer_is_never_overtaken() -> None:
    frames = DirectFrames(object)
    queue: asyncio.Queue[int] = asyncio.Queue()
    queue.put_nowait(1)
    socket = SimpleNamespace(upgraded=True, upgrading=False, queue=queue)
    connection = _Connection()
    frames.connections["sid"] = connection
    assert not frames.try_write("sid", socket, b"frame")
    # an empty queue with no writer waiting on it: a packet is being written right now
    socket.queue = asyncio.Queue()
    assert not frames.try_write("sid", socket, b"frame")
    assert frames.written == 0


class _Protocol:
    conn: Any
    close_sent: bool
    writable: asyncio.Event
    transport: Any


async def test_a_remembered_connection_is_still_checked_before_each_write() -> None:
    from websockets.protocol import State

    frames = DirectFrames(object)
    queue: asyncio.Queue[int] = asyncio.Queue()
    waiting = asyncio.ensure_future(queue.get())  # the writer, parked on its queue
    await asyncio.sleep(0)
    written: list[bytes] = []
    transport = SimpleNamespace(write=written.append, is_closing=lambda: False)
    protocol = _Protocol()  # uvicorn's, as far as try_write reads it
    protocol.conn = SimpleNamespace(state=State.OPEN)
    protocol.close_sent = False
    protocol.writable = asyncio.Event()
    protocol.transport = transport
    protocol.writable.set()
    connection = _Connection()
    connection._direct_protocol = protocol  # type: ignore[attr-defined]
    frames.connections["sid"] = connection
    socket = SimpleNamespace(upgraded=True, upgrading=False, queue=queue)
    try:
        assert frames.try_write("sid", socket, b"one")
        assert written == [b"one"]
        for change in (
            lambda: setattr(protocol, "close_sent", True),
            lambda: protocol.writable.clear(),
            lambda: setattr(protocol.conn, "state", State.CLOSING),
            lambda: setattr(transport, "is_closing", lambda: True),
        ):
            change()
            assert not frames.try_write("sid", socket, b"more")
        assert written == [b"one"] and frames.written == 1
    finally:
        waiting.cancel()


def test_only_asgi_servers_under_uvicorn_are_hooked() -> None:
    aiohttp_server = socketio.AsyncServer(async_mode="aiohttp")
    assert install(aiohttp_server.eio) is None
    asgi_server = socketio.AsyncServer(async_mode="asgi")
    shared = dict(asgi_server.eio._async)
    assert install(asgi_server.eio) is not None
    # the drivers table is shared by every server of the process: it must stay untouched
    assert socketio.AsyncServer(async_mode="asgi").eio._async["websocket"] is shared["websocket"]


@contextlib.asynccontextmanager
async def recorded_writes(node: Node) -> AsyncIterator[tuple[Any, list[bytes]]]:
    """A warmed-up client of ``node`` and the bytes written to its connection meanwhile."""
    client = await connect_client(node, "c")
    try:
        await node.sio.emit("warm-up", 0)
        await client.wait_for("warm-up")
        writes: list[bytes] = []
        eio_sid = node.sio.manager.eio_sid_from_sid(client.sid(), "/")
        protocol = _direct(node).connections[eio_sid].asgi_send.__self__
        real_write = protocol.transport.write

        def counting_write(data: bytes) -> None:
            writes.append(data)
            real_write(data)

        protocol.transport.write = counting_write
        try:
            yield client, writes
        finally:
            protocol.transport.write = real_write
    finally:
        await client.sio.disconnect()


async def test_a_first_frame_goes_out_at_once_and_the_rest_of_its_iteration_together(
    node: Node,
) -> None:
    async with recorded_writes(node) as (client, writes):
        node.manager._deliver("/", BroadcastOptions(), ["burst", 0])
        # the first frame did not wait for the end of the loop iteration
        assert len(writes) == 1 and writes[0].count(b"\x81") == 1
        for i in range(1, 20):  # no await in between: one loop iteration
            node.manager._deliver("/", BroadcastOptions(), ["burst", i])
        assert len(writes) == 1
        await client.wait_for("burst", 20)
        assert [args[0] for args in client.received("burst")] == list(range(20))
        assert len(writes) == 2 and writes[1].count(b"\x81") == 19


async def test_past_the_immediate_writes_a_first_frame_waits_for_the_iteration_end(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socketio_cloud import direct_frames

    async with recorded_writes(node) as (client, writes):
        monkeypatch.setattr(direct_frames, "IMMEDIATE_WRITES", 0)
        for i in range(3):
            node.manager._deliver("/", BroadcastOptions(), ["late", i])
        assert writes == []  # nothing before the end of the iteration
        await client.wait_for("late", 3)
        assert [args[0] for args in client.received("late")] == [0, 1, 2]
        assert len(writes) == 1 and writes[0].count(b"\x81") == 3
