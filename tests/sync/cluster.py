"""Nodes of the Flask-SocketIO example as subprocesses (one async mode per process:
monkey-patching is per process), and real Socket.IO clients to drive them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from tests.support.services import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "flask_chat" / "app.py"
PROBE = Path(__file__).with_name("exit_probe.py")
#: Seconds a node may take to start (imports, broker resources) and to exit after SIGTERM.
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 20.0


@dataclass
class ExampleNode:
    """One process of ``examples/flask_chat``."""

    name: str
    mode: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    report_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                health: dict[str, Any] = json.load(response)
                return health
        except OSError:
            return None

    async def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited at start:\n{self.log()}")
            health = await asyncio.to_thread(self.health)
            if health and health["ready"]:
                return health
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready within {START_TIMEOUT} s:\n{self.log()}")

    def terminate(self, timeout: float = EXIT_TIMEOUT, signals: int = 1) -> int | None:
        """SIGTERM (``signals`` times, as an impatient supervisor would); the exit code, or
        None (then killed) when it did not exit in time."""
        if self.process.poll() is not None:
            return self.process.returncode
        for _ in range(signals):
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def exit_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.report_path.read_text())
        return report


def start_node(name: str, mode: str, env: dict[str, str], workdir: Path) -> ExampleNode:
    port = free_port()
    log_path = workdir / f"{name}.log"
    report_path = workdir / f"{name}.exit.json"
    environ = {
        **os.environ,
        **env,
        "ASYNC_MODE": mode,
        "PORT": str(port),
        "NODE_NAME": name,
        "HEARTBEAT_INTERVAL": "1",
        "LOG_LEVEL": "INFO",
        "EXIT_REPORT": str(report_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "adapters"), str(ROOT)]),
        "PYTHONWARNINGS": "ignore",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(PROBE), str(EXAMPLE)],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
    return ExampleNode(name, mode, port, process, log_path, report_path)


@dataclass
class ChatClient:
    """A Socket.IO client (websocket transport) of the example."""

    name: str
    sio: socketio.AsyncClient
    said: list[dict[str, Any]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid()
        assert sid is not None
        return sid

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.sio.call(event, data, timeout=15)


async def connect(node: ExampleNode, name: str) -> ChatClient:
    sio = socketio.AsyncClient(reconnection=False)
    client = ChatClient(name, sio)
    sio.on("said", client.said.append)

    def answer(question: str) -> str:
        client.questions.append(question)
        return f"{name} answers {question}"

    sio.on("question", answer)
    await sio.connect(node.url, transports=["websocket"], auth={"name": name}, wait_timeout=10)
    return client


async def wait_for_servers(node: ExampleNode, count: int) -> None:
    """Wait until ``node`` counts ``count`` servers in its cluster."""

    async def counted() -> bool:
        health = await asyncio.to_thread(node.health)
        return bool(health and health["servers"] == count)

    await wait_until(counted, timeout=15, message=f"{node.name} to count {count} servers")
