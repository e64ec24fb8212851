"""boto3 calls of the AWS transport: run off the event loop, counted, classified.

boto3 is synchronous. Every call runs in a thread pool owned by one transport, so the event
loop never blocks on the network; boto3 clients are thread-safe, sessions are not, so the
clients are made once, in a pool thread, before the first call.

Each call is counted by operation (``"sns:Publish"``, ``"sqs:ReceiveMessage"``, ...), which
is what AWS bills for: :attr:`AwsCalls.stats` lets benchmarks report calls per broadcast
and per idle node-hour. Retries made inside botocore are not counted.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ...brokers.aws import TRANSIENT_ERROR_CODES, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["AwsCalls", "DaemonThreadPool", "error_code", "is_transient"]

Service = Literal["sns", "sqs", "s3"]
T = TypeVar("T")

# boto3 sessions are not thread-safe and a caller may hand the same session to several
# transports: make clients one at a time, process-wide (it happens once per client).
_CLIENT_CREATION = threading.Lock()


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call may succeed when tried again: throttling, 5xx, network."""
    if isinstance(exc, ClientError):
        if error_code(exc) in TRANSIENT_ERROR_CODES:
            return True
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return isinstance(status, int) and status >= 500
    # Connection refused, timeouts, closed connections; not configuration errors such as
    # missing credentials, which no retry can fix.
    return isinstance(exc, (BotoConnectionError, HTTPClientError, OSError))


class DaemonThreadPool(Executor):
    """A pool of daemon threads.

    ``ThreadPoolExecutor`` joins its threads when the interpreter exits, so a long poll still
    waiting on SQS (up to 20 s) would hold the process after the node closed. A daemon thread
    does not: the node's resources are already deleted by then, and the poll is abandoned.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            self._work.put((future, lambda: fn(*args, **kwargs)))
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._worker, name=f"{self._prefix}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            elif self._idle > 0:
                self._idle -= 1
        return future

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    result = call()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        item = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            for _ in self._threads:
                self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class AwsCalls:
    """The SNS, SQS and S3 clients of one transport and the threads their calls run on.

    Clients given by the caller are used as they are; missing ones are made from
    ``session`` (a new :class:`boto3.session.Session` by default), ``endpoint_url`` and
    ``region_name``, with standard retries and a connection pool as large as the pool of
    threads. ``read_timeout`` must exceed the longest SQS long poll.
    """

    def __init__(
        self,
        *,
        threads: int,
        read_timeout: float,
        session: boto3.session.Session | None = None,
        sqs_client: SQSClient | None = None,
        sns_client: SNSClient | None = None,
        s3_client: S3Client | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
    ) -> None:
        self._threads = threads
        self._read_timeout = read_timeout
        self._session = session
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._clients: dict[str, Any] = {}
        for name, client in (("sqs", sqs_client), ("sns", sns_client), ("s3", s3_client)):
            if client is not None:
                self._clients[name] = client
        self._executor: DaemonThreadPool | None = None
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()

    # ------------------------------------------------------------------------ threads

    def _pool(self) -> DaemonThreadPool:
        if self._executor is None:
            self._executor = DaemonThreadPool(
                max_workers=self._threads, thread_name_prefix="socketio-cloud-aws"
            )
        return self._executor

    def shutdown(self) -> None:
        """Release the threads. A long poll still running ends on its own, unattended."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def run(self, label: str, func: Callable[[], T]) -> T:
        """Run ``func`` in the pool, counting it as one call of ``label``."""
        with self._counts_lock:
            self._counts[label] += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), func)

    # ------------------------------------------------------------------------ clients

    def client(self, service: Service) -> Any:
        """The client of ``service``, made on first use (call from a pool thread)."""
        client = self._clients.get(service)
        if client is not None:
            return client
        with _CLIENT_CREATION:
            client = self._clients.get(service)
            if client is None:
                if self._session is None:
                    self._session = boto3.session.Session()
                config = Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    max_pool_connections=self._threads,
                    connect_timeout=5,
                    read_timeout=self._read_timeout,
                    tcp_keepalive=True,
                )
                client = self._session.client(
                    service,
                    endpoint_url=self._endpoint_url,
                    region_name=self._region_name,
                    config=config,
                )
                self._clients[service] = client
        return client

    async def open(self, *services: Service) -> None:
        """Make the clients of ``services`` now (loading botocore models takes a while)."""

        def make() -> None:
            for service in services:
                self.client(service)

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool(), make)

    def region(self) -> str:
        """The region the SQS client talks to (clients must exist)."""
        return str(self.client("sqs").meta.region_name)

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (AWS spelling, e.g. ``"ReceiveMessage"``) on ``service``."""
        method = xform_name(operation)

        def invoke() -> dict[str, Any]:
            result: dict[str, Any] = getattr(self.client(service), method)(**params)
            return result

        return await self.run(f"{service}:{operation}", invoke)

    # ------------------------------------------------------------------------ accounting

    @property
    def stats(self) -> dict[str, int]:
        """Calls made so far, by ``"<service>:<Operation>"``."""
        with self._counts_lock:
            return dict(self._counts)
