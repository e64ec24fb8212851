"""The broker runtime: what every transport needs besides its own broker calls.

- :class:`Backoff`: jittered exponential delays between retries, never a busy loop.
- :class:`LinkState`: the state of a transport's connections (a receive loop, a publisher,
  a subscriber), one ``connected`` answer, and one log line per change of that answer.
- :class:`Inbox`: decode, drop what is malformed (logged at a bounded rate and counted), and
  deliver to the core in order.
- :class:`CoreHandler`: what the core hands :meth:`Transport.start
  <socketio_cloud.transport.Transport.start>`: the message handler, and a synchronous way
  in for responses that :meth:`Inbox.accept_now` takes.
- :func:`log_rejected`: the rate-limited log line for a dropped message.

Payloads larger than a broker accepts go through :mod:`socketio_cloud.offload`; background
tasks are owned and stopped with :mod:`socketio_cloud.tasks`.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from .exceptions import DecodeError
from .protocol import LARGE_MESSAGE, RESPONSE_TYPES, ClusterMessage
from .transport import MessageHandler

__all__ = [
    "Backoff",
    "CoreHandler",
    "Inbox",
    "LinkState",
    "bounded",
    "log_rejected",
    "report_failure",
]

_T = TypeVar("_T")


def report_failure(
    on_error: Callable[[BaseException], None],
) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback for a publish's future that passes its error, if any, to
    ``on_error`` (for :meth:`Transport.publish_response_soon
    <socketio_cloud.transport.Transport.publish_response_soon>` on a future-based queue)."""

    def done(future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            on_error(asyncio.CancelledError("the publish was cancelled"))
        elif future.exception() is not None:
            on_error(future.exception())  # type: ignore[arg-type]

    return done


async def bounded(awaitable: Awaitable[_T], seconds: float | None) -> _T:
    """Await ``awaitable`` for at most ``seconds`` (None: no bound); raises
    ``asyncio.TimeoutError`` after that.

    On Python 3.11+ this runs in the caller's task (``asyncio.timeout``): ``asyncio.wait_for``
    wraps the awaitable in a task of its own, and its result then reaches the caller one or
    two event-loop iterations later, which on a reader awaiting every broker message is
    latency added to each delivery.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


def start_now(coro: Coroutine[Any, Any, Any]) -> Awaitable[None] | None:
    """Run ``coro`` in the caller's frame until it first waits: None if it finished by
    then, else an awaitable of the rest, to be awaited in a task. What it raises before
    waiting propagates here; its result is dropped.

    A transport that parses a message as its bytes arrive can deliver it there, before
    the reader's task is woken; a handler that has to wait goes on in that task.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return _Rest(coro, waiting_on)


class _Rest:
    """The rest of a coroutine that :func:`start_now` ran until it waited on ``waiting_on``:
    awaiting this hands what it waits on to the awaiting task, and its outcomes back."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: the coroutine decides
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coro.send(sent)
                except StopIteration:
                    return


logger = logging.getLogger("socketio_cloud.runtime")


class Backoff:
    """Exponential backoff with full jitter between ``first`` and ``cap`` seconds.

    >>> backoff = Backoff(0.1, 10.0)
    >>> delay = backoff.next_delay()   # after a failure
    >>> backoff.reset()                # after a success
    """

    def __init__(self, first: float = 0.1, cap: float = 10.0) -> None:
        if first <= 0 or cap < first:
            raise ValueError("need 0 < first <= cap")
        self.first = first
        self.cap = cap
        self._attempt = 0

    @property
    def failures(self) -> int:
        """Failures since the last :meth:`reset`."""
        return self._attempt

    def next_delay(self) -> float:
        """The delay before the next try; each call doubles the ceiling up to ``cap``."""
        ceiling = min(self.cap, self.first * 2 ** min(self._attempt, 32))
        self._attempt += 1
        # never less than ``first``: a failing call must not turn into a busy loop
        return max(self.first, random.uniform(0, ceiling))

    def reset(self) -> None:
        self._attempt = 0


class LinkState:
    """The health of a transport's named links, and the transport's ``connected`` answer.

    A transport reports each outcome (``ok(link)`` / ``failed(link, error)``); the state is
    connected while every link known so far is up. Each change of that answer is logged once
    (a warning when lost, info when back), so an outage costs two log lines, not one per try.
    """

    def __init__(self, broker: str, *, owner: str = "", log: logging.Logger | None = None) -> None:
        self.broker = broker
        self.owner = owner
        self._log = log or logger
        self._links: dict[str, bool] = {}
        self._connected = False
        self._closed = False
        self._lost = False  # whether the connection was ever lost (the first success is no news)

    @property
    def connected(self) -> bool:
        return self._connected and not self._closed

    def ok(self, link: str = "broker") -> None:
        """A call on ``link`` reached the broker."""
        self._set(link, True, None)

    def failed(self, link: str = "broker", error: BaseException | str | None = None) -> None:
        """A call on ``link`` failed to reach the broker."""
        self._set(link, False, error)

    def forget(self, link: str) -> None:
        """``link`` no longer exists (a reader that was stopped on purpose)."""
        self._links.pop(link, None)
        self._update(None, None)

    def close(self) -> None:
        """The transport is closed: ``connected`` is False from now on, and nothing is logged."""
        self._closed = True

    def _set(self, link: str, up: bool, error: BaseException | str | None) -> None:
        self._links[link] = up
        self._update(link, error)

    def _update(self, link: str | None, error: BaseException | str | None) -> None:
        connected = bool(self._links) and all(self._links.values())
        if connected == self._connected:
            return
        self._connected = connected
        if self._closed:
            return
        who = f"{self.owner}: " if self.owner else ""
        if connected and self._lost:
            self._log.info("%s%s is reachable again", who, self.broker)
        elif connected:
            self._log.debug("%sconnected to %s", who, self.broker)
        else:
            self._lost = True
            self._log.warning("%slost the connection to %s (%s: %s)", who, self.broker, link, error)


_last_rejection_log: dict[str, float] = {}


def log_rejected(broker: str, reason: object, *, interval: float = 5.0) -> None:
    """Log a dropped, malformed message: a warning at most once per ``interval`` per broker
    (the rest at debug level), so a flood of garbage cannot flood the log."""
    now = time.monotonic()
    if now - _last_rejection_log.get(broker, 0.0) >= interval:
        _last_rejection_log[broker] = now
        logger.warning("%s: dropped a malformed message: %s", broker, reason)
    else:
        logger.debug("%s: dropped a malformed message: %s", broker, reason)


class CoreHandler:
    """The core's handler of received messages (a :data:`MessageHandler
    <socketio_cloud.transport.MessageHandler>`: ``await handler(message, offset)``) with a
    synchronous way in for responses (types 8 to 13), whose handling never waits:
    ``respond_now(message)``, which never raises either.

    A broadcast with acknowledgements to thousands of clients brings the asking node one
    response per client; :meth:`Inbox.accept_now` hands those over without the coroutines
    of the general path. A transport needs to know nothing of this: it passes on what it
    was given to its :class:`Inbox`.
    """

    __slots__ = ("_on_message", "respond_now")

    def __init__(
        self, on_message: MessageHandler, respond_now: Callable[[ClusterMessage], None]
    ) -> None:
        self._on_message = on_message
        self.respond_now = respond_now

    def __call__(self, message: ClusterMessage, offset: str | None = None) -> Awaitable[None]:
        return self._on_message(message, offset)


class Inbox:
    """Where a transport hands what it receives: decode, drop, deliver.

    ``accept(decode, offset)`` runs the transport's decoder; a
    :class:`~socketio_cloud.exceptions.DecodeError` (or any error a hostile message provokes
    in a decoder) drops the message, logged at a bounded rate and counted in ``stats``;
    a decoder may return None for messages to skip silently (another namespace, a probe).
    Messages are delivered one at a time, in the order the transport accepts them; the
    core's handler never raises.

    The node's own messages (``uid``) are dropped here, the one place that does it (a
    transport may skip them earlier, before decoding, where its framing allows).
    """

    def __init__(self, broker: str, on_message: MessageHandler, *, uid: str = "") -> None:
        self.broker = broker
        self.uid = uid
        self._on_message = on_message
        # the core's synchronous way in for responses, when it offers one (CoreHandler)
        self._respond_now: Callable[[ClusterMessage], None] | None = getattr(
            on_message, "respond_now", None
        )
        self.stats: Counter[str] = Counter()

    async def accept(
        self,
        decode: Callable[[], ClusterMessage | Awaitable[ClusterMessage | None] | None],
        offset: str | None = None,
        *,
        size: int | None = None,
    ) -> None:
        """Decode one received item and deliver the message it holds, if any.

        ``decode`` may be a coroutine function (a decoder that fetches an offloaded payload).
        ``size``: the item's size in bytes, if the transport knows it. A large response (a
        ``fetch_sockets`` answer from a node with thousands of sockets) is then decoded and
        handled with the garbage collector paused, and what decoding built is freed before
        it runs again, so that it never walks those objects.
        """
        paused = size is not None and size >= LARGE_MESSAGE and gc.isenabled()
        if paused:
            gc.disable()
        try:
            try:
                decoded = decode()
                if type(decoded) is not ClusterMessage and inspect.isawaitable(decoded):
                    if paused:  # a decoder that waits on the network: not with it off
                        gc.enable()
                        paused = False
                    decoded = await decoded
                message = decoded
            except Exception as exc:  # whatever a hostile message provokes, keep consuming
                self._drop(exc)
                return
            if message is None:
                return
            if paused and message.type not in RESPONSE_TYPES:
                # only a response is handled without waiting on anything
                gc.enable()
                paused = False
            await self.deliver(message, offset)
            decoded = message = None  # freed before the collector is back on
        finally:
            if paused:
                gc.enable()

    def accept_now(
        self, decode: Callable[[], ClusterMessage | None], *, size: int | None = None
    ) -> Awaitable[None] | None:
        """:meth:`accept` for a synchronous decoder and a message without an offset, with
        no coroutine where none is needed.

        A response is decoded and handed to the core's ``respond_now`` right here
        (:class:`CoreHandler`), and so is anything dropped; None is returned then. Anything
        else comes back as an awaitable that delivers it, which the transport awaits before
        it accepts the next message (messages stay in order). A large message (``size``)
        and a core without ``respond_now`` take :meth:`accept`'s path.
        """
        respond_now = self._respond_now
        if respond_now is None or (size is not None and size >= LARGE_MESSAGE):
            return self.accept(decode, size=size)
        try:
            message = decode()
        except Exception as exc:  # whatever a hostile message provokes, keep consuming
            self._drop(exc)
            return None
        if message is None:
            return None
        if message.type not in RESPONSE_TYPES:
            return self.deliver(message)
        if self._from_another_node(message):
            respond_now(message)
        return None

    async def deliver(self, message: ClusterMessage, offset: str | None = None) -> None:
        """Deliver an already decoded message (unless it is the node's own)."""
        if self._from_another_node(message):
            await self._on_message(message, offset)

    def _from_another_node(self, message: ClusterMessage) -> bool:
        """Count ``message`` as delivered, or as the node's own (to be dropped)."""
        if message.uid == self.uid:
            self.stats["own"] += 1
            return False
        self.stats["delivered"] += 1
        return True

    def _drop(self, error: Exception) -> None:
        """Reject a message whose decoding failed: a malformed one, or a decoder error a
        hostile one provoked (named by its type)."""
        self.reject(error if isinstance(error, DecodeError) else f"{type(error).__name__}: {error}")

    def reject(self, reason: object) -> None:
        """Count and log (rate-limited) a message that was dropped as malformed."""
        self.stats["rejected"] += 1
        log_rejected(self.broker, reason)
