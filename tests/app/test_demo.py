"""``make demo`` end to end: it comes up, serves its nodes, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests.app.nodes import REPO_ROOT, http_get
from tests.support.services import require_service

pytestmark = [pytest.mark.slow, pytest.mark.aws]

NODES = 3
UP_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive ports on 127.0.0.1 that were free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        probes = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                probes.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in probes:
                sock.close()
    raise AssertionError(f"no {count} consecutive free ports found")


class Output:
    """Collects a process's output lines in a thread, so waiting never blocks on a pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if process.poll() is not None:
                self._thread.join(5)
                if needle in self.text:
                    return
                raise AssertionError(f"the demo exited ({process.returncode}):\n{self.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} after {timeout} s:\n{self.text}")
            time.sleep(0.1)

    def finish(self) -> None:
        self._thread.join(10)


def test_the_demo_runs_three_nodes_and_deletes_their_queues_on_ctrl_c() -> None:
    require_service(
        importlib.util.find_spec("moto.server") is not None, "moto[server] is not installed"
    )
    base = free_port_run(NODES)
    process = subprocess.Popen(
        [str(REPO_ROOT / "scripts" / "demo"), "--base-port", str(base)],
        cwd=REPO_ROOT,
        env={**os.environ, "DEMO_SKIP_BOOTSTRAP": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        output.wait_for("Press Ctrl-C to stop.", process, UP_TIMEOUT)
        urls = re.findall(r"node-\d+\s+(http://127\.0\.0\.1:\d+)/", output.text)
        assert urls == [f"http://127.0.0.1:{base + i}" for i in range(NODES)]
        for url in urls:
            status, _, body = http_get(f"{url}/healthz")
            assert status == 200
            assert json.loads(body)["server_count"] == NODES
            assert http_get(f"{url}/")[0] == 200

        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output.finish()
    assert status == 0, output.text
    assert f"all {NODES} node queues were deleted" in output.text
    for i in range(NODES):
        assert f"node-{i + 1} stopped" in output.text


def test_a_taken_port_is_named_before_anything_starts() -> None:
    base = free_port_run(NODES)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        result = subprocess.run(
            [str(REPO_ROOT / "scripts" / "demo"), "--base-port", str(base)],
            cwd=REPO_ROOT,
            env={**os.environ, "DEMO_SKIP_BOOTSTRAP": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {base + 1} on 127.0.0.1 is already in use (needed by node-2)" in result.stdout
    # nothing was installed or started
    assert "==>" not in result.stdout + result.stderr
