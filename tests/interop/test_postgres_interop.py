"""Python and Node servers in one PostgreSQL cluster: what only PostgreSQL has (the
attachments table, Node's emitter without ``nsp``). The operations every broker shares are
in test_mixed_cluster_interop.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.interop.conftest import postgres_cluster
from tests.interop.harness import Client, MixedCluster
from tests.support.services import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.postgres]


@pytest.fixture
async def mixed_cluster(request: pytest.FixtureRequest) -> AsyncIterator[MixedCluster]:
    async with postgres_cluster(request) as cluster:
        yield cluster


def got(client: Client, event: str, count: int = 1) -> Any:
    return lambda: len(client.received(event)) >= count


async def _attachment_rows(c: MixedCluster) -> int:
    conn = await asyncpg.connect(c.py1.manager.transport.dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {c.names['table_name']}"))
    finally:
        await conn.close()


async def test_large_payloads_cross_both_ways_through_the_table(
    mixed_cluster: MixedCluster,
) -> None:
    c = mixed_cluster
    on_node = await c.client(c.node, "node-a")
    on_python = await c.client(c.py2, "py-a")
    big_text = "é" * 5000  # 10,000 bytes of UTF-8: over the NOTIFY threshold
    rows_before = await _attachment_rows(c)

    await c.py1.sio.emit("from-python", {"text": big_text})
    await c.node.call("emit", event="from-node", args=[big_text, 1])
    for client in (on_node, on_python):
        await wait_until(got(client, "from-python"), message="the large Python broadcast")
        await wait_until(got(client, "from-node"), message="the large Node broadcast")
        assert client.received("from-python") == [[{"text": big_text}]]
        assert client.received("from-node") == [[big_text, 1]]
    assert await _attachment_rows(c) == rows_before + 2
    assert c.py2.manager.transport.stats["attachments_fetched"] >= 2


async def test_node_emitter_reaches_python_clients(mixed_cluster: MixedCluster) -> None:
    c = mixed_cluster
    in_room = await c.client(c.py1, "py-a", "r1")
    other = await c.client(c.py2, "py-b")
    big = "x" * 9000

    await c.node.call("emitterEmit", rooms=["r1"], event="from-node-emitter", args=[1, b"\x03"])
    await c.node.call("emitterEmit", event="big", args=[big])
    # Node's emitter does not wait for one publish before the next, and one with binary
    # data takes an INSERT first: the marker goes once the binary event is out
    await wait_until(got(in_room, "from-node-emitter"), message="the binary event")
    await c.node.call("emitterEmit", event="marker")
    for client in (in_room, other):
        await wait_until(got(client, "marker"), message=f"the marker at {client.name}")
        await wait_until(got(client, "big"), message=f"the large event at {client.name}")
        assert client.received("big") == [[big]]
    assert in_room.received("from-node-emitter") == [[1, b"\x03"]]
    assert other.received("from-node-emitter") == []

    await c.node.call("emitterSocketsJoin", rooms=["r1"], join=["joined-by-node-emitter"])
    await wait_until(
        lambda: "joined-by-node-emitter" in c.py1.local_rooms(in_room.sid),
        message="the Node emitter's join",
    )
    await c.node.call("emitterServerSideEmit", event="hello", args=["from-node-emitter"])
    for server in (c.py1, c.py2):
        await wait_until(lambda s=server: s.server_events, message="the server-side emit")
        assert server.server_events == [("hello", ["from-node-emitter"])]
    await c.node.call("emitterDisconnectSockets", rooms=["joined-by-node-emitter"], close=True)
    await wait_until(in_room.disconnected.is_set, message="the Node emitter's disconnect")
    assert not other.disconnected.is_set()


async def test_python_emitter_binary_and_large_reach_node_clients(
    mixed_cluster: MixedCluster,
) -> None:
    c = mixed_cluster
    on_node = await c.client(c.node, "node-a")
    emitter = c.emitter()
    big = "y" * 9000

    await emitter.emit("blob", b"\x00\x01", {"n": 1})
    await emitter.emit("big", big)
    await wait_until(got(on_node, "blob"), message="the binary event at the Node client")
    await wait_until(got(on_node, "big"), message="the large event at the Node client")
    assert on_node.received("blob") == [[b"\x00\x01", {"n": 1}]]
    assert on_node.received("big") == [[big]]
