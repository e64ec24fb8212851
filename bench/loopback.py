"""In-process Socket.IO clients without a network connection, for measurements at scale.

Each loopback client is registered through python-socketio's own connect path: an
Engine.IO socket object is put in ``server.eio.sockets`` and the server is handed the
Engine.IO ``connect`` event and a Socket.IO CONNECT packet, exactly as a websocket
connection would deliver them. What the server sends lands in the socket's queue, where a
:class:`LoopbackQueue` reads it at once: it counts events and answers every event that asks
for an acknowledgement, as a client would, so broadcasts with acks complete.

Answers reach the server through one reader task that awaits ``_handle_eio_message`` for
each in turn, as a websocket connection's reader task does: python-socketio turns Engine.IO's
``async_handlers`` off, so a received acknowledgement costs no task of its own. (Node's
loopback in bench/node_server.mjs answers in ``setImmediate`` callbacks, likewise without a
promise chain per answer.)

This measures the cluster's and the manager's cost per socket; a real websocket connection
costs more memory (transport buffers, reader task), which the broadcast scenarios measure.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

__all__ = ["LoopbackClients"]


class LoopbackQueue(asyncio.Queue):  # type: ignore[type-arg]
    """An Engine.IO send queue that hands every packet to ``on_packet`` instead of storing it."""

    def __init__(self, on_packet: Callable[[Any], None]) -> None:
        super().__init__()
        self._on_packet = on_packet

    def put_nowait(self, item: Any) -> None:
        self._on_packet(item)


class LoopbackClients:
    """Connects loopback clients to one server and keeps count of what they receive."""

    def __init__(self, sio: socketio.AsyncServer, ack_reply: Any = "ok") -> None:
        self.sio = sio
        self.events = 0
        self.acks_sent = 0
        self._reply = json.dumps([ack_reply], separators=(",", ":"))
        self._inbox: deque[tuple[str, str]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self.eio_sids: list[str] = []

    async def connect(self, count: int, rooms: Callable[[int], list[str]] | None = None) -> None:
        """Connect ``count`` clients to namespace ``/``; ``rooms(i)`` names rooms to join."""
        sio = self.sio
        eio = sio.eio
        for index in range(len(self.eio_sids), len(self.eio_sids) + count):
            eio_sid = eio.generate_id()
            socket = AsyncSocket(eio, eio_sid)
            socket.queue = LoopbackQueue(self._packet_handler(eio_sid))
            socket.connected = True
            # no pings flow without a transport; without a last ping nothing times out
            socket.last_ping = None
            eio.sockets[eio_sid] = socket
            await sio._handle_eio_connect(eio_sid, _environ(index))
            await sio._handle_eio_message(eio_sid, "0")
            self.eio_sids.append(eio_sid)
            if rooms is not None:
                sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
                for room in rooms(index):
                    await sio.enter_room(sid, room)

    def _packet_handler(self, eio_sid: str) -> Callable[[Any], None]:
        def on_packet(pkt: Any) -> None:
            if pkt is None or pkt.packet_type != eio_packet.MESSAGE:
                return
            data = pkt.data
            if not isinstance(data, str) or data[:1] != "2":
                return
            self.events += 1
            end = 1
            while end < len(data) and data[end].isdigit():
                end += 1
            if end > 1:
                self._answer(eio_sid, data[1:end])

        return on_packet

    def _answer(self, eio_sid: str, ack_id: str) -> None:
        self.acks_sent += 1
        self._inbox.append((eio_sid, f"3{ack_id}{self._reply}"))
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        # answers queued while one is handled are read in the same run, as a connection's
        # reader reads what arrived in one go
        try:
            while self._inbox:
                eio_sid, data = self._inbox.popleft()
                await self.sio._handle_eio_message(eio_sid, data)
        finally:
            self._reader = None


def _environ(index: int) -> dict[str, Any]:
    """What a websocket connection's environ holds, as far as the handshake reads it."""
    port = 20000 + index % 40000
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/socket.io/",
        "QUERY_STRING": "EIO=4&transport=websocket",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(port),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_UPGRADE": "websocket",
        "HTTP_USER_AGENT": "socketio-cloud-bench",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
    }
