"""What Node's postgres adapter 0.5 and emitter 0.1 put on the wire, captured with LISTEN,
against our framing: the facts behind the protocol notes of docs/postgres.md."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from socketio_cloud.transports.postgres import PostgresEmitter
from socketio_cloud.transports.postgres_framing import (
    AttachmentNotice,
    notification_text,
    parse_notification,
)
from tests.backends.postgres import PostgresServer
from tests.interop.harness import POSTGRES_PACKAGES, Client, NodeProcess, node_missing
from tests.support.services import require_service, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.postgres]


@dataclass
class Wire:
    node: NodeProcess
    conn: asyncpg.Connection
    channel: str
    table: str
    payloads: list[str]

    def broadcasts(self) -> list[str]:
        return [p for p in self.payloads if '"type":3' in p]


@pytest.fixture
async def wire(postgres_server: PostgresServer) -> AsyncIterator[Wire]:
    missing = node_missing(POSTGRES_PACKAGES)
    require_service(missing is None, missing or "")
    tag = secrets.token_hex(4)
    prefix, table = f"sio-wire-{tag}", f"sio_wire_{tag}"
    conn = await asyncpg.connect(postgres_server.dsn)
    await conn.execute(
        f"CREATE TABLE {table} (id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), "
        "payload bytea)"
    )
    payloads: list[str] = []
    channel = f"{prefix}#/"
    await conn.add_listener(channel, lambda *args: payloads.append(args[3]))
    node = NodeProcess(
        "postgres_server.js",
        {"dsn": postgres_server.dsn, "channelPrefix": prefix, "tableName": table, "name": "n"},
    )
    try:
        await node.start()
        yield Wire(node, conn, channel, table, payloads)
    finally:
        await node.stop()
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


async def test_our_notification_text_equals_nodes_bytes(wire: Wire) -> None:
    await wire.node.call("emit", rooms=["r1"], event="news", args=[{"n": 1}, "é", [True, None]])
    await wait_until(wire.broadcasts, message="Node's broadcast")
    [payload] = wire.broadcasts()
    message, requester = parse_notification(payload, "/")
    assert requester is None
    assert notification_text(message) == payload  # byte for byte, UTF-8 kept as it is


async def test_node_emitter_omits_nsp_and_sends_ids_as_text(wire: Wire) -> None:
    await wire.node.call("emitterEmit", event="plain", args=[1])
    await wire.node.call("emitterEmit", event="blob", args=[b"\x01"])
    await wait_until(lambda: len(wire.broadcasts()) == 2, message="the emitter's messages")
    plain, blob = (json.loads(p) for p in wire.broadcasts())
    assert "nsp" not in plain and plain["uid"] == "emitter"
    assert plain["data"]["packet"]["nsp"] == "/"
    assert set(blob) == {"uid", "type", "attachmentId"}
    assert isinstance(blob["attachmentId"], str)
    notice, _ = parse_notification(json.dumps(blob), "/")
    assert isinstance(notice, AttachmentNotice)


async def test_node_notifies_a_payload_of_exactly_8000_bytes_and_postgresql_refuses_it(
    wire: Wire,
) -> None:
    # Node compares with > 8000; PostgreSQL refuses 8000 bytes and more: the message is lost
    base = '{"type":3,"data":{"packet":{"type":2,"data":["edge",""]},"opts":{"rooms":[],'
    base += '"except":[],"flags":{}}},"uid":"0123456789abcdef","nsp":"/"}'
    filler = "x" * (8000 - len(base))
    await wire.node.call("emit", event="edge", args=[filler])
    event = await wire.node.wait_event(lambda e: e["event"] == "adapterError")
    assert "payload string too long" in event["message"]
    await wire.node.call("emit", event="marker")
    await wait_until(lambda: any("marker" in p for p in wire.payloads), message="the marker")
    assert not any('"edge"' in p for p in wire.payloads)
    rows = await wire.conn.fetchval(f"SELECT count(*) FROM {wire.table}")
    assert rows == 0


async def test_node_servers_drop_the_node_emitters_messages(
    wire: Wire, postgres_server: PostgresServer
) -> None:
    client = Client("node-client")
    await client.connect(wire.node.url)
    emitter = PostgresEmitter(
        dsn=postgres_server.dsn,
        channel_prefix=wire.channel.split("#")[0],
        table_name=wire.table,
    )
    try:
        await wire.node.call("emitterEmit", event="from-node-emitter", args=[1])
        # once our listener saw it, Node's listener has it before anything published later
        await wait_until(
            lambda: any("from-node-emitter" in p for p in wire.payloads), message="the NOTIFY"
        )
        await emitter.emit("marker")
        await wait_until(lambda: client.received("marker"), message="our emitter's marker")
        assert client.received("from-node-emitter") == []
    finally:
        await emitter.close()
        await client.close()
