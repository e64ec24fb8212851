"""The Node server of docs/redis-streams.md ("Mixed Node/Python cluster") runs as written,
and joins one cluster with a Python server on the default stream and channels."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from socketio_cloud.exceptions import FetchSocketsTimeout
from tests.backends.redis_streams import REDIS_URL, require_redis
from tests.interop.harness import NODE_MODULES, Client, PythonServer, node_missing
from tests.support.services import free_port, port_open, require_service, wait_until

pytestmark = pytest.mark.interop

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE = REPO_ROOT / "docs" / "redis-streams.md"
SNIPPET = re.compile(r"^<!-- interop: node-server -->\n```js\n(?P<code>.*?)^```$", re.M | re.S)


def node_server_snippet() -> str:
    match = SNIPPET.search(PAGE.read_text("utf-8"))
    assert match, f"no <!-- interop: node-server --> snippet in {PAGE.name}"
    return match["code"]


@pytest.fixture
async def node_server(tmp_path: Path) -> AsyncIterator[str]:
    """The snippet, exactly as written, saved as server.mjs and run by node; yields its URL."""
    require_redis()
    missing = node_missing()
    require_service(missing is None, missing or "")
    (tmp_path / "server.mjs").write_text(node_server_snippet(), "utf-8")
    # node resolves the packages from the script's folder upwards
    (tmp_path / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        "node",
        "server.mjs",
        cwd=tmp_path,
        env={**os.environ, "PORT": str(port), "REDIS_URL": REDIS_URL},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until(
            lambda: port_open(port) or process.returncode is not None,
            timeout=20,
            message="the snippet's server to listen",
        )
        if process.returncode is not None:
            _, stderr = await process.communicate()
            pytest.fail(f"node server.mjs exited ({process.returncode}):\n{stderr.decode()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()


async def test_the_documented_node_server_joins_a_python_cluster(node_server: str) -> None:
    # the Python side of the page: RedisStreamsManager with its default names, like Node's
    python = PythonServer("py-1", url=REDIS_URL)
    client = Client(f"node-client-{uuid.uuid4().hex[:8]}")
    await python.start()
    try:
        await client.connect(node_server)

        async def python_sees_the_node_client() -> bool:
            try:
                sockets = await python.manager.fetch_sockets(timeout=2)
            except FetchSocketsTimeout as exc:
                # the default channels may have other listeners on a shared Redis
                sockets = exc.responses
            return client.sid in {socket.id for socket in sockets}

        await wait_until(python_sees_the_node_client, 20, "Python to fetch the Node socket")
        await python.sio.emit("greeting", "from python", to=client.sid)
        await wait_until(
            lambda: client.received("greeting"), 10, "the Node client to get the broadcast"
        )
    finally:
        await client.close()
        await python.stop()

    assert client.received("greeting") == [["from python"]]
