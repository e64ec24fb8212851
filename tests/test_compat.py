"""The python-socketio compatibility seam: version gate, shape checks, fallbacks, switch.

Capturing the CONNECT ``auth`` on the installed version end to end is covered by
tests/behaviour/test_requests.py::test_fetch_sockets_returns_every_socket_with_its_details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import engineio
import pytest
import socketio

from socketio_cloud import MemoryBus, MemoryManager, UnsupportedVersionError, compat
from tests.behaviour.harness import FAST_HEARTBEATS, Node, connect_client, make_node
from tests.support.services import wait_until


@pytest.fixture
def fake_version(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Pretend another python-socketio release is installed (and forget earlier checks)."""
    monkeypatch.setattr(compat, "_checked", {})

    def install(version: str) -> None:
        monkeypatch.setattr(compat, "socketio_version", lambda: version)

    yield install


def test_installed_version_is_supported() -> None:
    assert compat.check_socketio_version() is True


@pytest.mark.parametrize("version", ["5.17.1", "5.0.0", "5.11.4"])
def test_release_without_pre_connect_is_a_clear_error(version: str) -> None:
    with pytest.raises(UnsupportedVersionError, match=r"python-socketio>=5\.18,<6"):
        compat.check_socketio_version(version)


@pytest.mark.parametrize("version", ["6.0.0", "7.1", "5.x", "unknown"])
def test_unknown_release_falls_back_with_one_warning(
    fake_version: Callable[[str], None], version: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake_version(version)
    with caplog.at_level(logging.WARNING, logger="socketio_cloud.compat"):
        assert compat.check_socketio_version() is False
        assert compat.check_socketio_version() is False
    warnings = [r for r in caplog.records if r.name == "socketio_cloud.compat"]
    assert len(warnings) == 1
    assert version in warnings[0].getMessage()


def test_server_refuses_a_manager_on_a_release_too_old(
    fake_version: Callable[[str], None],
) -> None:
    fake_version("5.17.1")
    with pytest.raises(UnsupportedVersionError):
        socketio.AsyncServer(async_mode="asgi", client_manager=MemoryManager(bus=MemoryBus()))


def _server(manager: MemoryManager | None = None, **options: Any) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="asgi", client_manager=manager or MemoryManager(bus=MemoryBus()), **options
    )


def test_connect_auth_is_captured_on_the_installed_version() -> None:
    server = _server()
    assert "_handle_connect" in vars(server)


def test_connect_auth_capture_falls_back_on_an_unknown_release(
    fake_version: Callable[[str], None],
) -> None:
    fake_version("6.0.0")
    server = _server()
    assert "_handle_connect" not in vars(server)


def test_connect_auth_capture_needs_the_expected_signature() -> None:
    server = _server()

    async def other(eio_sid: str, namespace: str) -> None:
        return None

    server._handle_connect = other
    assert compat.capture_connect_auth(server, {}) is False
    assert server._handle_connect is other


def test_switch_turns_every_touch_off() -> None:
    manager = MemoryManager(bus=MemoryBus())
    manager.socketio_internals = False
    server = _server(manager, namespaces="*")
    server.on("connect", lambda sid, environ: None, namespace="/chat")
    assert "_handle_connect" not in vars(server)
    assert compat.served_namespaces(server) == set()
    assert compat.forget_pending(manager, "sid", "/") is False


def test_served_namespaces_reads_handlers_namespace_classes_and_options() -> None:
    server = _server(namespaces=["/", "/listed"])
    server.on("connect", lambda sid, environ: None, namespace="/chat")
    server.register_namespace(socketio.AsyncNamespace("/admin"))
    assert compat.served_namespaces(server) == {"/", "/listed", "/chat", "/admin"}


def test_catch_all_namespaces_are_not_listed_as_served() -> None:
    server = _server(namespaces="*")
    server.on("connect", lambda sid, environ: None, namespace="*")
    server.register_namespace(socketio.AsyncNamespace("*"))
    assert compat.served_namespaces(server) == set()


def test_handler_tables_of_an_unexpected_shape_are_ignored() -> None:
    server = _server()
    server.handlers = ["/odd"]
    server.namespace_handlers = None
    server.namespaces = "/"
    assert compat.served_namespaces(server) == set()


async def test_session_reader_reads_what_get_session_returns() -> None:
    server = socketio.AsyncServer(async_mode="asgi")
    socket = engineio.async_socket.AsyncSocket(server.eio, "e1")
    server.eio.sockets["e1"] = socket
    sid = await server.manager.connect("e1", "/chat")
    read = compat.session_reader(server, "/chat")
    assert read is not None
    session = await server.get_session(sid, namespace="/chat")
    session["name"] = "alice"
    assert read("e1") is session
    with pytest.raises(KeyError):
        read("unknown")
    socket.closed = True
    with pytest.raises(KeyError):
        read("e1")


class _OwnSessions(socketio.AsyncServer):
    async def get_session(self, sid: str, namespace: str | None = None) -> Any:
        return {"from": "a store"}


def _instance_override(server: socketio.AsyncServer) -> None:
    async def get_session(sid: str, namespace: str | None = None) -> Any:
        return {}

    server.get_session = get_session  # type: ignore[method-assign]


def _engineio_override(server: socketio.AsyncServer) -> None:
    async def get_session(eio_sid: str) -> Any:
        return {}

    server.eio.get_session = get_session  # type: ignore[method-assign]


def _internals_off(server: socketio.AsyncServer) -> None:
    server.manager.socketio_internals = False


@pytest.mark.parametrize(
    ("server_class", "change"),
    [
        (_OwnSessions, lambda server: None),
        (socketio.AsyncServer, _instance_override),
        (socketio.AsyncServer, _engineio_override),
        (socketio.AsyncServer, _internals_off),
    ],
)
def test_session_reader_leaves_overridden_sessions_to_get_session(
    server_class: type[socketio.AsyncServer], change: Callable[[socketio.AsyncServer], None]
) -> None:
    server = server_class(async_mode="asgi")
    change(server)
    assert compat.session_reader(server, "/") is None


def test_forget_pending_drops_the_sid_and_empty_namespaces() -> None:
    manager = MemoryManager(bus=MemoryBus())
    manager.pending_connect = {"/": ["a", "b"], "/chat": ["a"]}
    manager.pending_disconnect = {"/": ["a"]}
    assert compat.forget_pending(manager, "a", "/") is True
    assert manager.pending_connect == {"/": ["b"], "/chat": ["a"]}
    assert manager.pending_disconnect == {}


@pytest.fixture
async def node_on(
    request: pytest.FixtureRequest, fake_version: Callable[[str], None]
) -> AsyncIterator[tuple[Node, bool]]:
    """A node on the installed python-socketio, or on one it pretends is newer; with
    whether internals are in use."""
    if request.param != "installed":
        fake_version(request.param)
    node = make_node("node0", MemoryManager(bus=MemoryBus(), **FAST_HEARTBEATS))
    await node.start()
    try:
        yield node, request.param == "installed"
    finally:
        await node.stop()


@pytest.mark.parametrize("node_on", ["installed", "6.0.0"], indirect=True)
async def test_sockets_come_and_go_on_both_paths(node_on: tuple[Node, bool]) -> None:
    node, internals = node_on
    assert ("_handle_connect" in vars(node.sio)) is internals
    client = await connect_client(node, "alice", ("/", "/chat"))
    await client.sio.call("join", "blue", namespace="/chat")
    sockets = await node.manager.fetch_sockets(namespace="/chat")
    assert [s.id for s in sockets] == [client.sid("/chat")]
    assert sockets[0].data == {"name": "alice"}
    assert sockets[0].handshake["auth"] == ({"name": "alice"} if internals else {})
    assert await node.manager.server_count("/chat") == 1
    await client.sio.disconnect()
    manager = node.manager
    await wait_until(lambda: not manager.rooms, 10, "the node to forget the client")
    assert manager.pending_connect == {}
    assert manager.pending_disconnect == {}


async def test_room_eio_sids_reads_python_socketios_rooms_in_order() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    manager = sio.manager
    manager.set_server(sio)
    for n in (3, 1, 2):
        manager.basic_enter_room(f"sid{n}", "/", None, eio_sid=f"eio{n}")
        manager.basic_enter_room(f"sid{n}", "/", "room", eio_sid=f"eio{n}")
    manager.basic_leave_room("sid1", "/", "room")
    rooms = manager.rooms["/"]
    # the room type python-socketio uses, read through its underlying dict
    assert type(rooms[None]) is not dict and hasattr(rooms[None], "_fwdm")
    assert compat.room_eio_sids(rooms[None]) == ["eio3", "eio1", "eio2"]
    assert compat.room_eio_sids(rooms["room"]) == ["eio3", "eio2"]
    assert compat.room_eio_sids({"a": "ea", "b": "eb"}) == ["ea", "eb"]

    class Other(dict):  # type: ignore[type-arg]
        _fwdm = "not a dict"

    assert compat.room_eio_sids(Other(a="ea")) == ["ea"]
