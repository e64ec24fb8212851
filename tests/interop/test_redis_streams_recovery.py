"""Node clients and Node servers with connection state recovery, next to Python servers.

The Python servers here have connection state recovery off (the default): they restore no
session, but the stream entries they write are what a Node server replays to a recovering
client. Recovery on Python servers is tested in ``tests/recovery``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.interop.harness import NodeProcess, PythonServer, node_missing
from tests.support.services import require_service, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.redis]

OFFSET = re.compile(r"^\d+-\d+$")


@pytest.fixture
async def recovering() -> AsyncIterator[tuple[NodeProcess, PythonServer]]:
    """A Node server with connection state recovery and a Python server, one cluster."""
    require_redis()
    missing = node_missing()
    require_service(missing is None, missing or "")
    name = f"sio-recovery-{secrets.token_hex(4)}"
    node = NodeProcess(
        "streams_server.js",
        {
            "redisUrl": REDIS_URL,
            "streamName": name,
            "channelPrefix": name,
            "recovery": True,
            "name": "node-1",
        },
    )
    python = PythonServer("py-1", url=REDIS_URL, stream_name=name, channel_prefix=name)
    try:
        await node.start()
        await python.start()
        yield node, python
    finally:
        await python.stop()
        await node.stop()
        redis = Redis.from_url(REDIS_URL)
        await redis.delete(name)
        await redis.aclose()


def messages(client: NodeProcess, name: str) -> list[list[Any]]:
    return [e["args"] for e in client.events if e["event"] == "message" and e["name"] == name]


def connects(client: NodeProcess) -> list[dict[str, Any]]:
    return [e for e in client.events if e["event"] == "connect"]


async def test_node_client_recovers_what_a_python_server_sent_while_it_was_away(
    recovering: tuple[NodeProcess, PythonServer],
) -> None:
    node, python = recovering
    client = NodeProcess("streams_client.js", {"url": node.url, "name": "c"})
    await client.start()
    try:
        await python.sio.emit("news", 1)
        await wait_until(lambda: messages(client, "news"), message="the first broadcast")
        [[value, offset]] = messages(client, "news")
        # the Node server appended the stream entry id of the Python server's broadcast
        assert value == 1 and OFFSET.match(offset)

        await client.call("dropTransport")
        await client.wait_event(lambda e: e["event"] == "disconnect")
        await python.sio.emit("news", 2)
        await python.manager.to("elsewhere").emit("news", "not for this client")
        await python.sio.emit("news", 3)

        await wait_until(lambda: len(connects(client)) == 2, message="the reconnection")
        assert connects(client)[1]["recovered"] is True
        assert connects(client)[1]["sid"] == connects(client)[0]["sid"]
        await wait_until(lambda: len(messages(client, "news")) == 3, message="the missed ones")
        assert [args[0] for args in messages(client, "news")] == [1, 2, 3]
        offsets = [args[1] for args in messages(client, "news")]
        assert offsets == sorted(offsets, key=lambda o: tuple(map(int, o.split("-"))))
    finally:
        await client.stop()


async def test_node_client_on_a_python_server_gets_a_plain_session(
    recovering: tuple[NodeProcess, PythonServer],
) -> None:
    # recovery off on the Python server: the client reconnects with a new session and misses
    # what was sent meanwhile, as with a Node server without connection state recovery
    _, python = recovering
    client = NodeProcess("streams_client.js", {"url": python.url, "name": "c"})
    await client.start()
    try:
        await python.sio.emit("news", 1)
        await wait_until(lambda: messages(client, "news"), message="the first broadcast")
        assert messages(client, "news") == [[1]]  # no offset appended
        await client.call("dropTransport")
        await client.wait_event(lambda e: e["event"] == "disconnect")
        await wait_until(lambda: len(connects(client)) == 2, message="the reconnection")
        assert not connects(client)[1].get("recovered")
        assert connects(client)[1]["sid"] != connects(client)[0]["sid"]
    finally:
        await client.stop()
