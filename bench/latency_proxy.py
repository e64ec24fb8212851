"""A TCP proxy that holds every chunk a client sends for a fixed delay before passing it on:
a local emulator (moto) then answers as a distant service would, ``delay`` later.

    proxy = DelayProxy("127.0.0.1", moto_port, delay=0.020)
    await proxy.start()          # proxy.url: http://127.0.0.1:<port>
    ...
    await proxy.stop()

Only the client-to-server direction is delayed, so each HTTP request costs one extra
``delay``; bytes keep their order on each connection.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["DelayProxy"]

_CHUNK = 65536


class DelayProxy:
    def __init__(self, host: str, port: int, *, delay: float) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pumps):
            task.cancel()
        if self._pumps:
            await asyncio.wait(self._pumps, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        for pump in (
            self._delayed(reader, up_writer),
            self._direct(up_reader, writer),
        ):
            task = asyncio.ensure_future(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _delayed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward each chunk ``delay`` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await chunks.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(forward())
        try:
            while True:
                data = await reader.read(_CHUNK)
                chunks.put_nowait((loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        except OSError:
            sender.cancel()
            writer.close()
        except asyncio.CancelledError:
            sender.cancel()
            writer.close()
            raise

    async def _direct(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
