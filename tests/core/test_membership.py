"""Who is in the cluster: heartbeat membership and broker-counted membership."""

from __future__ import annotations

import asyncio
import logging

import pytest

from socketio_cloud.membership import HeartbeatMembership
from socketio_cloud.protocol import ClusterMessage, MessageType
from tests.core.conftest import PEER_A, PEER_B, CoreNode
from tests.support.services import wait_until


async def test_a_started_node_announces_itself_and_says_goodbye(node: CoreNode) -> None:
    assert [m.nsp for m in node.transport.of_type(MessageType.INITIAL_HEARTBEAT)] == ["/"]
    await node.manager.close()
    assert [m.nsp for m in node.transport.of_type(MessageType.ADAPTER_CLOSE)] == ["/"]


async def test_an_announcement_is_answered_and_its_sender_counted(node: CoreNode) -> None:
    await node.transport.feed(MessageType.INITIAL_HEARTBEAT, PEER_A)
    await node.transport.wait_for_publish(MessageType.HEARTBEAT)
    assert await node.manager.server_count() == 2


async def test_only_heartbeat_class_messages_make_a_member(node: CoreNode) -> None:
    data = {"opts": {"rooms": [], "except": [], "flags": {}}, "packet": {"type": 2, "data": ["e"]}}
    await node.transport.feed(MessageType.BROADCAST, PEER_A, data=data)
    await node.transport.feed(
        MessageType.FETCH_SOCKETS_RESPONSE, PEER_B, data={"requestId": "1" * 16, "sockets": []}
    )
    assert await node.manager.server_count() == 1


async def test_a_namespace_only_others_announce_is_not_served(node: CoreNode) -> None:
    await node.transport.feed(MessageType.INITIAL_HEARTBEAT, PEER_A, "/theirs")
    assert "/theirs" not in node.transport.namespaces
    assert all(m.nsp != "/theirs" for m in node.transport.published)


async def test_tracked_nodes_are_bounded(node: CoreNode) -> None:
    membership = node.manager.membership
    assert isinstance(membership, HeartbeatMembership)
    membership.max_nodes = 3
    for i in range(10):
        await node.transport.feed(MessageType.HEARTBEAT, f"{i:016x}")
    assert await node.manager.server_count() == 4


async def test_a_close_notice_drops_the_node_at_once(node: CoreNode) -> None:
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    await node.transport.feed(MessageType.ADAPTER_CLOSE, PEER_A)
    assert await node.manager.server_count() == 1


async def test_silent_nodes_drop_out_in_one_log_line(
    node: CoreNode, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketio_cloud"):
        # in one loop turn, so that one sweep finds them all silent
        for i in range(7):
            node.manager.membership.observe(
                ClusterMessage(MessageType.HEARTBEAT, f"{i:016x}", "/"), True
            )
        assert await node.manager.server_count() == 8

        async def alone() -> bool:
            return await node.manager.server_count() == 1

        await wait_until(alone, 5, "silent nodes to drop out")
    lines = [r.getMessage() for r in caplog.records if "seem down" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("7 node(s) seem down") and "2 more" in lines[0]


async def test_a_silent_node_keeps_getting_heartbeats(node: CoreNode) -> None:
    await node.transport.wait_for_publish(MessageType.HEARTBEAT, 2)


async def test_broker_membership_sends_no_heartbeats_and_asks_the_broker(
    counted_node: CoreNode,
) -> None:
    assert await counted_node.manager.server_count() == 3
    await counted_node.transport.feed(MessageType.INITIAL_HEARTBEAT, PEER_A)
    await counted_node.manager.close()
    kinds = {m.type for m in counted_node.transport.published}
    assert not kinds & {
        MessageType.INITIAL_HEARTBEAT,
        MessageType.HEARTBEAT,
        MessageType.ADAPTER_CLOSE,
    }


async def test_a_node_never_closed_says_what_it_leaves_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import gc

    from socketio_cloud.tasks import cancel_and_wait
    from tests.core.conftest import start_node

    core = await start_node()
    uid = core.manager.uid
    with caplog.at_level(logging.WARNING, logger="socketio_cloud"):
        await core.manager.membership.stop()  # its loops would keep it alive
        await cancel_and_wait(core.manager._tasks)
        core.sio.manager = None  # type: ignore[assignment]
        del core
        gc.collect()
    [line] = [m for r in caplog.records if uid in (m := r.getMessage()) and "never" in m]
    assert "never closed (it was garbage-collected)" in line and "close()" in line


async def test_every_peer_going_silent_at_once_makes_the_node_recheck_its_transport(
    node: CoreNode,
) -> None:
    checks = 0

    async def recheck() -> None:
        nonlocal checks
        checks += 1

    node.transport.recheck = recheck  # type: ignore[method-assign]
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    await node.transport.feed(MessageType.HEARTBEAT, PEER_B)
    await wait_until(lambda: checks == 1, 5, "a recheck after every peer went silent")
    await node.transport.feed(MessageType.HEARTBEAT, PEER_A)
    await node.transport.feed(MessageType.ADAPTER_CLOSE, PEER_A)  # a goodbye is no silence
    assert checks == 1


async def test_a_namespace_nobody_uses_any_more_stops_being_served(node: CoreNode) -> None:
    removed: list[str] = []

    async def remove_namespace(namespace: str) -> None:
        removed.append(namespace)

    node.transport.remove_namespace = remove_namespace  # type: ignore[method-assign]
    node.manager.namespace_idle_timeout = 0.4
    node.manager._spawn(node.manager._prune_namespaces())  # the started one sleeps 60 s
    sid = await node.connect("/chat")
    await node.manager.server_count("/ops")  # an operation serves a namespace too
    assert {"/chat", "/ops"} <= node.manager._namespaces
    await wait_until(lambda: removed == ["/ops"], 5, "/ops to stop being served")
    assert "/chat" in node.manager._namespaces  # it still has a client
    assert [m.nsp for m in node.transport.of_type(MessageType.ADAPTER_CLOSE)] == ["/ops"]
    await node.manager.disconnect(sid, "/chat", ignore_queue=True)
    await wait_until(lambda: "/chat" in removed, 5, "/chat to stop being served")
    assert "/" in node.manager._namespaces  # never pruned


@pytest.mark.parametrize("queued", [False, True])
async def test_a_namespace_the_node_keeps_emitting_to_stays_served(
    node: CoreNode, queued: bool
) -> None:
    removed: list[str] = []

    async def remove_namespace(namespace: str) -> None:
        removed.append(namespace)

    node.transport.remove_namespace = remove_namespace  # type: ignore[method-assign]
    node.manager.namespace_idle_timeout = 0.4
    node.manager.queued_emits = queued
    node.manager._spawn(node.manager._prune_namespaces())
    # emits only, no client and no handler: 8 sweeps of the pruner see them
    for _ in range(16):
        await node.manager.emit("tick", 1, namespace="/news")
        await node.manager.flush()
        await asyncio.sleep(0.1)
    assert "/news" in node.manager._namespaces and removed == []
    await wait_until(lambda: removed == ["/news"], 5, "/news to stop being served")
