"""Values only Node peers produce reach Python clients in the form Node clients get."""

from __future__ import annotations

from datetime import datetime, timezone

import msgpack

from socketio_cloud import MemoryBus, MemoryManager
from socketio_cloud.local import js_json_compatible
from tests.behaviour.harness import connect_client, make_node


def test_js_json_compatible_formats_dates_like_javascript() -> None:
    moment = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=timezone.utc)
    assert js_json_compatible([{"at": moment}, (1,)]) == [{"at": "2026-11-22T01:02:03.456Z"}, [1]]
    assert js_json_compatible(datetime(1969, 7, 20, 20, 17)) == "1969-07-20T20:17:00.000Z"


async def test_a_node_date_reaches_python_clients_as_iso_text() -> None:
    bus = MemoryBus()
    node = make_node("solo", MemoryManager(bus=bus))
    await node.start()
    client = await connect_client(node, "c")
    try:
        moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
        envelope = {
            "type": 3,
            "data": {
                "packet": {"type": 2, "data": ["when", {"at": moment}]},
                "opts": {"rooms": [], "except": [], "flags": {}},
            },
            "uid": "0123456789abcdef",
            "nsp": "/",
        }
        bus.send(msgpack.packb(envelope, datetime=True), sender="0123456789abcdef")
        await client.wait_for("when")
        assert client.received("when") == [({"at": "2026-01-02T03:04:05.678Z"},)]
    finally:
        await client.sio.disconnect()
        await node.stop()


def test_json_envelopes_carry_dates_as_javascript_does() -> None:
    from socketio_cloud import protocol

    message = protocol.ClusterMessage(
        protocol.MessageType.SERVER_SIDE_EMIT,
        "0123456789abcdef",
        "/",
        {"packet": ["at", datetime(2026, 1, 2, tzinfo=timezone.utc)]},
    )
    assert '"2026-01-02T00:00:00.000Z"' in protocol.encode_json(message)


async def test_responses_are_published_with_bounded_concurrency() -> None:
    import asyncio

    from socketio_cloud import protocol
    from socketio_cloud.node import MAX_CONCURRENT_RESPONSES
    from socketio_cloud.transports.memory import MemoryTransport

    class SlowTransport(MemoryTransport):
        def __init__(self) -> None:
            super().__init__(MemoryBus())
            self.in_flight = 0
            self.most = 0
            self.sent = 0

        async def publish_response(self, requester_uid: str, message: object) -> None:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.01)
            self.in_flight -= 1
            self.sent += 1

    transport = SlowTransport()
    manager = MemoryManager(bus=MemoryBus())
    manager.transport = transport
    message = protocol.ClusterMessage(
        protocol.MessageType.BROADCAST_ACK, manager.uid, "/", {"requestId": "ab"}
    )
    for _ in range(100):
        manager._respond("0123456789abcdef", message)
    await asyncio.gather(*list(manager._tasks))
    assert transport.sent == 100
    assert transport.most == MAX_CONCURRENT_RESPONSES
