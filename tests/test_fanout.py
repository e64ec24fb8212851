"""Local delivery: the fast path into Engine.IO queues and its safe fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from socketio_cloud import MemoryBus, MemoryManager
from socketio_cloud.fanout import LocalDelivery, engineio_version_supported
from tests.behaviour.harness import Node, connect_client, make_node
from tests.support.services import wait_until


def test_engineio_version_check() -> None:
    assert engineio_version_supported("4.15.1")
    assert engineio_version_supported("4.9.0")
    assert not engineio_version_supported("4.8.0")
    assert not engineio_version_supported("5.0.0")
    assert not engineio_version_supported("garbage")
    assert engineio_version_supported()  # the installed version is one we test


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    node = make_node("solo", MemoryManager(bus=MemoryBus()))
    await node.start()
    yield node
    await node.stop()


@pytest.mark.parametrize("fanout", ["auto", "queue", "tasks"])
async def test_every_fanout_mode_delivers_text_and_binary(fanout: str) -> None:
    node = make_node("solo", MemoryManager(bus=MemoryBus(), fanout=fanout))
    await node.start()
    delivery = node.manager._delivery
    assert delivery is not None
    assert delivery.fast_path is (fanout != "tasks")
    assert (delivery.direct is not None) is (fanout == "auto")
    clients = [await connect_client(node, f"c{i}") for i in range(3)]
    try:
        await node.sio.emit("text", {"a": 1})
        await node.sio.emit("bin", b"\x01\x02")
        for client in clients:
            await client.wait_for("bin")
            assert client.received("text") == [({"a": 1},)]
            assert client.received("bin") == [(b"\x01\x02",)]
    finally:
        for client in clients:
            await client.sio.disconnect()
        await node.stop()


def test_an_unknown_fanout_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="fanout"):
        MemoryManager(bus=MemoryBus(), fanout="fast")  # type: ignore[arg-type]


def test_fast_path_is_refused_when_engineio_lacks_the_expected_layout() -> None:
    class Bare:
        eio = object()

    assert LocalDelivery(Bare(), fast_path=True).fast_path is False
    assert LocalDelivery(Bare()).fast_path is False


async def test_closed_sockets_are_skipped(node: Node) -> None:
    client = await connect_client(node, "c")
    delivery = node.manager._delivery
    assert delivery is not None and delivery.fast_path
    eio_sid = node.sio.manager.eio_sid_from_sid(client.sid(), "/")
    await client.sio.disconnect()
    sockets = node.sio.eio.sockets
    await wait_until(
        lambda: eio_sid not in sockets or sockets[eio_sid].closed, 10, "the server to see the close"
    )
    assert delivery.send([eio_sid, "no-such-sid"], LocalDelivery.encode(_event(node))) == 0


def _event(node: Node) -> object:
    from socketio import packet

    return node.sio.packet_class(packet.EVENT, namespace="/", data=["x"])


async def test_binary_broadcast_reaches_polling_and_websocket_clients() -> None:
    from tests.behaviour.harness import Client

    # a short ping interval ends long polls quickly, so the polling client disconnects fast
    node = make_node("solo", MemoryManager(bus=MemoryBus()), ping_interval=1, ping_timeout=5)
    await node.start()
    websocket = await connect_client(node, "ws")
    polling = Client("polling", ["/"])
    await polling.sio.connect(node.url, transports=["polling"], wait_timeout=10)
    try:
        for _ in range(2):  # whichever client encodes first, the other must still decode
            await node.sio.emit("bin", b"\x00\x01\xfe")
        for client in (websocket, polling):
            await client.wait_for("bin", 2)
            assert client.received("bin") == [(b"\x00\x01\xfe",)] * 2
    finally:
        await websocket.sio.disconnect()
        await polling.sio.disconnect()
        await node.stop()


@pytest.mark.parametrize("namespace", ["/", None, "/chat"])
@pytest.mark.parametrize(
    "args",
    [
        ["tick"],
        ["tick", {"seq": 1, "pad": "é" * 3, "nested": [1.5, None, True, {"k": "v"}]}],
        ["tick", "text", 7, [1, 2], {}],
        ["tick", float("nan")],
    ],
)
def test_plain_event_text_is_what_python_socketio_encodes(
    namespace: str | None, args: list[object]
) -> None:
    from socketio import packet as sio_packet

    from socketio_cloud.local import plain_event_text

    expected = sio_packet.Packet(sio_packet.EVENT, namespace=namespace, data=args).encode()
    assert plain_event_text(sio_packet.Packet, namespace, args) == expected


@pytest.mark.parametrize("namespace", ["/", None, "/chat"])
@pytest.mark.parametrize("ack_id", [0, 7, 12345678901])
def test_plain_event_parts_around_an_ack_id_are_what_python_socketio_encodes(
    namespace: str | None, ack_id: int
) -> None:
    from socketio import packet as sio_packet

    from socketio_cloud.local import plain_event_parts

    args = ["tick", {"n": 1, "s": "é"}, [None]]
    parts = plain_event_parts(sio_packet.Packet, namespace, args)
    assert parts is not None
    head, body = parts
    expected = sio_packet.Packet(
        sio_packet.EVENT, namespace=namespace, data=args, id=ack_id
    ).encode()
    assert f"{head}{ack_id}{body}" == expected


def test_plain_event_text_leaves_binary_dates_and_other_serializers_to_the_packet_class() -> None:
    import datetime

    from socketio import packet as sio_packet

    from socketio_cloud.local import plain_event_text

    assert plain_event_text(sio_packet.Packet, "/", ["e", b"\x00"]) is None
    assert plain_event_text(sio_packet.Packet, "/", ["e", {"b": bytearray(1)}]) is None
    assert plain_event_text(sio_packet.Packet, "/", ["e", datetime.datetime.now()]) is None

    class OtherSerializer(sio_packet.Packet):  # as python-socketio's msgpack packet class
        pass

    assert plain_event_text(OtherSerializer, "/", ["e"]) is None

    class CustomJson(sio_packet.Packet):
        json = object()

    assert plain_event_text(CustomJson, "/", ["e"]) is None
