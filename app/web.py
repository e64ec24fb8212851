"""The plain-HTTP side of the service: health, the demo page and its files, ASGI lifespan.

Small enough not to need a web framework. Static files are read once at start up and
served from memory, so no request touches the disk from the event loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StaticFiles", "WebApp"]

logger = logging.getLogger("app.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HealthCheck = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]
Hook = Callable[[], Awaitable[None]]

# The page loads only its own files and talks only to its own origin.
_PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: bytes


class StaticFiles:
    """Every file under ``directory``, kept in memory and served under ``url_prefix``."""

    def __init__(self, directory: Path, url_prefix: str = "/static/") -> None:
        self.url_prefix = url_prefix
        self._files: dict[str, StaticFile] = {}
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                relative = path.relative_to(directory).as_posix()
                self._files[relative] = _load(path)

    def get(self, name: str) -> StaticFile | None:
        """The file ``name`` (relative to the directory), if there is one."""
        return self._files.get(name)

    def match(self, url_path: str) -> StaticFile | None:
        """The file a request path addresses, if it is under the prefix and exists."""
        if not url_path.startswith(self.url_prefix):
            return None
        return self._files.get(url_path[len(self.url_prefix) :])


def _load(path: Path) -> StaticFile:
    body = path.read_bytes()
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    content_type = content_type or "application/octet-stream"
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    etag = b'"' + hashlib.sha256(body).hexdigest()[:16].encode() + b'"'
    return StaticFile(body, content_type, etag)


class WebApp:
    """ASGI app for everything but Socket.IO: ``GET /healthz``, ``/`` (the page),
    ``/static/*``; runs ``on_startup``/``on_shutdown`` on the ASGI lifespan events."""

    def __init__(
        self,
        *,
        static: StaticFiles,
        index: str,
        health: HealthCheck,
        on_startup: Hook,
        on_shutdown: Hook,
    ) -> None:
        self.static = static
        self.index = index
        self.health = health
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await self._http(scope, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                try:
                    await self.on_startup()
                except Exception as exc:
                    logger.exception("start up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                try:
                    await self.on_shutdown()
                except Exception as exc:
                    logger.exception("shut down failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, send: Send) -> None:
        method = scope["method"]
        path = scope["path"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", b"text/plain", [(b"allow", b"GET")])
            return
        head = method == "HEAD"
        if path == "/healthz":
            status, body = await self.health()
            payload = json.dumps(body).encode()
            await _respond(
                send, status, payload, b"application/json", [(b"cache-control", b"no-store")], head
            )
            return
        file = self.static.get(self.index) if path in ("/", "/index.html") else None
        file = file or self.static.match(path)
        if file is None:
            await _respond(send, 404, b"not found\n", b"text/plain", head=head)
            return
        headers = [(b"etag", file.etag), (b"cache-control", b"no-cache"), *_PAGE_HEADERS]
        if _header(scope, b"if-none-match") == file.etag:
            await _respond(send, 304, b"", None, headers, head=True)
            return
        await _respond(send, 200, file.body, file.content_type.encode(), headers, head)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes | None,
    headers: list[tuple[bytes, bytes]] | None = None,
    head: bool = False,
) -> None:
    all_headers = list(headers or [])
    if status != 304:
        all_headers.append((b"content-length", str(len(body)).encode()))
    if content_type is not None:
        all_headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
