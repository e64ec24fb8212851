"""Hundreds of clients drop at once and recover on another node, twice: every one gets its
session and the missed events back, and what the nodes keep per socket does not grow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketio_cloud.transports.redis_streams import RedisStreamsManager
from tests.recovery.conftest import RecoveringServer, RecoveryCluster
from tests.support.services import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.redis, pytest.mark.slow]

CLIENTS = 300


def kept(manager: RedisStreamsManager) -> dict[str, int]:
    """The sizes of what a node keeps per socket or per connecting socket."""
    recovery = manager._recovery
    assert recovery is not None
    return {
        "pids": recovery.tracked,
        "recovered": len(recovery._recovered),
        "meta": len(manager._socket_meta),
        "pending_auth": len(manager._pending_auth),
        "acks": len(manager._acks),
        "sockets": len(manager.rooms.get("/", {}).get(None, {})),
    }


async def summary(cluster: RecoveryCluster) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = await cluster.clients.call(
        "summary", key="s", count=CLIENTS
    )
    return result


async def storm(
    cluster: RecoveryCluster, source: RecoveringServer, target: RecoveringServer, round: int
) -> None:
    keys = [f"s-{i}" for i in range(CLIENTS)]

    async def all_gone() -> bool:
        return not source.manager.rooms.get("/", {}).get(None)

    await cluster.held(keys, all_gone)
    assert len(await cluster.stored_sessions()) == CLIENTS
    await source.sio.emit("news", f"{round}-a")
    await target.sio.emit("news", f"{round}-b", to="odd")
    await cluster.clients.call("release", keys=keys, url=target.url)


async def test_a_reconnect_storm_recovers_everyone_with_bounded_state(
    recovery: RecoveryCluster,
) -> None:
    py1 = await recovery.python_server("py-1")
    py2 = await recovery.python_server("py-2")

    async def both() -> bool:
        return await py1.manager.server_count() == 2

    await wait_until(both, message="both nodes in the cluster")
    await recovery.clients.call("open", key="s", count=CLIENTS, url=py1.url)
    for i in range(1, CLIENTS, 2):
        assert await recovery.clients.call("emit", key=f"s-{i}", event="join", args=["odd"])
    await py1.sio.emit("news", "0")

    async def everyone_has_the_first() -> bool:
        return all(len(s["received"]) == 1 for s in (await summary(recovery)).values())

    await wait_until(everyone_has_the_first, timeout=20, message="the first broadcast")

    await storm(recovery, py1, py2, 1)
    first = kept(py2.manager)
    assert first == {
        "pids": CLIENTS,
        "recovered": CLIENTS,
        "meta": CLIENTS,
        "pending_auth": 0,
        "acks": 0,
        "sockets": CLIENTS,
    }
    assert kept(py1.manager) == dict.fromkeys(first, 0)
    assert await recovery.stored_sessions() == []

    await storm(recovery, py2, py1, 2)
    assert kept(py1.manager) == first
    assert kept(py2.manager) == dict.fromkeys(first, 0)
    assert await recovery.stored_sessions() == []

    sockets = await summary(recovery)
    assert all(s["connections"] == 3 and s["recovered"] and s["sameSid"] for s in sockets.values())
    for i in range(CLIENTS):
        expected = ["0", "1-a", "1-b", "2-a", "2-b"] if i % 2 else ["0", "1-a", "2-a"]
        assert sockets[f"s-{i}"]["received"] == expected, i


async def test_clients_recovering_while_events_keep_coming_get_each_once_in_order(
    recovery: RecoveryCluster,
) -> None:
    # one publisher: its events reach every node in stream order (see docs/recovery.md on
    # several publishers)
    count = 100
    py1 = await recovery.python_server("py-1")
    py2 = await recovery.python_server("py-2")

    async def both() -> bool:
        return await py1.manager.server_count() == 2

    await wait_until(both, message="both nodes in the cluster")
    await recovery.clients.call("open", key="s", count=count, url=py1.url)
    keys = [f"s-{i}" for i in range(count)]
    sent = 0
    stop = asyncio.Event()

    async def publish() -> None:
        nonlocal sent
        while not stop.is_set():
            await py1.sio.emit("seq", sent)
            sent += 1
            await asyncio.sleep(0.005)

    publisher = asyncio.create_task(publish())

    async def everyone_has_an_offset() -> bool:
        sockets = await recovery.clients.call("summary", key="s", count=count)
        return all(s["received"] for s in sockets.values())

    try:
        await wait_until(everyone_has_an_offset, message="a first event at every client")
        for source, target in ((py1, py2), (py2, py1)):

            async def all_gone(source: RecoveringServer = source) -> bool:
                return not source.manager.rooms.get("/", {}).get(None)

            await recovery.held(keys, all_gone)
            await recovery.clients.call("release", keys=keys, url=target.url)
    finally:
        stop.set()
        await publisher

    async def everything_arrived() -> bool:
        sockets = await recovery.clients.call("summary", key="s", count=count)
        return all(len(s["received"]) >= sent for s in sockets.values())

    await wait_until(everything_arrived, timeout=20, message="every event at every client")
    sockets = await recovery.clients.call("summary", key="s", count=count)
    for key, socket in sockets.items():
        assert socket["recovered"] and socket["connections"] == 3, key
        assert socket["received"] == list(range(sent)), key
