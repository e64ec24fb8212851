"""The reference service on the memory backend: HTTP endpoints and the page's events."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from app.config import Settings
from app.service import ChatService
from socketio_cloud.transports.memory import MemoryBus, MemoryManager
from tests.app.nodes import http_get, serving
from tests.support.services import wait_until

FAST = {"heartbeat_interval": 0.5, "heartbeat_timeout": 1.5}


def make_service(name: str = "node-a", bus: MemoryBus | None = None) -> ChatService:
    settings = Settings(node_name=name, heartbeat_interval=0.5, heartbeat_timeout=1.5)
    if bus is None:
        return ChatService(settings)
    return ChatService(settings, manager=MemoryManager(bus=bus, **FAST))


class PageClient:
    """What the page does, as a python-socketio client that records server events."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        for event in ("chat", "presence", "users_changed"):
            self.sio.on(event, self._recorder(event))

    def _recorder(self, event: str) -> Any:
        async def record(data: Any = None) -> None:
            self.events[event].append(data)

        return record

    async def connect(self, url: str) -> PageClient:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=10)
        return self

    async def call(self, event: str, data: Any = None) -> Any:
        if data is None:
            return await self.sio.call(event, timeout=10)
        return await self.sio.call(event, data, timeout=10)

    async def join(self, name: str, room: str) -> Any:
        reply = await self.call("join", {"name": name, "room": room})
        assert reply.get("ok"), reply
        return reply

    async def wait_for(self, event: str, predicate: Any) -> Any:
        found: list[Any] = []

        def seen() -> bool:
            found[:] = [data for data in self.events[event] if predicate(data)]
            return bool(found)

        await wait_until(seen, 10, f"a {event!r} event")
        return found[0]


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serving(make_service()) as base:
        yield base


@pytest.fixture
async def clients() -> AsyncIterator[list[PageClient]]:
    made: list[PageClient] = []
    yield made
    for client in made:
        await client.sio.disconnect()


async def connect(clients: list[PageClient], url: str) -> PageClient:
    client = await PageClient().connect(url)
    clients.append(client)
    return client


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    # the server runs on this event loop: the blocking request must not
    return await asyncio.to_thread(http_get, url, headers)


# ---------------------------------------------------------------------------- HTTP


async def test_health_is_503_until_the_node_is_ready() -> None:
    service = make_service()
    status, body = await service.health()
    assert status == 503
    assert body["status"] == "new"


async def test_health_reports_node_uid_and_server_count_when_ready() -> None:
    service = make_service("node-a")
    async with serving(service) as base:
        status, headers, body = await get(f"{base}/healthz")
        assert status == 200
        assert headers["content-type"] == "application/json"
        health = json.loads(body)
        assert health == {
            "status": "ok",
            "node": "node-a",
            "uid": service.manager.uid,
            "backend": "memory",
            "server_count": 1,
            "clients": 0,
            "connected": True,
        }
    # the lifespan shut down closed the manager
    assert service.phase == "stopped"
    assert (await service.health())[0] == 503


async def test_the_page_is_served_with_its_files(url: str) -> None:
    status, headers, page = await get(f"{url}/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["content-security-policy"]
    html = page.decode()
    for path, content_type in [
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/vendor/socket.io.min.js", "text/javascript; charset=utf-8"),
    ]:
        assert f'"{path}"' in html
        status, headers, _ = await get(f"{url}{path}")
        assert (status, headers["content-type"]) == (200, content_type)


async def test_the_socket_io_client_is_served_locally(url: str) -> None:
    status, _, script = await get(f"{url}/static/vendor/socket.io.min.js")
    assert status == 200
    assert script.startswith(b"/*!\n * Socket.IO v4")


async def test_an_unchanged_file_is_not_sent_again(url: str) -> None:
    _, headers, _ = await get(f"{url}/static/app.js")
    status, _, body = await get(f"{url}/static/app.js", {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")


async def test_unknown_paths_are_404(url: str) -> None:
    for path in ("/nope", "/static/", "/static/../config.py", "/healthz/x"):
        status, _, _ = await get(f"{url}{path}")
        assert status == 404, path


async def test_only_get_and_head_are_allowed(url: str) -> None:
    import urllib.error
    import urllib.request

    def post() -> int:
        request = urllib.request.Request(f"{url}/healthz", data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert await asyncio.to_thread(post) == 405


# ---------------------------------------------------------------------------- events


async def test_whoami_and_status_name_the_node(url: str, clients: list[PageClient]) -> None:
    client = await connect(clients, url)
    me = await client.call("whoami")
    assert me["node"] == "node-a"
    assert me["sid"] == client.sio.get_sid()
    status = await client.call("status")
    assert status == {
        "node": "node-a",
        "uid": me["uid"],
        "server_count": 1,
        "clients": 1,
        "connected": True,
    }


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"name": "", "room": "lobby"}, "name"),
        ({"name": "x" * 25, "room": "lobby"}, "name"),
        ({"name": "\u0000\u0007", "room": "lobby"}, "name"),
        ({"name": 42, "room": "lobby"}, "name"),
        ({"name": "Ada", "room": "a/b"}, "room"),
        ({"name": "Ada", "room": "r" * 33}, "room"),
        ({"name": "Ada"}, "room"),
        ("Ada", "name"),
    ],
)
async def test_join_refuses_bad_names_and_rooms(
    url: str, clients: list[PageClient], data: Any, complaint: str
) -> None:
    client = await connect(clients, url)
    reply = await client.call("join", data)
    assert complaint in reply["error"]


async def test_join_answers_with_the_cleaned_name_and_room(
    url: str, clients: list[PageClient]
) -> None:
    client = await connect(clients, url)
    reply = await client.call("join", {"name": "  Ada\n", "room": "lobby"})
    assert reply == {"ok": True, "name": "Ada", "room": "lobby", "node": "node-a"}


async def test_chat_needs_a_room_and_some_text(url: str, clients: list[PageClient]) -> None:
    client = await connect(clients, url)
    assert "join a room" in (await client.call("chat", {"text": "hi"}))["error"]
    await client.join("Ada", "lobby")
    assert "1 to 500" in (await client.call("chat", {"text": "   "}))["error"]
    assert "1 to 500" in (await client.call("chat", {"text": "x" * 501}))["error"]


async def test_chat_reaches_the_room_and_only_the_room(url: str, clients: list[PageClient]) -> None:
    ada, grace, linus = [await connect(clients, url) for _ in range(3)]
    await ada.join("Ada", "lobby")
    await grace.join("Grace", "lobby")
    await linus.join("Linus", "kernel")
    assert await ada.call("chat", {"text": "hello lobby"}) == {"ok": True}
    message = await grace.wait_for("chat", lambda data: data["text"] == "hello lobby")
    assert message["name"] == "Ada"
    assert message["room"] == "lobby"
    assert message["node"] == "node-a"
    assert message["id"] == ada.sio.get_sid()
    await ada.wait_for("chat", lambda data: data["text"] == "hello lobby")
    # a later message to Linus's room arrives, so the first one would have by then
    await linus.call("chat", {"text": "hello kernel"})
    await linus.wait_for("chat", lambda data: data["text"] == "hello kernel")
    assert [data["text"] for data in linus.events["chat"]] == ["hello kernel"]


async def test_joining_is_announced_to_the_room(url: str, clients: list[PageClient]) -> None:
    ada, grace = await connect(clients, url), await connect(clients, url)
    await ada.join("Ada", "lobby")
    await grace.join("Grace", "lobby")
    presence = await ada.wait_for("presence", lambda data: data["name"] == "Grace")
    assert presence == {"name": "Grace", "room": "lobby", "node": "node-a", "action": "joined"}
    await ada.wait_for("users_changed", lambda data: True)


async def test_switching_rooms_leaves_the_previous_one(url: str, clients: list[PageClient]) -> None:
    ada, grace = await connect(clients, url), await connect(clients, url)
    await ada.join("Ada", "lobby")
    await grace.join("Grace", "lobby")
    await grace.join("Grace", "garden")
    await ada.wait_for(
        "presence", lambda data: data["name"] == "Grace" and data["action"] == "left"
    )
    await grace.call("chat", {"text": "in the garden"})
    await grace.wait_for("chat", lambda data: data["text"] == "in the garden")
    await ada.call("chat", {"text": "in the lobby"})
    await ada.wait_for("chat", lambda data: data["text"] == "in the lobby")
    assert [data["text"] for data in ada.events["chat"]] == ["in the lobby"]


async def test_users_lists_everyone_who_joined(url: str, clients: list[PageClient]) -> None:
    ada, grace, lurker = [await connect(clients, url) for _ in range(3)]
    await ada.join("Ada", "lobby")
    await grace.join("Grace", "garden")
    reply = await lurker.call("users")
    assert reply == {
        "users": [
            {"id": grace.sio.get_sid(), "name": "Grace", "room": "garden", "node": "node-a"},
            {"id": ada.sio.get_sid(), "name": "Ada", "room": "lobby", "node": "node-a"},
        ],
        "complete": True,
    }


async def test_a_user_who_leaves_is_announced_and_no_longer_listed(
    url: str, clients: list[PageClient]
) -> None:
    ada, grace = await connect(clients, url), await connect(clients, url)
    await ada.join("Ada", "lobby")
    await grace.join("Grace", "lobby")
    await grace.sio.disconnect()
    presence = await ada.wait_for("presence", lambda data: data["action"] == "left")
    assert presence["name"] == "Grace"
    users = (await ada.call("users"))["users"]
    assert [user["name"] for user in users] == ["Ada"]


async def test_ask_servers_on_a_single_node_answers_for_itself(
    url: str, clients: list[PageClient]
) -> None:
    client = await connect(clients, url)
    reply = await client.call("ask_servers")
    assert reply["complete"] is True
    [answer] = reply["answers"]
    assert answer["node"] == "node-a"
    assert answer["self"] is True
    assert answer["clients"] == 1
    assert isinstance(answer["uptime"], int)


# ---------------------------------------------------------------------------- two nodes


async def test_two_nodes_share_rooms_users_and_answers(clients: list[PageClient]) -> None:
    bus = MemoryBus()
    node_a, node_b = make_service("node-a", bus), make_service("node-b", bus)
    async with serving(node_a) as url_a, serving(node_b) as url_b:
        for service in (node_a, node_b):

            async def counted(service: ChatService = service) -> bool:
                return await service.manager.server_count() == 2

            await wait_until(counted, 10, "both nodes to count 2 servers")
        ada, grace = await connect(clients, url_a), await connect(clients, url_b)
        await ada.join("Ada", "lobby")
        await grace.join("Grace", "lobby")

        await ada.call("chat", {"text": "across nodes"})
        message = await grace.wait_for("chat", lambda data: data["text"] == "across nodes")
        assert message["node"] == "node-a"

        users = (await grace.call("users"))["users"]
        assert {(user["name"], user["node"]) for user in users} == {
            ("Ada", "node-a"),
            ("Grace", "node-b"),
        }

        reply = await ada.call("ask_servers")
        assert reply["complete"] is True
        assert [(a["node"], a["self"], a["clients"]) for a in reply["answers"]] == [
            ("node-a", True, 1),
            ("node-b", False, 1),
        ]
        for client in clients:
            await client.sio.disconnect()


async def test_a_flood_of_cluster_requests_from_one_client_is_shared_and_bounded(
    clients: list[PageClient],
) -> None:
    bus = MemoryBus()
    first, second = make_service("node-a", bus), make_service("node-b", bus)
    asked = 0
    original = first.manager.server_side_emit_with_ack

    async def counting(*args: Any, **kwargs: Any) -> list[Any]:
        nonlocal asked
        asked += 1
        return await original(*args, **kwargs)

    first.manager.server_side_emit_with_ack = counting  # type: ignore[method-assign]
    async with serving(first) as url_a, serving(second):
        await first.manager.ready()
        await second.manager.ready()

        async def two_servers() -> bool:
            return await first.manager.server_count() == 2

        await wait_until(two_servers, 10, "node-a to count node-b")
        client = await PageClient().connect(url_a)
        clients.append(client)
        replies = await asyncio.gather(*(client.call("ask_servers") for _ in range(200)))
    answered = [r for r in replies if "answers" in r]
    refused = [r for r in replies if r.get("retry")]
    assert len(answered) + len(refused) == 200
    assert 0 < len(answered) <= 20  # the burst; the rest are told to slow down
    assert all(r["complete"] and len(r["answers"]) == 2 for r in answered)
    # askers at the same moment share a run: never more cluster requests than answers
    assert asked <= len(answered)
