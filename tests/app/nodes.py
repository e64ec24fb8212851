"""Running the reference service in tests: in this process under uvicorn, or as
``python -m app`` processes configured by environment variables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from app.service import ChatService
from tests.support.services import bound_port, free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test runner keeps Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(service: ChatService) -> AsyncIterator[str]:
    """Serve ``service`` on a free port with ASGI lifespan events; yield its base URL."""
    config = uvicorn.Config(
        service.asgi,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = _QuietServer(config)
    task = asyncio.ensure_future(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), 15, "uvicorn to start")
        if not server.started:
            raise AssertionError("the service did not start")
        yield f"http://127.0.0.1:{bound_port(server)}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def http_get(
    url: str, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a GET, errors included (blocking: run it in a thread)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers.items()), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


class AppProcess:
    """One ``python -m app`` child process; its output goes to a log file."""

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        environ = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        environ.update(env)
        environ.update(
            {
                "SIO_NODE_NAME": name,
                "SIO_HOST": "127.0.0.1",
                "PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=REPO_ROOT,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict[str, Any] | None:
        status, _, body = _get_quietly(f"{self.url}/healthz")
        return json.loads(body) if status == 200 else None

    def wait_until(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode}) waiting for {what}:\n"
                    + self.log()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}:\n" + self.log())
            time.sleep(0.05)

    def wait_healthy(self, servers: int = 1, timeout: float = 30) -> None:
        """Wait until the node is ready and counts ``servers`` servers in its cluster."""
        self.wait_until(
            lambda: (self.health() or {}).get("server_count") == servers,
            timeout,
            f"health with {servers} server(s)",
        )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; returns the exit status (kills it after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def _get_quietly(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        return http_get(url)
    except (urllib.error.URLError, OSError):
        return 0, {}, b""
