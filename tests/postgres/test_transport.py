"""The PostgreSQL transport on the session's private server: the NOTIFY size limit, the
attachments table, garbage, a server restart mid-stream and the one cleaning node."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from socketio_cloud.exceptions import TransportError
from socketio_cloud.protocol import ClusterMessage, MessageType, new_uid
from socketio_cloud.transports.postgres import PostgresTransport
from socketio_cloud.transports.postgres_framing import notification_text
from tests.backends.postgres import PostgresBackend, PostgresServer
from tests.support.services import require_service, wait_until

pytestmark = pytest.mark.postgres


class Received:
    """An ``on_message`` handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[ClusterMessage] = []

    async def __call__(self, message: ClusterMessage, offset: str | None) -> None:
        self.messages.append(message)

    def events(self) -> list[str]:
        return [
            m.data["packet"]["data"][0]
            for m in self.messages
            if m.type is MessageType.BROADCAST and m.data is not None
        ]


def event(name: str, *args: object, uid: str = "0123456789abcdef") -> ClusterMessage:
    data = {
        "packet": {"type": 2, "data": [name, *args]},
        "opts": {"rooms": [], "except": [], "flags": {}},
    }
    return ClusterMessage(MessageType.BROADCAST, uid, "/", data)


def sized_event(name: str, size: int, uid: str) -> ClusterMessage:
    """A broadcast whose notification text has exactly ``size`` bytes."""
    base = len(notification_text(event(name, "", uid=uid)) or "")
    message = event(name, "x" * (size - base), uid=uid)
    assert len((notification_text(message) or "").encode()) == size
    return message


class Nodes:
    """Started transports of one cluster, closed at the end of the test."""

    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        self.started: list[PostgresTransport] = []

    async def start(self, **options: object) -> tuple[PostgresTransport, Received, str]:
        transport = self.backend.make_transport(**options)
        received = Received()
        uid = new_uid()
        await transport.start(uid, received)
        await transport.add_namespace("/")
        self.started.append(transport)
        return transport, received, uid


@pytest.fixture
async def nodes(backend_postgres: PostgresBackend) -> AsyncIterator[Nodes]:
    nodes = Nodes(backend_postgres)
    try:
        yield nodes
    finally:
        for transport in nodes.started:
            await transport.close()
        await backend_postgres.cleanup()


async def test_postgresql_refuses_a_notify_payload_of_8000_bytes(
    backend_postgres: PostgresBackend,
) -> None:
    conn = await backend_postgres.connect()
    try:
        await conn.execute("SELECT pg_notify('sio-limit', $1)", "x" * 7999)
        with pytest.raises(asyncpg.InvalidParameterValueError, match="payload string too long"):
            await conn.execute("SELECT pg_notify('sio-limit', $1)", "x" * 8000)
    finally:
        await conn.close()


async def test_a_payload_at_the_limit_is_notified_and_one_byte_more_goes_to_the_table(
    nodes: Nodes,
) -> None:
    publisher, _, uid = await nodes.start()
    _, received, _ = await nodes.start()

    await publisher.publish(sized_event("at-limit", 7999, uid))
    assert publisher.stats.get("attachments_stored", 0) == 0
    await publisher.publish(sized_event("over-limit", 8000, uid))
    assert publisher.stats["attachments_stored"] == 1
    await wait_until(lambda: len(received.messages) == 2, message="both messages")
    assert received.events() == ["at-limit", "over-limit"]


async def test_binary_data_goes_through_the_table(nodes: Nodes) -> None:
    publisher, _, uid = await nodes.start()
    _, received, _ = await nodes.start()
    await publisher.publish(event("blob", b"\x00\x01", uid=uid))
    await wait_until(lambda: received.messages, message="the binary message")
    assert received.messages[0].data is not None
    assert received.messages[0].data["packet"]["data"] == ["blob", b"\x00\x01"]
    assert publisher.stats["attachments_stored"] == 1


async def test_a_node_never_receives_its_own_messages(nodes: Nodes) -> None:
    publisher, own, uid = await nodes.start()
    _, other, _ = await nodes.start()
    await publisher.publish(event("small", uid=uid))
    await publisher.publish(event("blob", b"\x01", uid=uid))
    await wait_until(lambda: len(other.messages) == 2, message="the other node to get both")
    assert own.messages == []
    # nor does it fetch its own attachment
    assert publisher.stats.get("attachments_fetched", 0) == 0


async def test_garbage_in_the_channel_and_the_table_is_dropped_and_counted(
    nodes: Nodes, backend_postgres: PostgresBackend
) -> None:
    receiver, received, _ = await nodes.start()
    publisher, _, uid = await nodes.start()
    await backend_postgres.publish_malformed()
    await publisher.publish(event("after-garbage", uid=uid))
    await wait_until(lambda: received.events() == ["after-garbage"], message="a valid message")
    # eleven malformed notifications (one names a missing row, one a garbage row)
    assert receiver.stats["rejected"] >= 10
    assert receiver.stats["attachments_missing"] == 1  # the notice naming no row
    assert receiver.connected


async def test_an_existing_table_with_nodes_schema_is_used(
    backend_postgres: PostgresBackend, nodes: Nodes
) -> None:
    conn = await backend_postgres.connect()
    try:
        await conn.execute(
            f"CREATE TABLE {backend_postgres.table_name} (id bigserial UNIQUE, "
            "created_at timestamptz DEFAULT NOW(), payload bytea)"
        )
    finally:
        await conn.close()
    publisher, _, uid = await nodes.start(create_table=False)
    _, received, _ = await nodes.start(create_table=False)
    await publisher.publish(event("big", "z" * 9000, uid=uid))
    await wait_until(lambda: received.events() == ["big"], message="the large message")


async def test_without_the_table_a_large_publish_fails_clearly(
    backend_postgres: PostgresBackend, nodes: Nodes
) -> None:
    publisher, _, uid = await nodes.start(create_table=False)
    with pytest.raises(TransportError, match="large payload"):
        await publisher.publish(event("big", "z" * 9000, uid=uid))


async def test_one_node_deletes_old_attachments_and_another_takes_over(
    nodes: Nodes, backend_postgres: PostgresBackend
) -> None:
    options = {"cleanup_interval": 0.5, "probe_interval": 0.1}
    started = [await nodes.start(**options) for _ in range(3)]
    transports = [transport for transport, _, _ in started]
    publisher, _, uid = started[0]
    await publisher.publish(event("big", "q" * 9000, uid=uid))

    async def no_rows() -> bool:
        conn = await backend_postgres.connect()
        try:
            count = await conn.fetchval(f"SELECT count(*) FROM {backend_postgres.table_name}")
        finally:
            await conn.close()
        return bool(count == 0)

    await wait_until(lambda: sum(t.is_cleaner for t in transports) == 1, message="a cleaner")
    await wait_until(no_rows, message="the old row to go")
    [cleaner] = [t for t in transports if t.is_cleaner]
    cleanups = sum(t.stats.get("cleanups", 0) for t in transports)
    assert cleanups == cleaner.stats["cleanups"]  # nobody else ran a DELETE

    await cleaner.close()
    others = [t for t in transports if t is not cleaner]
    await wait_until(lambda: sum(t.is_cleaner for t in others) == 1, message="a new cleaner")


async def test_a_server_restart_mid_stream_loses_nothing_after_reconnection(
    nodes: Nodes, postgres_server: PostgresServer
) -> None:
    private = postgres_server.private
    require_service(private is not None, "needs the private PostgreSQL (restartable)")
    assert private is not None
    publisher, _, uid = await nodes.start(probe_interval=0.5)
    listener, received, _ = await nodes.start(probe_interval=0.5)
    await publisher.add_namespace("/admin")
    await listener.add_namespace("/admin")
    await publisher.publish(event("before", uid=uid))
    await wait_until(lambda: received.events() == ["before"], message="the first message")

    await asyncio.to_thread(private.restart)
    await wait_until(
        lambda: listener.stats.get("listen_outages", 0) >= 1, message="the outage to show"
    )

    # the first publish after the restart may find the pool's connections dead
    async def publishes() -> bool:
        try:
            await publisher.publish(event("after", uid=uid))
        except TransportError:
            return False
        return True

    # NOTIFY keeps nothing: only what is published once the listener is back arrives
    await wait_until(lambda: listener.connected, 20, "the listener to reconnect")
    await wait_until(publishes, 20, "a publish to succeed again")
    await wait_until(lambda: "after" in received.events(), message="a message after the restart")
    await wait_until(lambda: publisher.connected, 20, "the publisher to listen again too")
    assert listener.stats["reconnects"] >= 1
    # no hot loop: one outage, a handful of attempts
    assert listener.stats["listen_outages"] == 1
    # every namespace listened to again
    admin = ClusterMessage(MessageType.HEARTBEAT, uid, "/admin")
    await publisher.publish(admin)
    await wait_until(lambda: admin in received.messages, message="a message on /admin")


async def test_a_publish_while_the_server_is_down_fails_fast(
    backend_postgres: PostgresBackend,
) -> None:
    transport = PostgresTransport(dsn="postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(TransportError):
        await transport.start(new_uid(), Received())
    assert not transport.connected
    await transport.close()


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="payload_threshold"):
        PostgresTransport(payload_threshold=8001)
    with pytest.raises(ValueError, match="table name"):
        PostgresTransport(table_name="x; DROP TABLE y")
    with pytest.raises(ValueError, match="63"):
        PostgresTransport(channel_prefix="p" * 62)
    with pytest.raises(ValueError, match="dsn or pool"):
        PostgresTransport(dsn="postgresql://", pool=object())  # type: ignore[arg-type]


async def test_a_namespace_whose_channel_is_too_long_is_refused(nodes: Nodes) -> None:
    transport, _, _ = await nodes.start()
    with pytest.raises(ValueError, match="63"):
        await transport.add_namespace("/" + "n" * 60)


async def test_a_user_pool_is_used_and_left_open(
    backend_postgres: PostgresBackend, nodes: Nodes
) -> None:
    pool = await asyncpg.create_pool(backend_postgres.dsn, min_size=1, max_size=3)
    try:
        transport = PostgresTransport(
            pool=pool,
            channel_prefix=backend_postgres.channel_prefix,
            table_name=backend_postgres.table_name,
        )
        _, received, _ = await nodes.start()
        await transport.open_publisher()
        await transport.publish(event("from-user-pool", uid="emitter"))
        await wait_until(lambda: received.events() == ["from-user-pool"], message="it")
        await transport.close()
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_a_killed_listening_connection_is_replaced(
    nodes: Nodes, backend_postgres: PostgresBackend
) -> None:
    # no probes: LISTEN stays their last statement, and the loss is seen without them
    publisher, _, uid = await nodes.start(probe_interval=600)
    listener, received, _ = await nodes.start(probe_interval=600)
    conn = await backend_postgres.connect()
    try:
        # the listening backends of this cluster: LISTEN was their last statement
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN %' AND query LIKE $1",
            f'%"{backend_postgres.channel_prefix}#/"%',
        )
    finally:
        await conn.close()
    assert killed == 2
    await wait_until(lambda: listener.stats.get("reconnects", 0) >= 1, 15, "a reconnection")
    await wait_until(lambda: listener.connected, message="the listener to be back")
    await publisher.publish(event("after-kill", uid=uid))
    await wait_until(lambda: received.events() == ["after-kill"], message="a message")
