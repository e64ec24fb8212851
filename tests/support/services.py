"""Helpers for tests that need real services: skip or fail, free ports, waiting."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(ok: bool, reason: str) -> None:
    """Skip the test when a component is missing, except in CI, where that is a failure."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required component missing in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


async def wait_until(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = 10.0,
    message: str = "condition",
    interval: float = 0.02,
) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(interval)


def bound_port(server: Any) -> int:
    """The port a started ``uvicorn.Server`` configured with ``port=0`` got from the kernel.

    In-process servers bind port 0 rather than probe for a free port, so that two tests can
    never race for one port; child processes still need a port chosen for them
    (:func:`free_port`)."""
    for listener in getattr(server, "servers", ()):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server is not listening yet")


class InProcessServer:
    """An ASGI app served by uvicorn in the test's own event loop, on a port the kernel picks.

    Several servers share the test process, so uvicorn leaves signal handling to the runner.
    """

    def __init__(self, app: Any, name: str) -> None:
        import uvicorn

        self.name = name
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return bound_port(self.server)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        await wait_until(lambda: self.server.started, message=f"{self.name} to listen")

    async def stop(self) -> None:
        if self._task is not None:
            self.server.should_exit = True
            await asyncio.wait_for(self._task, 10)
            self._task = None
