"""Fixtures for the Redis tests: a private ``redis-server`` per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis.redis_server import RedisServer
from tests.support.services import require_service


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    require_service(binary is not None, "redis-server is not installed")
    assert binary is not None
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
