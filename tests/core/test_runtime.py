"""The broker runtime: backoff, link state, decode-and-deliver, payload offload."""

from __future__ import annotations

import logging

import pytest

from socketio_cloud import protocol
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
