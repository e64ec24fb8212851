"""A Pub/Sub stand-in for local runs: Google's official emulator, a Java process on
127.0.0.1 started from the Cloud SDK (Debian package ``google-cloud-cli-pubsub-emulator``).

The demo (``scripts/demo --backend pubsub``) and the tests' ``pubsub_emulator`` fixture start
it on a free port. It keeps everything in memory: :meth:`PubSubEmulator.stop` followed by
:meth:`PubSubEmulator.start` (same port) is a broker outage that loses every topic and
subscription, as a restarted broker would. Clients reach it through
``PUBSUB_EMULATOR_HOST=127.0.0.1:<port>``; project ids must look real (6-30 characters).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PubSubEmulator", "find_emulator"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


_LAUNCHER = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
_START_TIMEOUT = 60.0


def find_emulator() -> Path | None:
    """The emulator's launcher under the Cloud SDK (found from ``gcloud`` on PATH, or the
    Debian package's /usr/lib/google-cloud-sdk), or None."""
    roots: list[Path] = []
    gcloud = shutil.which("gcloud")
    if gcloud:
        # <sdk>/bin/gcloud, often reached through a symlink in /usr/bin
        roots.append(Path(gcloud).resolve().parent.parent)
    roots.append(Path("/usr/lib/google-cloud-sdk"))
    for root in roots:
        launcher = root / _LAUNCHER
        if launcher.is_file() and os.access(launcher, os.X_OK):
            return launcher
    return None


class PubSubEmulator:
    """One emulator process on a free port of 127.0.0.1."""

    def __init__(self, launcher: Path, port: int | None = None) -> None:
        self.launcher = launcher
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="pubsub-emulator-")
        self.log_path = Path(self._log_dir.name) / "emulator.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the emulator and wait until it accepts connections."""
        if self.running:
            return
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [str(self.launcher), "--host=127.0.0.1", f"--port={self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._log_dir.name,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        finally:
            log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        while not port_open(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"the Pub/Sub emulator exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Pub/Sub emulator did not start: {self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the emulator (its state is lost) and wait until its port is closed."""
        process = self._process
        self._process = None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        deadline = time.monotonic() + 15
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        """Stop and start again on the same port (an outage that loses all state)."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the emulator and remove its log directory."""
        self.stop()
        self._log_dir.cleanup()
