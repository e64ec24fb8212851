"""Connection state recovery on Python servers, with real socket.io-client sockets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.recovery.conftest import RecoveringServer, RecoveryCluster
from tests.support.services import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.redis]

OFFSET = re.compile(r"^\d+-\d+$")


def offset_key(offset: str) -> tuple[int, int]:
    first, second = offset.split("-")
    return int(first), int(second)


async def state(cluster: RecoveryCluster, key: str) -> dict[str, Any]:
    result: dict[str, Any] = await cluster.clients.call("state", key=key)
    return result


def news(received: list[list[Any]]) -> list[list[Any]]:
    return [args[1:] for args in received if args[0] == "news"]


async def received_count(cluster: RecoveryCluster, key: str, count: int) -> bool:
    return len(news((await state(cluster, key))["received"])) == count


def gone(server: RecoveringServer, sid: str) -> Any:
    async def check() -> bool:
        return not server.manager.is_connected(sid, "/")

    return check


async def test_a_client_back_within_the_window_gets_its_session_and_what_it_missed(
    recovery: RecoveryCluster,
) -> None:
    py = await recovery.python_server("py-1")
    await recovery.clients.call("open", key="a", url=py.url)
    assert await recovery.clients.call("emit", key="a", event="join", args=["r1"])
    assert await recovery.clients.call("emit", key="a", event="remember", args=["k", "v"])
    first = await state(recovery, "a")
    sid = first["sid"]
    await py.sio.emit("news", 1)
    await wait_until(lambda: len(py.connects) == 1, message="the connect handler")
    assert py.connects == [(sid, False)]

    async def received_first() -> bool:
        return len(news((await state(recovery, "a"))["received"])) == 1

    await wait_until(received_first, message="the first broadcast")
    await recovery.held(["a"], gone(py, sid))
    assert len(await recovery.stored_sessions()) == 1

    await py.sio.emit("news", 2)
    await py.sio.emit("news", 3, to="r1")
    await py.sio.emit("news", "not in r2", to="r2")
    await py.sio.emit("news", "r1 excepted", skip_sid="r1")
    await py.sio.emit("news", 4, to=sid)
    await recovery.clients.call("release", keys=["a"])

    after = await state(recovery, "a")
    assert after["connections"][1] == {"sid": sid, "recovered": True}
    assert py.connects[1] == (sid, True)
    who = await recovery.clients.call("emit", key="a", event="whoami")
    assert who == {"sid": sid, "rooms": sorted([sid, "r1"]), "data": {"k": "v"}, "recovered": True}
    assert await recovery.stored_sessions() == []

    # after the recovery, live broadcasts again, and the socket's own emits carry offsets
    await py.sio.emit("news", 5)
    assert await recovery.clients.call("emit", key="a", event="to_self", args=["me"])

    async def all_received() -> bool:
        received = (await state(recovery, "a"))["received"]
        return len(news(received)) == 5 and any(args[0] == "self" for args in received)

    await wait_until(all_received, message="the live events after the recovery")
    received = news((await state(recovery, "a"))["received"])
    assert [args[0] for args in received] == [1, 2, 3, 4, 5]
    offsets = [args[1] for args in received]
    assert all(OFFSET.match(offset) for offset in offsets)
    assert offsets == sorted(offsets, key=offset_key) and len(set(offsets)) == 5
    [own] = [args for args in (await state(recovery, "a"))["received"] if args[0] == "self"]
    assert own[1] == "me" and OFFSET.match(own[2])


async def test_a_client_back_after_the_window_gets_a_fresh_session(
    recovery: RecoveryCluster,
) -> None:
    py = await recovery.python_server("py-1", max_disconnection_duration=0.3)
    await recovery.clients.call("open", key="a", url=py.url)
    assert await recovery.clients.call("emit", key="a", event="join", args=["r1"])
    await py.sio.emit("news", 1)

    async def got_the_first() -> bool:
        return len(news((await state(recovery, "a"))["received"])) == 1

    await wait_until(got_the_first, message="the first broadcast")
    sid = (await state(recovery, "a"))["sid"]
    await recovery.held(["a"], gone(py, sid))
    await py.sio.emit("news", 2)

    async def expired() -> bool:
        return await recovery.stored_sessions() == []

    await wait_until(expired, message="the session to expire")
    await recovery.clients.call("release", keys=["a"])
    after = await state(recovery, "a")
    assert after["connections"][1]["recovered"] is False
    assert after["connections"][1]["sid"] != sid
    who = await recovery.clients.call("emit", key="a", event="whoami")
    assert who["rooms"] == [after["sid"]] and who["data"] == {} and not who["recovered"]
    await py.sio.emit("news", 3)

    async def got_the_next() -> bool:
        return len(news((await state(recovery, "a"))["received"])) == 2

    await wait_until(got_the_next, message="the next broadcast")
    assert [args[0] for args in news((await state(recovery, "a"))["received"])] == [1, 3]


async def test_a_client_recovers_on_another_python_node(recovery: RecoveryCluster) -> None:
    py1 = await recovery.python_server("py-1")
    py2 = await recovery.python_server("py-2")

    async def both_subscribed() -> bool:
        return await py1.manager.server_count() == 2

    await wait_until(both_subscribed, message="both nodes in the cluster")
    await recovery.clients.call("open", key="a", url=py1.url)
    assert await recovery.clients.call("emit", key="a", event="join", args=["r1"])
    assert await recovery.clients.call("emit", key="a", event="remember", args=["n", 1])
    # a client offers to recover only once it holds an offset: one event at least
    await py2.sio.emit("news", "hello")
    await wait_until(lambda: received_count(recovery, "a", 1), message="the first broadcast")
    sid = (await state(recovery, "a"))["sid"]
    await recovery.held(["a"], gone(py1, sid))

    await py1.sio.emit("news", "from py1", to="r1")
    await py2.sio.emit("news", "from py2")
    await recovery.clients.call("release", keys=["a"], url=py2.url)

    after = await state(recovery, "a")
    assert after["connections"][1] == {"sid": sid, "recovered": True}
    assert py2.connects == [(sid, True)]
    who = await recovery.clients.call("emit", key="a", event="whoami")
    assert who == {"sid": sid, "rooms": sorted([sid, "r1"]), "data": {"n": 1}, "recovered": True}
    # the room is live on the new node too
    await py1.sio.emit("news", "to r1 again", to="r1")

    await wait_until(
        lambda: received_count(recovery, "a", 4), message="the broadcast after the move"
    )
    assert [args[0] for args in news((await state(recovery, "a"))["received"])] == [
        "hello",
        "from py1",
        "from py2",
        "to r1 again",
    ]


async def test_clients_of_a_node_that_shuts_down_recover_on_another(
    recovery: RecoveryCluster,
) -> None:
    py1 = await recovery.python_server("py-1")
    py2 = await recovery.python_server("py-2")

    async def both_subscribed() -> bool:
        return await py2.manager.server_count() == 2

    await wait_until(both_subscribed, message="both nodes in the cluster")
    await recovery.clients.call("open", key="a", url=py1.url)
    assert await recovery.clients.call("emit", key="a", event="join", args=["r1"])
    await py2.sio.emit("news", 1)
    await wait_until(lambda: received_count(recovery, "a", 1), message="the first broadcast")
    sid = (await state(recovery, "a"))["sid"]

    # a rolling restart: the server closes its connections, then its manager leaves
    await recovery.clients.call("stayAway", keys=["a"])
    await py1.stop()
    await wait_until(recovery.stored_sessions, message="the session stored at shutdown")
    await py2.sio.emit("news", 2, to="r1")
    await recovery.clients.call("release", keys=["a"], url=py2.url)

    after = await state(recovery, "a")
    assert after["connections"][-1] == {"sid": sid, "recovered": True}
    assert [args[0] for args in news(after["received"])] == [1, 2]


async def test_a_client_of_another_namespace_recovers_on_a_node_that_had_none_of_it(
    recovery: RecoveryCluster,
) -> None:
    py1 = await recovery.python_server("py-1")
    py2 = await recovery.python_server("py-2")
    await recovery.clients.call("open", key="c", url=f"{py1.url}/chat")
    sid = (await state(recovery, "c"))["sid"]
    await py1.sio.enter_room(sid, "r1", namespace="/chat")
    await py1.sio.emit("news", 1, namespace="/chat")
    await wait_until(lambda: received_count(recovery, "c", 1), message="the first broadcast")

    async def gone_from_chat() -> bool:
        return not py1.manager.is_connected(sid, "/chat")

    await recovery.held(["c"], gone_from_chat)
    await py1.sio.emit("news", 2, to="r1", namespace="/chat")
    await py1.sio.emit("news", "not this namespace", to="r1")
    await recovery.clients.call("release", keys=["c"], url=py2.url)

    after = await state(recovery, "c")
    assert after["connections"][1] == {"sid": sid, "recovered": True}
    assert py2.manager.is_recovered(sid, "/chat")
    assert sorted(py2.sio.rooms(sid, namespace="/chat")) == sorted([sid, "r1"])
    await py1.sio.emit("news", 3, to="r1", namespace="/chat")
    await wait_until(lambda: received_count(recovery, "c", 3), message="the live broadcast")
    assert [args[0] for args in news((await state(recovery, "c"))["received"])] == [1, 2, 3]
