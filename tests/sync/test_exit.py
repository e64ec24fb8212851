"""A node that is never closed does not keep its process alive: the interpreter exits at
once (warning that the node's resources stay behind), in every async mode."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from tests.backends.redis_streams import REDIS_URL, require_redis

pytestmark = [pytest.mark.sync, pytest.mark.redis, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    mode, url, stream = sys.argv[1:4]
    if mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
    import socketio
    from socketio_cloud import sync

    manager = sync.RedisStreamsManager(url=url, stream_name=stream, channel_prefix=stream)
    server = socketio.Server(async_mode=mode, client_manager=manager)
    manager.ready()
    print("ready", manager.server_count(), flush=True)
    """
)


@pytest.mark.parametrize("mode", ["threading", "eventlet", "gevent"])
def test_an_unclosed_node_does_not_hold_the_interpreter(mode: str) -> None:
    require_redis()
    pytest.importorskip(mode if mode != "threading" else "simple_websocket")
    stream = f"sio-sync-{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "adapters"), str(ROOT)]),
        "PYTHONWARNINGS": "ignore",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, mode, REDIS_URL, stream],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        redis.Redis.from_url(REDIS_URL).delete(stream)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ready 1"
    assert "was never closed" in done.stderr
