"""The broker runtime: backoff, link state, decode-and-deliver, payload offload."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Awaitable

import pytest

from socketio_cloud import protocol, runtime
from socketio_cloud.exceptions import DecodeError, PayloadTooLarge, TransportError
from socketio_cloud.offload import Offload
from socketio_cloud.protocol import ClusterMessage, MessageType
from socketio_cloud.runtime import Backoff, Inbox, LinkState


def test_backoff_grows_to_its_cap_and_never_goes_below_its_first_delay() -> None:
    backoff = Backoff(0.1, 2.0)
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0.1 <= d <= 2.0 for d in delays)
    assert backoff.failures == 50
    backoff.reset()
    assert backoff.failures == 0


def test_link_state_logs_each_change_once(caplog: pytest.LogCaptureFixture) -> None:
    links = LinkState("redis", owner="node x")
    with caplog.at_level(logging.INFO, logger="socketio_cloud"):
        links.ok("reader")
        links.ok("publisher")
        assert links.connected
        for _ in range(5):
            links.failed("reader", OSError("refused"))
        assert not links.connected
        links.ok("reader")
        links.ok("reader")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lost the connection" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1  # the recovery, not the start
    links.close()
    assert not links.connected


async def test_the_inbox_drops_malformed_input_and_keeps_delivering() -> None:
    received: list[ClusterMessage] = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        received.append(message)

    inbox = Inbox("test", on_message, uid="b" * 16)
    good = protocol.encode(ClusterMessage(MessageType.HEARTBEAT, "a" * 16, "/"))
    own = protocol.encode(ClusterMessage(MessageType.HEARTBEAT, "b" * 16, "/"))

    async def fetched() -> ClusterMessage:
        return protocol.decode(good)

    await inbox.accept(lambda: protocol.decode(b"\xc1 garbage"))
    await inbox.accept(lambda: [][1])  # a decoder bug provoked by hostile input
    await inbox.accept(lambda: None)  # skipped on purpose, not an error
    await inbox.accept(lambda: protocol.decode(own))  # the node's own message: dropped
    await inbox.accept(lambda: protocol.decode(good))
    await inbox.accept(fetched)
    assert [m.uid for m in received] == ["a" * 16, "a" * 16]
    assert inbox.stats == {"rejected": 2, "delivered": 2, "own": 1}


async def test_a_large_response_is_handled_with_the_collector_paused_and_freed_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[MessageType, bool]] = []
    alive: list[weakref.ref[ClusterMessage]] = []
    alive_when_enabled: list[bool] = []

    class Collector:
        """The gc module, noting whether the last message is still alive when the
        collector is turned back on."""

        isenabled = staticmethod(gc.isenabled)
        disable = staticmethod(gc.disable)

        @staticmethod
        def enable() -> None:
            alive_when_enabled.append(bool(alive) and alive[-1]() is not None)
            gc.enable()

    monkeypatch.setattr(runtime, "gc", Collector)

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        seen.append((message.type, gc.isenabled()))
        alive.append(weakref.ref(message))

    inbox = Inbox("test", on_message, uid="b" * 16)
    answer = protocol.encode(
        ClusterMessage(
            MessageType.FETCH_SOCKETS_RESPONSE,
            "a" * 16,
            "/",
            {"requestId": "1" * 16, "sockets": []},
        )
    )
    broadcast = protocol.encode(
        ClusterMessage(
            MessageType.BROADCAST,
            "a" * 16,
            "/",
            protocol.broadcast_data(protocol.BroadcastOptions(), ["event"]),
        )
    )

    async def fetched() -> ClusterMessage:
        return protocol.decode(answer)

    await inbox.accept(lambda: protocol.decode(answer), size=protocol.LARGE_MESSAGE)
    # paused while it was handled, and what decoding built was gone when it came back on
    assert seen == [(MessageType.FETCH_SOCKETS_RESPONSE, False)]
    assert alive_when_enabled == [False] and gc.isenabled()
    # what is not a response, or is fetched over the network, or is small, is handled as usual
    await inbox.accept(lambda: protocol.decode(broadcast), size=protocol.LARGE_MESSAGE)
    await inbox.accept(fetched, size=protocol.LARGE_MESSAGE)
    await inbox.accept(lambda: protocol.decode(answer), size=protocol.LARGE_MESSAGE - 1)
    await inbox.accept(lambda: protocol.decode(b"\xc1"), size=protocol.LARGE_MESSAGE)
    assert seen[1:] == [
        (MessageType.BROADCAST, True),
        (MessageType.FETCH_SOCKETS_RESPONSE, True),
        (MessageType.FETCH_SOCKETS_RESPONSE, True),
    ]
    assert gc.isenabled() and inbox.stats["rejected"] == 1


async def test_accept_now_hands_responses_over_synchronously_and_the_rest_in_order() -> None:
    handled: list[tuple[str, MessageType]] = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        await asyncio.sleep(0)  # a handler that waits
        handled.append(("awaited", message.type))

    def respond_now(message: ClusterMessage) -> None:
        handled.append(("now", message.type))

    inbox = Inbox("test", runtime.CoreHandler(on_message, respond_now), uid="b" * 16)
    ack = ClusterMessage(MessageType.BROADCAST_ACK, "a" * 16, "/", {"requestId": "1" * 16})
    own_ack = ClusterMessage(MessageType.BROADCAST_ACK, "b" * 16, "/", {"requestId": "1" * 16})
    broadcast = ClusterMessage(
        MessageType.BROADCAST,
        "a" * 16,
        "/",
        protocol.broadcast_data(protocol.BroadcastOptions(), ["event"]),
    )
    assert inbox.accept_now(lambda: protocol.decode(protocol.encode(ack))) is None
    assert handled == [("now", MessageType.BROADCAST_ACK)]  # before anything was awaited
    pending = inbox.accept_now(lambda: protocol.decode(protocol.encode(broadcast)))
    assert pending is not None and handled == [("now", MessageType.BROADCAST_ACK)]
    await pending
    for dropped in (
        lambda: protocol.decode(b"\xc1 garbage"),
        lambda: [][1],  # a decoder bug provoked by hostile input
        lambda: None,
        lambda: own_ack,
    ):
        assert inbox.accept_now(dropped) is None
    # a large response takes accept's path (the collector pause) and is awaited
    pending = inbox.accept_now(lambda: ack, size=protocol.LARGE_MESSAGE)
    assert pending is not None
    await pending
    assert handled == [
        ("now", MessageType.BROADCAST_ACK),
        ("awaited", MessageType.BROADCAST),
        ("awaited", MessageType.BROADCAST_ACK),
    ]
    assert inbox.stats == {"rejected": 2, "delivered": 3, "own": 1}


async def test_accept_now_awaits_a_plain_handler_for_responses_too() -> None:
    handled: list[MessageType] = []

    async def on_message(message: ClusterMessage, offset: str | None) -> None:
        handled.append(message.type)

    inbox = Inbox("test", on_message, uid="b" * 16)
    ack = ClusterMessage(MessageType.BROADCAST_ACK, "a" * 16, "/", {"requestId": "1" * 16})
    pending = inbox.accept_now(lambda: ack)
    assert pending is not None and handled == []
    await pending
    assert handled == [MessageType.BROADCAST_ACK]


class _Store:
    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    async def put(self, sender_uid: str, payload: bytes) -> str:
        pointer = f"bucket/{sender_uid}/{len(self.items)}"
        self.items[pointer] = payload
        return pointer

    async def get(self, pointer: str) -> bytes:
        if pointer not in self.items:
            raise DecodeError("unknown pointer")
        return self.items[pointer]


async def test_offload_stores_what_the_broker_cannot_carry() -> None:
    limits = protocol.Limits(max_message_size=1000)
    store = _Store()
    offload = Offload(100, store, limits)
    assert offload.fits(100) and not offload.fits(101)
    assert offload.max_message_size == 1000
    pointer = await offload.store_payload("u", b"x" * 500, 520)
    assert await offload.fetch_payload(pointer) == b"x" * 500
    with pytest.raises(PayloadTooLarge):
        await offload.store_payload("u", b"x" * 1001, 1020)
    with pytest.raises(DecodeError):
        await offload.fetch_payload("bucket/elsewhere")


async def test_without_a_store_large_payloads_are_refused_with_the_hint() -> None:
    offload = Offload(100, None, protocol.DEFAULT_LIMITS, hint="set large_payload_bucket")
    assert offload.max_message_size == 100
    # a broker that carries more than receivers accept: the receivers' limit applies
    roomy = Offload(10_000, None, protocol.Limits(max_message_size=1000))
    assert roomy.max_message_size == 1000 and not roomy.fits(1001)
    with pytest.raises(PayloadTooLarge, match="receivers would drop it"):
        await roomy.store_payload("u", b"x" * 1001, 1001)
    with pytest.raises(PayloadTooLarge, match="large_payload_bucket"):
        await offload.store_payload("u", b"x" * 200, 200)
    with pytest.raises(DecodeError):
        await offload.fetch_payload("bucket/key")


async def test_a_failing_store_is_a_transport_error() -> None:
    class Broken(_Store):
        async def put(self, sender_uid: str, payload: bytes) -> str:
            raise OSError("store down")

    offload = Offload(10, Broken(), protocol.DEFAULT_LIMITS)
    with pytest.raises(TransportError, match="store down"):
        await offload.store_payload("u", b"x" * 20, 20)


async def test_bounded_returns_the_result_or_times_out_and_cancels() -> None:
    import asyncio

    from socketio_cloud.runtime import bounded

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await bounded(answer(), 1.0) == 42
    assert await bounded(answer(), None) == 42
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(asyncio.TimeoutError):
        await bounded(never, 0.01)
    assert never.cancelled()


async def test_report_failure_passes_a_publish_error_on_and_nothing_else() -> None:
    import asyncio

    from socketio_cloud.runtime import report_failure

    errors: list[BaseException] = []
    loop = asyncio.get_running_loop()
    done, failed, cancelled = loop.create_future(), loop.create_future(), loop.create_future()
    for future in (done, failed, cancelled):
        future.add_done_callback(report_failure(errors.append))
    done.set_result("1-0")
    failed.set_exception(TransportError("gone"))
    cancelled.cancel()
    await asyncio.sleep(0)
    assert [type(error) for error in errors] == [TransportError, asyncio.CancelledError]


async def test_start_now_finishes_what_never_waits_in_the_callers_frame() -> None:
    steps: list[str] = []

    async def inner() -> str:
        steps.append("inner")
        return "done"

    async def handler() -> None:
        steps.append(await inner())

    assert runtime.start_now(handler()) is None
    assert steps == ["inner", "done"]


async def test_start_now_hands_the_rest_to_whoever_awaits_it() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    steps: list[object] = []

    async def handler() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield to the loop, too
        steps.append("after")

    rest = runtime.start_now(handler())
    assert rest is not None and steps == ["before"]
    task = asyncio.ensure_future(_awaiting(rest))
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_result(7)
    await task
    assert steps == ["before", 7, "after"]


async def test_the_rest_of_start_now_gets_errors_and_cancellation() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    seen: list[str] = []

    async def handler() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    rest = runtime.start_now(handler())
    assert rest is not None
    task = asyncio.ensure_future(_awaiting(rest))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]

    failing: asyncio.Future[None] = loop.create_future()

    async def raises_later() -> None:
        await failing

    rest = runtime.start_now(raises_later())
    assert rest is not None
    failing.set_exception(KeyError("later"))
    with pytest.raises(KeyError):
        await rest


async def test_what_start_now_raises_before_waiting_propagates() -> None:
    async def raises_at_once() -> None:
        raise ValueError("at once")

    with pytest.raises(ValueError, match="at once"):
        runtime.start_now(raises_at_once())


async def _awaiting(rest: Awaitable[None]) -> None:
    await rest
