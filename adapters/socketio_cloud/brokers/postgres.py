"""Facts about PostgreSQL as a broker, shared by the transport, the app and the tests.

Names and defaults are those of ``@socket.io/postgres-adapter`` 0.5 and
``@socket.io/postgres-emitter`` 0.1, so that Node and Python nodes share one cluster.
"""

from __future__ import annotations

import re
from typing import Final

DEFAULT_DSN: Final = "postgresql://localhost:5432/postgres"
DEFAULT_CHANNEL_PREFIX: Final = "socket.io"
DEFAULT_TABLE: Final = "socket_io_attachments"
#: Node's ``payloadThreshold``: NOTIFY payloads of this many bytes or more go through the
#: table (PostgreSQL refuses a NOTIFY payload of 8000 bytes or more in its default build).
DEFAULT_PAYLOAD_THRESHOLD: Final = 8000
#: Node's ``cleanupInterval`` (30000 ms): rows older than this are deleted this often.
DEFAULT_CLEANUP_INTERVAL: Final = 30.0

#: PostgreSQL's ``NAMEDATALEN - 1``: the longest channel name in bytes; ``LISTEN`` silently
#: truncates longer identifiers and ``pg_notify`` refuses them.
MAX_CHANNEL_BYTES: Final = 63

#: Table names are written into SQL unquoted, as Node does (so the same case folding
#: applies): a plain or schema-qualified identifier only.
TABLE_NAME_PATTERN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")

#: The table as Node's documentation creates it; ``IF NOT EXISTS`` keeps an existing one.
CREATE_TABLE_SQL: Final = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    "id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)"
)
INSERT_SQL: Final = "INSERT INTO {table} (payload) VALUES ($1) RETURNING id"
SELECT_SQL: Final = "SELECT payload FROM {table} WHERE id = $1"
DELETE_OLD_SQL: Final = "DELETE FROM {table} WHERE created_at < now() - $1::interval"
NOTIFY_SQL: Final = "SELECT pg_notify($1, $2)"
#: The session-level advisory lock held by the one node that deletes old rows; its key is
#: ``hashtext`` of this text and the table name.
CLEANUP_LOCK_SQL: Final = "SELECT pg_try_advisory_lock(hashtext($1))"
CLEANUP_LOCK_NAME: Final = "socketio_cloud cleanup {table}"


def channel_name(channel_prefix: str, namespace: str) -> str:
    """The NOTIFY channel of a namespace: ``<channel_prefix>#<namespace>``."""
    return f"{channel_prefix}#{namespace}"


def check_table_name(table: str) -> str:
    """``table`` when it is a plain or schema-qualified identifier, else ValueError."""
    if not TABLE_NAME_PATTERN.match(table):
        raise ValueError(f"invalid table name {table!r}: use letters, digits, _ and one '.'")
    return table


def check_channel(channel: str) -> str:
    """``channel`` when PostgreSQL can carry it unchanged, else ValueError."""
    size = len(channel.encode())
    if size > MAX_CHANNEL_BYTES:
        raise ValueError(
            f"channel {channel!r} has {size} bytes; PostgreSQL allows {MAX_CHANNEL_BYTES}"
        )
    return channel
