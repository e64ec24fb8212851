"""Child processes of the benchmark: started, commanded and measured by the orchestrator.

Every child speaks the same line protocol: JSON commands on stdin, JSON events on stdout
(``ready``, ``sent``, ``complete``, ``report``, ``error``, ...). Its stderr goes to a log file.
CPU time and memory are read with psutil from outside, so the children need no
instrumentation and the figures mean the same for Python and Node processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PYTHON = sys.executable

# One line may carry every latency sample of a client group.
_LINE_LIMIT = 1 << 28


class ChildError(RuntimeError):
    """A child failed: it reported an error, exited, or missed a deadline."""


class Child:
    """One child process and the events it printed."""

    def __init__(
        self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: asyncio.subprocess.Process | None = None
        self.ps: psutil.Process | None = None
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._held: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None
        self._log: Any = None

    async def start(self, timeout: float = 60.0) -> dict[str, Any]:
        """Start the process and wait for its ``ready`` event."""
        self._log = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            cwd=str(REPO),
            env=self.env,
            limit=_LINE_LIMIT,
        )
        self.ps = psutil.Process(self.process.pid)
        self._reader = asyncio.ensure_future(self._read())
        return await self.expect("ready", timeout)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                await self._events.put({"event": "exit"})
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a stray line from a library
            if isinstance(event, dict) and event.get("event") != "log":
                await self._events.put(event)

    async def send(self, **command: Any) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def expect(self, event: str, timeout: float, **match: Any) -> dict[str, Any]:
        """The next event named ``event`` (with the given fields); raises ChildError on an
        ``error`` event, on exit or after ``timeout`` seconds."""
        for held in self._held:
            if _matches(held, event, match):
                self._held.remove(held)
                return held
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildError(f"{self.name}: no {event!r} within {timeout:.0f} s{self._tail()}")
            try:
                got = await asyncio.wait_for(self._events.get(), remaining)
            except asyncio.TimeoutError:
                continue
            if _matches(got, event, match):
                return got
            if got.get("event") == "error":
                raise ChildError(f"{self.name}: {got.get('error')}")
            if got.get("event") == "exit":
                self._held.append(got)
                raise ChildError(f"{self.name} exited{self._tail()}")
            self._held.append(got)

    def _tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()[-8:]
        except OSError:
            return ""
        return ("\n  " + "\n  ".join(text)) if text else ""

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the process (all its threads)."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """User and system CPU seconds used so far, apart: system time is the kernel's work
        for the process (socket writes, wake-ups of the readers on loopback)."""
        assert self.ps is not None
        times = self.ps.cpu_times()
        return float(times.user), float(times.system)

    def rss(self) -> int:
        assert self.ps is not None
        return int(self.ps.memory_info().rss)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to exit; terminate it if it does not."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):
                await self.send(cmd="exit")
                assert process.stdin is not None
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except asyncio.TimeoutError:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._log is not None:
            self._log.close()


def _matches(event: dict[str, Any], name: str, match: dict[str, Any]) -> bool:
    return event.get("event") == name and all(event.get(k) == v for k, v in match.items())


def python_child(name: str, module: str, args: list[str], log_dir: Path, **kw: Any) -> Child:
    return Child(name, [PYTHON, "-m", module, *args], log_dir, **kw)


def node_child(name: str, script: str, args: list[str], log_dir: Path, **kw: Any) -> Child:
    return Child(name, ["node", str(BENCH / script), *args], log_dir, **kw)


async def stop_all(children: list[Child]) -> None:
    await asyncio.gather(*(child.stop() for child in children), return_exceptions=True)


def find_broker_process(name: str) -> psutil.Process | None:
    """The broker's server process (e.g. ``redis-server``), to report its CPU too."""
    for process in psutil.process_iter(["name"]):
        if process.info.get("name") == name:
            return process
    return None


def cpu_of(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)
