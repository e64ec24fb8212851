"""Two served nodes across a PostgreSQL restart: nothing crashes, clients stay connected,
membership and broadcasts come back once the nodes listen again."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from socketio_cloud.exceptions import TransportError
from tests.backends.postgres import PostgresBackend
from tests.behaviour.harness import FAST_HEARTBEATS, Node, connect_client, make_node
from tests.support.services import require_service, wait_until

pytestmark = pytest.mark.postgres


async def test_nodes_and_clients_survive_a_postgresql_restart(
    backend_postgres: PostgresBackend,
) -> None:
    private = backend_postgres.server.private
    require_service(private is not None, "needs the private PostgreSQL (restartable)")
    assert private is not None
    nodes = [
        make_node(f"node{i}", backend_postgres.make_manager(**FAST_HEARTBEATS)) for i in range(2)
    ]
    clients = []
    try:
        for node in nodes:
            await node.start()
        for node in nodes:
            await wait_until(lambda n=node: _counts(n, 2), 15, f"{node.name} to count 2")
        client = await connect_client(nodes[1], "c", ("/",))
        clients.append(client)
        await nodes[0].sio.emit("before", 1)
        await client.wait_for("before")

        await asyncio.to_thread(private.restart)
        for node in nodes:
            await wait_until(lambda n=node: n.manager.connected, 20, f"{node.name} to reconnect")
        sent = 0

        async def one_arrives() -> bool:
            nonlocal sent
            sent += 1
            with contextlib.suppress(TransportError):
                await nodes[0].sio.emit("after", sent)
            return bool(client.received("after"))

        # NOTIFY keeps nothing: retry until the listener is back and one broadcast crosses
        await wait_until(one_arrives, 20, "a broadcast after the restart", interval=0.2)
        for node in nodes:
            await wait_until(lambda n=node: _counts(n, 2), 15, f"{node.name} to count 2 again")
        assert not client.disconnected["/"].is_set()
        assert nodes[1].manager.transport.stats["reconnects"] >= 1
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        for node in nodes:
            await node.stop()
        await backend_postgres.cleanup()


async def _counts(node: Node, expected: int) -> bool:
    return await node.manager.server_count() == expected
