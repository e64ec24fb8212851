"""The python-socketio touches connection state recovery needs (socketio_cloud.compat):
version-gated, shape-checked, and a clear error instead of a fallback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from socketio import packet as sio_packet

from socketio_cloud import UnsupportedVersionError, compat
from socketio_cloud.transports.redis_streams import RedisStreamsManager


@pytest.fixture
def unknown_release(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(compat, "_checked", {})
    monkeypatch.setattr(compat, "socketio_version", lambda: "6.0.0")
    yield


class FakeServer:
    """The two methods the hooks wrap, recording their calls."""

    def __init__(self) -> None:
        self.manager = socketio.AsyncManager()
        self.sent: list[tuple[str, Any]] = []
        self.disconnects: list[tuple[str, str | None, str | None]] = []

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        self.sent.append((eio_sid, pkt))

    async def _handle_disconnect(
        self, eio_sid: str, namespace: str | None, reason: str | None = None
    ) -> None:
        self.disconnects.append((eio_sid, namespace, reason))


def test_recovery_on_an_unknown_release_is_a_clear_error(unknown_release: None) -> None:
    manager = RedisStreamsManager(url="redis://127.0.0.1:6379/0", connection_state_recovery=True)
    with pytest.raises(UnsupportedVersionError):
        socketio.AsyncServer(async_mode="asgi", client_manager=manager)


def test_recovery_hooks_need_the_expected_signatures() -> None:
    server = FakeServer()

    async def handle_disconnect(eio_sid: str, namespace: str | None) -> None:
        return None

    server._handle_disconnect = handle_disconnect  # type: ignore[method-assign]

    async def on_disconnect(eio_sid: str, namespace: str, reason: str) -> None:
        return None

    with pytest.raises(UnsupportedVersionError, match="_handle_disconnect"):
        compat.install_recovery_hooks(server, lambda ns, sid: None, on_disconnect)


async def test_the_connect_reply_gets_the_pid_and_the_disconnect_its_reason() -> None:
    server = FakeServer()
    reasons: list[tuple[str, str, str]] = []

    async def on_disconnect(eio_sid: str, namespace: str, reason: str) -> None:
        # python-socketio has not forgotten the socket yet
        assert server.disconnects == []
        reasons.append((eio_sid, namespace, reason))

    pids = {("/chat", "sid1"): "pid1"}
    compat.install_recovery_hooks(server, lambda ns, sid: pids.get((ns, sid)), on_disconnect)

    connect = sio_packet.Packet(sio_packet.CONNECT, {"sid": "sid1"}, namespace="/chat")
    await server._send_packet("eio1", connect)
    other = sio_packet.Packet(sio_packet.CONNECT, {"sid": "sid2"}, namespace="/chat")
    await server._send_packet("eio2", other)
    event = sio_packet.Packet(sio_packet.EVENT, ["news", {"sid": "sid1"}], namespace="/chat")
    await server._send_packet("eio1", event)
    assert [pkt.data for _, pkt in server.sent] == [
        {"sid": "sid1", "pid": "pid1"},
        {"sid": "sid2"},
        ["news", {"sid": "sid1"}],
    ]

    await server._handle_disconnect("eio1", None, "transport close")
    await server._handle_disconnect("eio1", "/chat")
    assert reasons == [("eio1", "/", "transport close")]
    assert server.disconnects == [("eio1", None, "transport close"), ("eio1", "/chat", None)]


def test_a_recovered_socket_is_pre_connected_under_its_old_sid() -> None:
    manager = socketio.AsyncManager()
    assert compat.pre_connect_as(manager, "eio1", "/", "old-sid")
    assert manager.is_pre_connected("old-sid", "/")
    assert manager.sid_from_eio_sid("eio1", "/") == "old-sid"
    assert "old-sid" in manager.rooms["/"]["old-sid"]
    assert manager.pending_connect == {"/": ["old-sid"]}
    # neither the sid nor the Engine.IO connection can be taken twice
    assert not compat.pre_connect_as(manager, "eio2", "/", "old-sid")
    assert not compat.pre_connect_as(manager, "eio1", "/", "another-sid")
    assert manager.pending_connect == {"/": ["old-sid"]}


def test_pre_connect_as_is_off_with_the_switch() -> None:
    manager = socketio.AsyncManager()
    manager.socketio_internals = False
    assert not compat.pre_connect_as(manager, "eio1", "/", "old-sid")
    assert manager.rooms == {}
