"""Crossing between a sync server's side and the private asyncio loop of its cluster node.

Two directions, each with one mechanism that is correct in every async mode of
``socketio.Server`` (threading, eventlet, gevent):

- :class:`LoopThread` runs an asyncio loop in a real OS thread, started through the
  interpreter's own ``_thread`` even when eventlet or gevent patched ``threading`` (a green
  thread would only run when the server's hub lets it, and would block the hub);
- :class:`ServerInbox` is how the loop thread hands work to the server's side: a deque and a
  pipe, drained in order by one task of the server (``server.start_background_task``: a
  thread, or a greenlet). The loop thread never calls the server itself.

The only state both sides touch is the deque (atomic under the GIL) and the pipe.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..tasks import cancel_and_wait

__all__ = ["SUPPORTED_ASYNC_MODES", "LoopThread", "ServerInbox", "real_thread_api"]

logger = logging.getLogger("socketio_cloud.sync")

#: ``socketio.Server`` async modes the sync managers support.
SUPPORTED_ASYNC_MODES = ("threading", "eventlet", "gevent", "gevent_uwsgi")

StartThread = Callable[..., Any]
AllocateLock = Callable[[], Any]


def real_thread_api() -> tuple[StartThread, AllocateLock]:
    """``_thread.start_new_thread`` and ``_thread.allocate_lock`` as the interpreter made
    them, even after eventlet's or gevent's monkey-patching."""
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("thread"):
        original = eventlet_patcher.original("_thread")
        return original.start_new_thread, original.allocate_lock
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
        return (
            gevent_monkey.get_original("_thread", "start_new_thread"),
            gevent_monkey.get_original("_thread", "allocate_lock"),
        )
    return _thread.start_new_thread, _thread.allocate_lock


def _real_write() -> Callable[[int, bytes], int]:
    """``os.write`` as the interpreter made it: eventlet's green one may switch to the hub,
    which neither a signal handler nor the loop thread may do."""
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None:
        write: Callable[[int, bytes], int] = eventlet_patcher.original("os").write
        return write
    return os.write


class LoopThread:
    """A private asyncio event loop in a real OS thread of its own.

    The loop is created inside its thread: under gevent, a selector made elsewhere would
    wait on another thread's hub.
    """

    def __init__(self, name: str = "socketio-cloud") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopped: Any = None

    @property
    def running(self) -> bool:
        return self.loop is not None and not self.loop.is_closed()

    def start(self, timeout: float = 10.0) -> asyncio.AbstractEventLoop:
        """Start the thread and return its loop once it runs."""
        if self.loop is not None:
            return self.loop
        start_new_thread, allocate_lock = real_thread_api()
        started = allocate_lock()
        started.acquire()
        self._stopped = allocate_lock()
        self._stopped.acquire()
        failure: list[BaseException] = []
        start_new_thread(self._run, (started, self._stopped, failure))
        # a real lock: the wait is short and must not depend on the server's hub
        if not started.acquire(True, timeout) or failure:
            raise RuntimeError(f"the {self.name} event loop thread did not start") from (
                failure[0] if failure else None
            )
        assert self.loop is not None
        return self.loop

    def _run(self, started: Any, stopped: Any, failure: list[BaseException]) -> None:
        try:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        except BaseException as exc:
            failure.append(exc)
            started.release()
            stopped.release()
            return
        self.loop = loop
        started.release()
        try:
            loop.run_forever()
            # what the node's close left running: cancelled (again, for tasks that swallow
            # one cancellation), then async generators closed, each within a bound
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            loop.run_until_complete(cancel_and_wait(pending, rounds=8, interval=0.25))
            loop.run_until_complete(_bounded(loop.shutdown_asyncgens(), 2.0))
        except Exception:
            logger.exception("the %s event loop failed", self.name)
        finally:
            loop.close()
            stopped.release()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the loop (tasks still running are cancelled) and wait for the thread to end;
        whether it ended within ``timeout``."""
        loop = self.loop
        if loop is None or self._stopped is None:
            return True
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            pass
        stopped, self._stopped = self._stopped, None
        ended = bool(stopped.acquire(True, timeout))
        if not ended:
            logger.warning("the %s event loop thread did not stop within %s s", self.name, timeout)
        return ended


async def _bounded(coro: Any, timeout: float) -> None:
    try:
        await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        logger.warning("closing the loop's async generators took over %s s", timeout)


_STOP: Any = object()


class ServerInbox:
    """Work for the server's side, posted from any thread and run in order by one task of
    the server (``server.start_background_task``).

    What runs here must not wait on the loop thread (the loop may be waiting for this
    inbox); work that may (user handlers, disconnects) is started as a task of its own.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.async_mode: str = server.eio.async_mode
        self._wait_readable = _readable_waiter(self.async_mode)
        self._queue: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._write = _real_write()
        # a real lock (held for one write at most): a write must never reach a descriptor
        # number that closing the pipe freed for reuse
        self._pipe_lock = real_thread_api()[1]()
        self._signalled = False
        self._closed = False
        self._task: Any = None
        self._runner: int | None = None
        self._finished = server.eio.create_event()

    def start(self) -> None:
        if self._task is None:
            self._task = self.server.start_background_task(self._run)

    @property
    def closed(self) -> bool:
        return self._closed

    def post(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the server's side soon (safe from any thread)."""
        with self._pipe_lock:
            if self._closed:
                return
            self._queue.append((func, args))
            # at most one wake-up byte is pending, so the write never blocks
            if not self._signalled:
                self._signalled = True
                try:
                    self._write(self._write_fd, b"\0")
                except OSError:
                    pass

    def in_runner(self) -> bool:
        """Whether the caller is the inbox's own task."""
        return self._runner is not None and threading.get_ident() == self._runner

    def stop(self, timeout: float = 10.0) -> bool:
        """Let the work already posted run, then end the task; wait for it (unless called
        from it) and return whether it ended within ``timeout``."""
        if self._task is None or self._closed:
            return True
        self.post(_STOP)
        if self.in_runner():
            return False
        return bool(self._finished.wait(timeout)) or self._closed

    def _run(self) -> None:
        self._runner = threading.get_ident()
        try:
            while True:
                self._wait_readable(self._read_fd)
                try:
                    os.read(self._read_fd, 64)
                except BlockingIOError:
                    pass
                self._signalled = False
                while self._queue:
                    func, args = self._queue.popleft()
                    if func is _STOP:
                        return
                    try:
                        func(*args)
                    except Exception:
                        logger.exception("server-side work %r failed", func)
        finally:
            with self._pipe_lock:
                self._closed = True
                self._queue.clear()
                os.close(self._read_fd)
                os.close(self._write_fd)
            self._finished.set()


def _readable_waiter(async_mode: str) -> Callable[[int], None]:
    """A function that waits, in the server's async mode, until a file descriptor is
    readable (works whether or not the standard library was monkey-patched)."""
    if async_mode == "eventlet":
        from eventlet.hubs import trampoline  # type: ignore[import-untyped]

        def wait_eventlet(fd: int) -> None:
            trampoline(fd, read=True)

        return wait_eventlet
    if async_mode in ("gevent", "gevent_uwsgi"):
        from gevent.socket import wait_read  # type: ignore[import-untyped]

        def wait_gevent(fd: int) -> None:
            wait_read(fd)

        return wait_gevent

    def wait_thread(fd: int) -> None:
        select.select([fd], [], [])

    return wait_thread
