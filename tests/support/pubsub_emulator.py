"""The official Pub/Sub emulator for the tests: a Java process on 127.0.0.1, started once
per session by the ``pubsub_emulator`` fixture (tests/backends/pubsub.py).

The emulator keeps everything in memory: :meth:`PubSubEmulator.stop` followed by
:meth:`PubSubEmulator.start` (same port) is a broker outage that loses every topic and
subscription, as a restarted broker would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.services import free_port, port_open

__all__ = ["PubSubEmulator", "find_emulator"]

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
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        self._log_dir.cleanup()
