"""The AWS transport's thread pool: calls run off the loop, and never hold the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from socketio_cloud.transports.aws.calls import DaemonThreadPool


def test_runs_calls_on_at_most_max_workers_threads() -> None:
    pool = DaemonThreadPool(3, "test")
    names: set[str] = set()
    barrier = threading.Barrier(3)

    def work(n: int) -> int:
        if n < 3:
            barrier.wait(5)  # three calls at once need three threads
        names.add(threading.current_thread().name)
        return n * 2

    futures = [pool.submit(work, n) for n in range(10)]
    assert [f.result(5) for f in futures] == [n * 2 for n in range(10)]
    assert len(names) == 3 and all(t.daemon for t in threading.enumerate() if t.name in names)
    pool.shutdown()


def test_exceptions_and_cancellation() -> None:
    pool = DaemonThreadPool(1, "test")
    started = threading.Event()
    release = threading.Event()

    def block() -> None:
        started.set()
        release.wait(5)

    first = pool.submit(block)
    started.wait(5)
    queued = pool.submit(lambda: 1)
    failing = pool.submit(lambda: 1 / 0)
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    first.result(5)
    assert queued.cancelled() and failing.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: 1)
    pool2 = DaemonThreadPool(1, "test")
    with pytest.raises(ZeroDivisionError):
        pool2.submit(lambda: 1 / 0).result(5)
    pool2.shutdown()


def test_a_blocked_call_does_not_hold_interpreter_exit() -> None:
    script = textwrap.dedent(
        """
        import time
        from socketio_cloud.transports.aws.calls import DaemonThreadPool
        pool = DaemonThreadPool(1, "poll")
        pool.submit(time.sleep, 60)   # like a long poll still waiting on SQS
        time.sleep(0.2)
        """
    )
    # a ThreadPoolExecutor would keep the process for the whole minute and hit the timeout
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
