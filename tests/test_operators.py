"""The fluent selector and what it puts on the wire."""

from __future__ import annotations

import pytest

from socketio_cloud import MemoryBus, MemoryEmitter, MemoryManager, protocol
from socketio_cloud.operators import normalize_namespace, room_list
from socketio_cloud.transports.memory import MemoryTransport


def test_room_list_accepts_one_many_or_none() -> None:
    assert room_list(None) == ()
    assert room_list("a") == ("a",)
    assert room_list(["a", "b", "a"]) == ("a", "b")
    with pytest.raises(TypeError):
        room_list([1])  # type: ignore[list-item]


def test_normalize_namespace() -> None:
    assert normalize_namespace(None) == "/"
    assert normalize_namespace("admin") == "/admin"
    assert normalize_namespace("/admin") == "/admin"


def test_operators_are_immutable_and_compose() -> None:
    manager = MemoryManager(bus=MemoryBus())
    base = manager.to("a")
    chained = base.to(["b"]).except_("c").of("chat").timeout(2.5).volatile.compress(False)
    assert base.rooms == ("a",) and base.flags == {}
    assert chained.rooms == ("a", "b") and chained.except_rooms == ("c",)
    assert chained.namespace == "/chat"
    assert chained.flags == {"timeout": 2500, "volatile": True, "compress": False}
    with pytest.raises(ValueError):
        manager.timeout(0)


class _Recorder(MemoryTransport):
    """Captures what an emitter publishes, as decoded wire maps."""

    def __init__(self) -> None:
        super().__init__(MemoryBus())
        self.sent: list[dict[str, object]] = []

    async def publish(self, message: protocol.ClusterMessage) -> str | None:
        self.sent.append(protocol.decode(protocol.encode(message)).to_wire())
        return None


async def test_emitter_wire_messages() -> None:
    from socketio_cloud.emitter import Emitter

    recorder = _Recorder()
    emitter = Emitter(recorder)
    await emitter.of("admin").to("r").except_("x").emit("ev", 1)
    await emitter.sockets_join("j")
    await emitter.to("r").disconnect_sockets(close=True)
    await emitter.server_side_emit("hello", "w")
    broadcast, join, disconnect, sse = recorder.sent
    assert broadcast == {
        "type": 3,
        "data": {
            "packet": {"type": 2, "data": ["ev", 1]},
            "opts": {"rooms": ["r"], "except": ["x"], "flags": {}},
        },
        "uid": "emitter",
        "nsp": "/admin",
    }
    assert join["data"] == {"opts": {"rooms": [], "except": [], "flags": {}}, "rooms": ["j"]}
    assert disconnect["data"]["close"] is True
    assert sse == {"type": 9, "data": {"packet": ["hello", "w"]}, "uid": "emitter", "nsp": "/"}
    with pytest.raises(TypeError):
        await emitter.to("r").timeout(1).emit_with_ack("x")
    with pytest.raises(TypeError):
        await emitter.to("r").fetch_sockets()
    with pytest.raises(TypeError):
        await MemoryEmitter(MemoryBus()).to("r").local.emit("x")
