"""A private ``redis-server`` that tests can stop and restart."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.support.services import free_port, port_open

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


class RedisServer:
    """A ``redis-server`` on 127.0.0.1 that keeps its data across restarts (append-only
    file in a temporary directory) and can be stopped and started on the same port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and return once it accepts connections (blocking)."""
        # fmt: off
        command = [
            self.binary,
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--loglevel", "warning",
        ]
        # fmt: on
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not port_open(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start in time")
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut the server down gracefully (it flushes its append-only file) and wait."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()
