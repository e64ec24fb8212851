"""Hands one encoded packet to many local clients.

python-socketio's own manager starts one asyncio task per recipient and awaits them all,
which costs tens of microseconds per delivery. Here a packet is encoded once and put
straight into each client's Engine.IO send queue, synchronously.

That touches Engine.IO internals (``server.eio.sockets`` and each socket's ``queue``), so it
is enabled only for python-engineio major versions this module was tested with and only when
the objects look as expected; otherwise, and for any socket that needs more than a queue
put (a ping timeout to handle), it falls back to the public ``send_packet`` coroutine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

from engineio import packet as eio_packet

from .direct_frames import DirectFrames, install, text_frame

logger = logging.getLogger("socketio_cloud.fanout")

#: python-engineio versions whose socket layout the fast path relies on.
SUPPORTED_ENGINEIO_MAJOR = 4
MIN_ENGINEIO_MINOR = 9


def engineio_version_supported(version: str | None = None) -> bool:
    """Whether the installed python-engineio is one the fast path was tested with."""
    if version is None:
        try:
            version = metadata.version("python-engineio")
        except metadata.PackageNotFoundError:
            return False
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return major == SUPPORTED_ENGINEIO_MAJOR and minor >= MIN_ENGINEIO_MINOR


class LocalDelivery:
    """Delivers pre-encoded Engine.IO packets to the clients of one server."""

    def __init__(
        self, server: Any, *, fast_path: bool | None = None, direct_frames: bool | None = None
    ) -> None:
        self._server = server
        eio = getattr(server, "eio", None)
        sockets = getattr(eio, "sockets", None)
        usable = isinstance(sockets, dict) and engineio_version_supported()
        if fast_path is None:
            fast_path = usable
        elif fast_path and not usable:
            logger.warning("fast fan-out requested but unsupported here; using send_packet")
            fast_path = False
        self.fast_path: bool = fast_path
        self._sockets: dict[str, Any] = sockets if isinstance(sockets, dict) else {}
        self._pending: set[asyncio.Task[Any]] = set()
        self.direct: DirectFrames | None = None
        if fast_path and direct_frames is not False and eio is not None:
            self.direct = install(eio)
            if self.direct is None and direct_frames:
                logger.warning("direct websocket frames requested but unsupported here")

    @staticmethod
    def encode(packet: Any) -> list[Any]:
        """Engine.IO MESSAGE packets for a python-socketio packet (several when binary)."""
        encoded = packet.encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in encoded]

    def send(self, eio_sids: Iterable[str], packets: Sequence[Any]) -> int:
        """Queue ``packets`` for every client; returns how many clients were handed them."""
        if packets[0].binary if len(packets) == 1 else any(pkt.binary for pkt in packets):
            # Engine.IO caches a packet's encoding without regard to base64 (polling) or raw
            # (websocket) form: binary packets must not be shared between clients.
            count = 0
            for eio_sid in eio_sids:
                copies = [eio_packet.Packet(pkt.packet_type, pkt.data) for pkt in packets]
                count += self._send_one_by_one((eio_sid,), copies)
            return count
        return self._send_one_by_one(eio_sids, packets)

    def _send_one_by_one(self, eio_sids: Iterable[str], packets: Sequence[Any]) -> int:
        if not self.fast_path:
            return self._send_slow(eio_sids, packets)
        sockets = self._sockets
        ping_timeout = getattr(getattr(self._server, "eio", None), "ping_timeout", None)
        now = time.time()
        count = 0
        direct = self.direct if len(packets) == 1 else None
        frame: bytes | None = None
        for eio_sid in eio_sids:
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            last_ping = socket.last_ping
            queue = getattr(socket, "queue", None)
            if (
                (last_ping and ping_timeout is not None and now - last_ping > ping_timeout)
                or socket.closing
                or not isinstance(queue, asyncio.Queue)
            ):
                # let Engine.IO's own send handle the ping timeout or closing socket
                self._send_slow((eio_sid,), packets)
                count += 1
                continue
            if direct is not None:
                if frame is None:
                    frame = text_frame(packets[0].encode())
                if direct.try_write(eio_sid, socket, frame):
                    count += 1
                    continue
            for pkt in packets:
                queue.put_nowait(pkt)
            count += 1
        return count

    def _send_slow(self, eio_sids: Iterable[str], packets: Sequence[Any]) -> int:
        count = 0
        for eio_sid in eio_sids:
            task = asyncio.ensure_future(self._send_packets(eio_sid, packets))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            count += 1
        return count

    async def _send_packets(self, eio_sid: str, packets: Sequence[Any]) -> None:
        for pkt in packets:
            await self._server.eio.send_packet(eio_sid, pkt)

    async def drain(self) -> None:
        """Wait until packets handed to the slow path are queued."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
