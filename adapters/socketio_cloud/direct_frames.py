"""Writes an event's websocket frame, built once, straight to idle client connections.

python-engineio gives every client a writer task: a packet for 200 clients wakes 200 tasks,
and each frames and writes the same text on its own. Node writes one prepared frame to each
socket. This module does the same for the connections where it is safe, and leaves every
other case to Engine.IO's queue:

- the server runs in ASGI mode under uvicorn's websockets-sansio protocol (the default of
  uvicorn 0.35+ with the ``websockets`` package), which is checked by class, attributes and
  on every connection;
- the connection negotiated no extension (permessage-deflate compresses per connection, so
  a shared frame cannot be used: serve with ``ws_per_message_deflate=False``);
- the client's writer task is parked on its empty Engine.IO queue, so nothing queued or
  being written can be overtaken (asyncio's ``Queue`` keeps its waiting getters in
  ``_getters``);
- the connection is open, writable (no back-pressure) and not closing.

The first frame of each of the first connections of an event-loop iteration is written at
once (the first clients of a broadcast need not wait for the fan-out to reach the last one);
every other frame of that iteration is gathered and written with the connection's others at
its end, so a burst of events read from the broker in one batch costs at most two writes per
client, not one per event.

It relies on internals of python-engineio, uvicorn and asyncio, so it is enabled only when
all of them look exactly as expected (:func:`install`), and each write re-checks the
connection; anything unexpected falls back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from typing import Any

logger = logging.getLogger("socketio_cloud.direct_frames")

__all__ = ["DirectFrames", "install", "text_frame"]

#: Connections whose first frame of a loop iteration is written at once; the frames of the
#: others wait for the end of the iteration. Writing at once lets the first clients of a
#: broadcast have it without waiting for the fan-out to reach the last one (first-delivery
#: p50 at 20 events/s to 200 clients: 1.3 ms against 2.3 ms), but each write then wakes a
#: client while the fan-out still runs, which cost about 10 % more CPU per delivery when
#: every connection was written at once; with the first 32, the CPU per delivery is that
#: of writing all at the end (bench/, same run).
IMMEDIATE_WRITES = 32


def text_frame(text: str) -> bytes:
    """A final, unmasked websocket text frame (RFC 6455 §5.2), as a server sends it."""
    payload = text.encode("utf-8")
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def _sansio_protocol_class() -> type[Any] | None:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
        from websockets.protocol import State
    except ImportError:
        return None
    if not hasattr(State, "OPEN"):
        return None
    return WebSocketsSansIOProtocol


class DirectFrames:
    """Knows each websocket connection of one Engine.IO server and writes frames to it."""

    def __init__(self, protocol_class: type[Any]) -> None:
        from websockets.protocol import State

        self._protocol_class = protocol_class
        self._open = State.OPEN
        self.connections: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        # its own dict of weak references (sid -> KeyedRef): read directly in try_write,
        # since WeakValueDictionary.get is Python code, run once per client per broadcast
        self._refs: dict[str, Any] = self.connections.data  # type: ignore[attr-defined]
        self.written = 0
        # connections written to in this loop iteration, with the frames that wait for its end
        self._pending: dict[Any, list[bytes] | None] = {}
        self._flush_scheduled = False

    def try_write(self, eio_sid: str, socket: Any, frame: bytes) -> bool:
        """Write ``frame`` to the client if that cannot reorder anything; else return False."""
        ref = self._refs.get(eio_sid)
        ws = ref() if ref is not None else None
        if ws is None or not socket.upgraded or socket.upgrading:
            return False
        queue = socket.queue
        getters = queue._getters
        if queue._queue or not getters or getters[-1].done():
            return False  # the writer is not parked on its queue: let it keep the order
        protocol: Any = getattr(ws, "_direct_protocol", None)
        if protocol is None:
            protocol = self._usable_protocol(ws)
            if protocol is None:
                return False
        conn = protocol.conn
        if (
            conn.state is not self._open
            or protocol.close_sent
            or not protocol.writable.is_set()
            or protocol.transport.is_closing()
        ):
            return False
        pending = self._pending
        if protocol not in pending:
            # the first frame of one of the first connections of this iteration goes out at
            # once (IMMEDIATE_WRITES); every later frame is gathered for the end
            if len(pending) < IMMEDIATE_WRITES:
                protocol.transport.write(frame)
                pending[protocol] = None
            else:
                pending[protocol] = [frame]
            if not self._flush_scheduled:
                asyncio.get_running_loop().call_soon(self._flush)
                self._flush_scheduled = True
        else:
            frames = pending[protocol]
            if frames is None:
                pending[protocol] = [frame]
            else:
                frames.append(frame)
        self.written += 1
        return True

    def _usable_protocol(self, ws: Any) -> Any:
        """The uvicorn protocol under Engine.IO's websocket ``ws``, remembered on ``ws`` once
        its handshake is done, if it is one frames can be written to: the expected class,
        and no extension negotiated (neither changes for the connection's lifetime)."""
        protocol: Any = getattr(ws.asgi_send, "__self__", None)
        if (
            type(protocol) is not self._protocol_class
            or not protocol.handshake_complete
            or protocol.conn.extensions
        ):
            return None
        try:
            ws._direct_protocol = protocol
        except AttributeError:  # a websocket class that takes no attributes: look each time
            pass
        return protocol

    def _flush(self) -> None:
        # One more write per connection for the rest of the events of a loop iteration: a
        # burst read from the broker in one batch costs two syscalls per client, not one
        # per event. Scheduled before any writer task the same events could wake, so it
        # runs first and order is kept (asyncio runs callbacks in the order they were
        # scheduled).
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        for protocol, frames in pending.items():
            if not frames:
                continue
            transport = protocol.transport
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))


def install(eio: Any) -> DirectFrames | None:
    """Hook an Engine.IO server so that its websocket connections can take direct frames;
    None when this server or the installed packages do not fit."""
    protocol_class = _sansio_protocol_class()
    if protocol_class is None or getattr(eio, "async_mode", None) != "asgi":
        return None
    drivers = getattr(eio, "_async", None)
    if not isinstance(drivers, dict):
        return None
    try:
        from engineio.async_drivers.asgi import WebSocket
    except ImportError:
        return None
    if drivers.get("websocket") is not WebSocket or not _engineio_socket_fits():
        return None
    frames = DirectFrames(protocol_class)
    connections = frames.connections

    class RegisteredWebSocket(WebSocket):  # type: ignore[misc]
        """Engine.IO's ASGI websocket, remembered by the sid of the socket it serves."""

        def __init__(self, handler: Any, server: Any) -> None:
            super().__init__(handler, server)
            socket = getattr(handler, "__self__", None)
            sid = getattr(socket, "sid", None)
            if isinstance(sid, str):
                connections[sid] = self

    # a copy: the drivers table is shared by every Engine.IO server of the process
    eio._async = {**drivers, "websocket": RegisteredWebSocket}
    return frames


def _engineio_socket_fits() -> bool:
    try:
        from engineio.async_socket import AsyncSocket
    except ImportError:
        return False
    probe = asyncio.Queue()  # type: ignore[var-annotated]
    return (
        hasattr(AsyncSocket, "_websocket_handler")
        and hasattr(probe, "_getters")
        and hasattr(AsyncSocket, "poll")
    )
