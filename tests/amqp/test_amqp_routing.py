"""The routing keys: which nodes' queues a message can reach (docs/amqp.md, "Wire format")."""

from __future__ import annotations

from socketio_cloud.brokers import amqp as names
from socketio_cloud.protocol import ClusterMessage, MessageType

SID = "AbCdEfGhIjKlMnOpQr_-"  # 20 url-safe base64 characters, like an Engine.IO sid


def _broadcast(
    rooms: list[str], *, request_id: str | None = None, nsp: str = "/"
) -> ClusterMessage:
    data: dict[str, object] = {
        "opts": {"rooms": rooms, "except": [], "flags": {}},
        "packet": {"type": 2, "data": ["e"]},
    }
    if request_id is not None:
        data["requestId"] = request_id
    return ClusterMessage(MessageType.BROADCAST, "a" * 16, nsp, data)


def test_keys_are_short_dot_free_words() -> None:
    nsp = names.namespace_word("/a.b#c")
    assert len(nsp) == 16 and "." not in nsp
    key = names.room_key("/", "room with . dots and * stars and # hashes" * 20)
    assert key.startswith(f"n.{names.namespace_word('/')}.r.")
    assert len(key.split(".")) == 4 and len(key) < 255
    assert names.all_key("/admin") == f"n.{names.namespace_word('/admin')}.all"
    assert names.response_key("0123456789abcdef") == "u.0123456789abcdef"
    assert names.room_wildcard("/") == f"n.{names.namespace_word('/')}.r.*"


def test_namespaces_are_kept_apart() -> None:
    assert names.room_key("/", "r") != names.room_key("/admin", "r")
    assert names.all_key("/") != names.all_key("/admin")


def test_broadcast_to_rooms_goes_to_their_keys_once_each() -> None:
    keys = names.routing_keys(_broadcast(["r1", "r2", "r1"]))
    assert keys == [names.room_key("/", "r1"), names.room_key("/", "r2")]


def test_broadcast_to_everyone_goes_to_the_namespace() -> None:
    assert names.routing_keys(_broadcast([])) == [names.all_key("/")]


def test_socket_ids_are_not_routed() -> None:
    assert names.looks_like_sid(SID)
    assert not names.looks_like_sid("lobby")
    assert names.routing_keys(_broadcast([SID])) == [names.all_key("/")]
    # one sid among the rooms: the socket may be anywhere
    assert names.routing_keys(_broadcast(["lobby", SID])) == [names.all_key("/")]


def test_broadcast_needing_acks_reaches_every_node() -> None:
    assert names.routing_keys(_broadcast(["r"], request_id="0123456789abcdef")) == [
        names.all_key("/")
    ]


def test_room_operations_are_routed_by_their_target_rooms() -> None:
    for kind in (MessageType.SOCKETS_JOIN, MessageType.SOCKETS_LEAVE):
        message = ClusterMessage(
            kind, "a" * 16, "/", {"opts": {"rooms": ["r"], "except": []}, "rooms": ["x"]}
        )
        assert names.routing_keys(message) == [names.room_key("/", "r")]
    disconnect = ClusterMessage(
        MessageType.DISCONNECT_SOCKETS, "a" * 16, "/", {"opts": {"rooms": ["r"]}, "close": True}
    )
    assert names.routing_keys(disconnect) == [names.room_key("/", "r")]


def test_requests_reach_every_node_and_heartbeats_every_namespace() -> None:
    fetch = ClusterMessage(
        MessageType.FETCH_SOCKETS, "a" * 16, "/", {"opts": {"rooms": ["r"]}, "requestId": "ab"}
    )
    assert names.routing_keys(fetch) == [names.all_key("/")]
    for kind in (
        MessageType.INITIAL_HEARTBEAT,
        MessageType.HEARTBEAT,
        MessageType.ADAPTER_CLOSE,
    ):
        message = ClusterMessage(kind, "a" * 16, "/admin")
        assert names.routing_keys(message) == [names.HEARTBEAT_KEY]


def test_recently_joined_rooms_go_to_every_node() -> None:
    message = _broadcast(["r", "s"])
    assert names.routing_keys(message, frozenset({"s"})) == [names.all_key("/")]


def test_too_many_rooms_go_to_every_node() -> None:
    rooms = [f"room-{i}" for i in range(names.MAX_ROUTED_ROOMS + 1)]
    assert names.routing_keys(_broadcast(rooms)) == [names.all_key("/")]
    assert len(names.routing_keys(_broadcast(rooms[:-1]))) == names.MAX_ROUTED_ROOMS
