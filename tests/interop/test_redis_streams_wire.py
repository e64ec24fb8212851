"""What Python and Node put on Redis for the same operations: the same bytes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
from redis.asyncio import Redis

from socketio_cloud.protocol import BATCH_REPLIES, MessageType
from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.interop.harness import Client, MixedCluster, NodeProcess, PythonServer, node_missing
from tests.support.services import require_service, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.redis]


def _by_sender(entries: list[Any], uid: str) -> tuple[list[dict[bytes, bytes]], list[Any]]:
    """Split stream entries into (this sender's, the others'), without the uid field."""
    mine, theirs = [], []
    for _, fields in entries:
        rest = {key: value for key, value in fields.items() if key != b"uid"}
        (mine if fields[b"uid"] == uid.encode() else theirs).append(rest)
    return mine, theirs


async def test_stream_entries_are_byte_identical(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    py = c.py1.manager
    operations = [
        (
            c.node.call(
                "emit", rooms=["r1"], event="ev", args=[1, "é", {"x": None}], **{"except": ["r2"]}
            ),
            py.to("r1").except_("r2").emit("ev", 1, "é", {"x": None}),
        ),
        (c.node.call("emit", event="bin", args=[b"\x01\x02"]), py.emit("bin", b"\x01\x02")),
        (c.node.call("socketsJoin", rooms=["r1"], join=["j"]), py.in_("r1").sockets_join("j")),
        (c.node.call("socketsLeave", rooms=["r1"], leave=["j"]), py.in_("r1").sockets_leave("j")),
        (
            c.node.call("disconnectSockets", rooms=["r1"], close=True),
            py.in_("r1").disconnect_sockets(True),
        ),
    ]
    for from_node, from_python in operations:
        await from_node
        await from_python
    redis = Redis.from_url(REDIS_URL)
    try:
        entries = await redis.xrange(c.names["stream_name"])
    finally:
        await redis.aclose()
    mine, theirs = _by_sender(entries, py.uid)
    assert len(mine) == len(operations)
    assert mine == theirs
    assert mine[1][b"data"] != b"" and not mine[1][b"data"].startswith(b"{")  # base64 msgpack


async def test_requests_are_byte_identical(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    py = c.py1.manager
    redis = Redis.from_url(REDIS_URL)
    pubsub = redis.pubsub()
    captured: list[dict[str, Any]] = []

    async def capture() -> None:
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                captured.append(msgpack.unpackb(message["data"], raw=False))

    # a pattern subscription, so that PUBSUB NUMSUB does not count the listener as a server
    await pubsub.psubscribe(f"{c.names['channel_prefix']}#/#")
    confirmation = await pubsub.get_message(timeout=5)
    assert confirmation is not None and confirmation["type"] == "psubscribe"
    listener = asyncio.create_task(capture())
    try:
        await c.node.call("fetchSockets", rooms=["r1"])
        await py.fetch_sockets("r1")
        await c.node.call("emitWithAck", rooms=["r1"], timeout=2000, event="q", args=[1])
        await py.to("r1").timeout(2).emit_with_ack("q", 1)
        await c.node.call("serverSideEmit", event="hello", args=["x", 2])
        await py.server_side_emit("hello", "x", 2)
        await wait_until(lambda: len(captured) >= 6, message="six requests")
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()

    def normalized(message: dict[str, Any]) -> bytes:
        message = {**message, "uid": "-"}
        if isinstance(message.get("data"), dict) and "requestId" in message["data"]:
            message["data"] = {**message["data"], "requestId": "-"}
            # ours ask for client replies in batches, with one key Node does not send
            message["data"].pop(BATCH_REPLIES, None)
        return msgpack.packb(message)  # type: ignore[no-any-return]

    asking = [
        m["data"].get(BATCH_REPLIES) for m in captured if m["type"] == int(MessageType.BROADCAST)
    ]
    assert sorted(asking, key=repr) == [None, True]  # Node's, ours
    mine = [normalized(m) for m in captured if m["uid"] == py.uid]
    theirs = [normalized(m) for m in captured if m["uid"] != py.uid]
    assert len(mine) == 3
    assert mine == theirs


# --------------------------------------------------------------------------- several streams

# "/" → stream -2, "/admin" → -1, "/notifications" hashes negative → "--2" (Node never reads
# it: only messages from Node to Python can be shown there).
NAMESPACES = ["/", "/admin", "/notifications"]


@pytest.fixture
async def sharded() -> AsyncIterator[tuple[NodeProcess, PythonServer, str]]:
    require_redis()
    missing = node_missing()
    require_service(missing is None, missing or "")
    name = f"sio-shards-{secrets.token_hex(4)}"
    node = NodeProcess(
        "streams_server.js",
        {
            "redisUrl": REDIS_URL,
            "streamName": name,
            "channelPrefix": name,
            "streamCount": 3,
            "namespaces": NAMESPACES,
            "name": "node-1",
        },
    )
    python = PythonServer(
        "py-1", url=REDIS_URL, stream_name=name, channel_prefix=name, stream_count=3
    )
    try:
        await node.start()
        await python.start()
        yield node, python, name
    finally:
        await python.stop()
        await node.stop()
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(f"{name}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_several_streams_carry_each_namespace_like_node(
    sharded: tuple[NodeProcess, PythonServer, str],
) -> None:
    node, python, name = sharded
    clients: list[Client] = []
    try:
        for namespace in NAMESPACES:
            for server, who in ((node, "node"), (python, "py")):
                client = Client(f"{who}{namespace}", namespace)
                await client.connect(server.url)
                clients.append(client)
        at_node = {c.namespace: c for c in clients if c.name.startswith("node")}
        at_python = {c.namespace: c for c in clients if c.name.startswith("py")}

        for namespace in NAMESPACES:
            await node.call("emit", nsp=namespace, event="from-node", args=[namespace])
            await python.manager.of(namespace).emit("from-python", namespace)
        for namespace in NAMESPACES:
            receiver = at_python[namespace]
            await wait_until(lambda r=receiver: r.received("from-node"), message=namespace)
            assert receiver.received("from-node") == [[namespace]]
        for namespace in ("/", "/admin"):
            receiver = at_node[namespace]
            await wait_until(lambda r=receiver: r.received("from-python"), message=namespace)
            assert receiver.received("from-python") == [[namespace]]

        redis = Redis.from_url(REDIS_URL)
        try:
            lengths = {s: await redis.xlen(f"{name}-{s}") for s in ("2", "1", "-2")}
        finally:
            await redis.aclose()
        # one entry from each side per namespace, in the stream Node picks
        assert lengths == {"2": 2, "1": 2, "-2": 2}
    finally:
        for client in clients:
            await client.close()
