"""PostgreSQL as a behaviour-suite backend, on a private server started by the test run.

The session fixture ``postgres_server`` runs ``initdb`` into a temporary folder and starts
the server on a free port of 127.0.0.1 (as the ``postgres`` user when the tests run as root,
since PostgreSQL refuses to run as root); it is stopped at the end of the session. Only when
that is impossible does it fall back to the machine's server on 127.0.0.1:5432 (database
``test``, trust authentication). Each backend object is one cluster: a channel prefix and an
attachments table of its own; ``cleanup()`` drops the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from socketio_cloud.transports.postgres import (
    PostgresEmitter,
    PostgresManager,
    PostgresTransport,
)
from tests.support.services import free_port, port_open, require_service

FALLBACK_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: a Debian version folder, or PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temporary folder, on a free port."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="sio-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.log = self.root / "server.log"
        # PostgreSQL refuses to run as root: run it as the postgres user then
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user is not None:
            shutil.chown(self.root, self.user)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop (ending every connection) and start again on the same port."""
        self.stop()
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PostgresServer:
    """What the tests connect to: a private server (restartable) or the fallback."""

    def __init__(self, dsn: str, private: PrivatePostgres | None) -> None:
        self.dsn = dsn
        self.private = private


def _start_private() -> tuple[PrivatePostgres | None, str]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None, "no initdb/pg_ctl found (PostgreSQL server binaries)"
    server = PrivatePostgres(bin_dir)
    try:
        server.init()
        server.start()
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        server.remove()
        return None, f"cannot start a private PostgreSQL: {exc} {detail.decode(errors='replace')}"
    return server, ""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (see the module docstring)."""
    private, why = _start_private()
    if private is None:
        require_service(port_open(5432), f"{why}; and no PostgreSQL on 127.0.0.1:5432")
        yield PostgresServer(FALLBACK_DSN, None)
        return
    try:
        yield PostgresServer(private.dsn, private)
    finally:
        private.remove()


class PostgresBackend:
    name = "postgres"

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.dsn = server.dsn
        tag = secrets.token_hex(4)
        self.channel_prefix = f"sio-test-{tag}"
        self.table_name = f"sio_test_{tag}"

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Transport options for this cluster."""
        options: dict[str, Any] = {
            "dsn": self.dsn,
            "channel_prefix": self.channel_prefix,
            "table_name": self.table_name,
            "probe_interval": 1.0,
        }
        options.update(overrides)
        return options

    def make_manager(self, **cluster_options: Any) -> PostgresManager:
        return PostgresManager(**self.options(), **cluster_options)

    def make_emitter(self) -> PostgresEmitter:
        return PostgresEmitter(
            dsn=self.dsn, channel_prefix=self.channel_prefix, table_name=self.table_name
        )

    def make_transport(self, **overrides: Any) -> PostgresTransport:
        return PostgresTransport(**self.options(**overrides))

    async def node_resources(self, uid: str) -> list[str]:
        return []  # nothing on the server belongs to one node

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """PostgreSQL unreachable: the private server stops and starts again."""
        private = self.server.private
        if private is None:
            pytest.skip("the machine's PostgreSQL cannot be stopped by a test")
        await asyncio.to_thread(private.stop)
        try:
            yield
        finally:
            await asyncio.to_thread(private.start)

    async def publish_malformed(self) -> None:
        """Notifications and attachment rows a buggy or hostile peer could send."""
        conn = await self.connect()
        try:
            channel = f"{self.channel_prefix}#/"
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table_name} (id bigserial UNIQUE, "
                "created_at timestamptz DEFAULT NOW(), payload bytea)"
            )
            garbage_id = await conn.fetchval(
                f"INSERT INTO {self.table_name} (payload) VALUES ($1) RETURNING id",
                b"\xc1 not msgpack",
            )
            for payload in (
                "{not json",
                "[1, 2, 3]",
                '"text"',
                '{"type": 99, "uid": "x", "nsp": "/"}',
                '{"type": 3, "uid": "x", "nsp": "/", "data": {"packet": 5}}',
                '{"type": 3, "nsp": "/", "data": {"packet": {"type": 2, "data": ["e"]}}}',
                '{"uid": "x", "type": 3, "attachmentId": "999999999"}',
                '{"uid": "x", "type": 3, "attachmentId": "not a number"}',
                '{"uid": "x", "type": 3, "attachmentId": "99999999999999999999"}',
                f'{{"uid": "x", "type": 3, "attachmentId": "{garbage_id}"}}',
                "",
            ):
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        finally:
            await conn.close()

    async def cleanup(self) -> None:
        conn = await self.connect()
        try:
            await conn.execute(f"DROP TABLE IF EXISTS {self.table_name}")
        finally:
            await conn.close()


@pytest.fixture
def backend_postgres(postgres_server: PostgresServer) -> Iterator[PostgresBackend]:
    yield PostgresBackend(postgres_server)
