"""A client drops from a Node server and recovers on a Python server, and the other way round:
both store sessions in the same keys and format and replay the same stream."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.interop.harness import NodeProcess
from tests.recovery.conftest import RecoveringServer, RecoveryCluster
from tests.support.services import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.redis]

OFFSET = re.compile(r"^\d+-\d+$")


async def state(cluster: RecoveryCluster, key: str) -> dict[str, Any]:
    result: dict[str, Any] = await cluster.clients.call("state", key=key)
    return result


def news(received: list[list[Any]]) -> list[list[Any]]:
    return [args[1:] for args in received if args[0] == "news"]


async def received_count(cluster: RecoveryCluster, key: str, count: int) -> bool:
    return len(news((await state(cluster, key))["received"])) == count


async def two_servers(cluster: RecoveryCluster) -> tuple[NodeProcess, RecoveringServer]:
    node = await cluster.node_server("node-1")
    py = await cluster.python_server("py-1")

    async def both_counted() -> bool:
        return await py.manager.server_count() == 2 and await node.call("serverCount") == 2

    await wait_until(both_counted, message="both servers in the cluster")
    return node, py


async def node_sockets(node: NodeProcess) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await node.call("localSockets")
    return result


async def test_a_client_leaves_a_node_server_and_recovers_on_a_python_server(
    recovery: RecoveryCluster,
) -> None:
    node, py = await two_servers(recovery)
    # the Node server puts the socket in the auth rooms and sets its data
    await recovery.clients.call("open", key="a", url=node.url, auth={"name": "a", "rooms": ["r1"]})
    sid = (await state(recovery, "a"))["sid"]
    await node.call("emit", event="news", args=[1])
    await wait_until(lambda: received_count(recovery, "a", 1), message="the first broadcast")

    async def node_let_go() -> bool:
        return not await node_sockets(node)

    await recovery.held(["a"], node_let_go)
    await wait_until(recovery.stored_sessions, message="Node to store the session")
    length = await recovery.redis.xlen(recovery.stream_name)
    await py.sio.emit("news", 2, to="r1")
    await node.call("emit", event="news", args=[3], rooms=["r2"])
    await node.call("emit", event="news", args=[4])

    async def node_published() -> bool:
        return bool(await recovery.redis.xlen(recovery.stream_name) == length + 3)

    await wait_until(node_published, message="the Node broadcasts in the stream")
    await recovery.clients.call("release", keys=["a"], url=py.url)

    after = await state(recovery, "a")
    assert after["connections"][1] == {"sid": sid, "recovered": True}
    who = await recovery.clients.call("emit", key="a", event="whoami")
    assert who == {
        "sid": sid,
        "rooms": sorted([sid, "r1"]),
        "data": {"origin": "node", "name": "a"},
        "recovered": True,
    }
    received = news(after["received"])
    assert [args[0] for args in received] == [1, 2, 4]
    assert all(OFFSET.match(args[1]) for args in received)


async def test_a_client_leaves_a_python_server_and_recovers_on_a_node_server(
    recovery: RecoveryCluster,
) -> None:
    node, py = await two_servers(recovery)
    await recovery.clients.call("open", key="a", url=py.url)
    assert await recovery.clients.call("emit", key="a", event="join", args=["r1"])
    assert await recovery.clients.call("emit", key="a", event="remember", args=["k", "v"])
    sid = (await state(recovery, "a"))["sid"]
    await py.sio.emit("news", 1)
    await wait_until(lambda: received_count(recovery, "a", 1), message="the first broadcast")

    async def python_let_go() -> bool:
        return not py.manager.is_connected(sid, "/")

    await recovery.held(["a"], python_let_go)
    length = await recovery.redis.xlen(recovery.stream_name)
    await node.call("emit", event="news", args=[2], rooms=["r1"])

    async def node_published() -> bool:
        # Node's emit returns before its XADD: keep the order of the stream known
        return bool(await recovery.redis.xlen(recovery.stream_name) > length)

    await wait_until(node_published, message="the Node broadcast in the stream")
    await py.sio.emit("news", 3, skip_sid="r1")
    await py.sio.emit("news", 4)
    await recovery.clients.call("release", keys=["a"], url=node.url)

    after = await state(recovery, "a")
    assert after["connections"][1] == {"sid": sid, "recovered": True}
    [restored] = await node_sockets(node)
    assert restored["id"] == sid
    assert restored["rooms"] == sorted([sid, "r1"])
    assert restored["data"] == {"k": "v"}
    received = news(after["received"])
    assert [args[0] for args in received] == [1, 2, 4]
    assert all(OFFSET.match(args[1]) for args in received)
