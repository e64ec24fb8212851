"""Nothing from the broker is trusted; a handler's failure never stops the node."""

from __future__ import annotations

import logging

import pytest

from tests.behaviour.conftest import Cluster


async def test_malformed_messages_are_dropped_and_the_node_keeps_working(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    clients = [await cluster.connect(node, f"c{i}") for i, node in enumerate(cluster.nodes)]
    with caplog.at_level(logging.DEBUG, logger="socketio_cloud"):
        await cluster.backend.publish_malformed()
        await cluster.nodes[0].sio.emit("still-alive", 1)
        for client in clients:
            await client.wait_for("still-alive")
    assert any("malformed" in record.getMessage() for record in caplog.records)
    await cluster.converge()


async def test_a_raising_server_handler_does_not_stop_the_listener(cluster: Cluster) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("handler bug")

    for node in cluster.nodes:
        node.manager.on_server_event("boom")(broken)
        node.manager.on_server_event("boom")(lambda: "still answered")
        node.manager.on("join-room", broken)
    await cluster.nodes[0].manager.server_side_emit("boom")
    replies = await cluster.nodes[0].manager.server_side_emit_with_ack("boom")
    assert replies == ["still answered", "still answered"]
    client = await cluster.connect(cluster.nodes[2], "c")
    await client.sio.call("join", "room")
    await cluster.nodes[1].sio.emit("after", 2, to="room")
    await client.wait_for("after")
