"""The Quick start's applications run as written: each one's lifespan starts and closes its
cluster manager (the memory broker, as on the page)."""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path
from typing import Any

from tests.support.services import require_service

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "docs" / "quickstart.md"
SNIPPET = re.compile(
    r"^<!-- quickstart: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)^```$", re.M | re.S
)
STEP_TIMEOUT = 10.0


def snippets() -> dict[str, str]:
    return {m["name"]: m["code"] for m in SNIPPET.finditer(QUICKSTART.read_text("utf-8"))}


def run_snippet(name: str) -> dict[str, Any]:
    """Execute the snippet as the module ``main`` (not ``__main__``); return its globals."""
    namespace: dict[str, Any] = {"__name__": "main"}
    exec(compile(snippets()[name], f"{QUICKSTART.name}:{name}", "exec"), namespace)
    return namespace


class AsgiLifespan:
    """Sends an ASGI application the lifespan events, as uvicorn does."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self._step("lifespan.startup")

    async def shutdown(self) -> None:
        await self._step("lifespan.shutdown")
        assert self.task is not None
        await asyncio.wait_for(self.task, STEP_TIMEOUT)

    async def _step(self, event: str) -> None:
        await self.inbox.put({"type": event})
        reply = await asyncio.wait_for(self.outbox.get(), STEP_TIMEOUT)
        assert reply["type"] == f"{event}.complete", reply


def test_the_page_has_the_three_applications() -> None:
    assert set(snippets()) == {"asgi", "fastapi", "aiohttp"}


async def test_the_plain_asgi_app_starts_and_closes_the_manager() -> None:
    module = run_snippet("asgi")
    mgr, lifespan = module["mgr"], AsgiLifespan(module["app"])

    await lifespan.startup()
    started = mgr.is_ready
    await lifespan.shutdown()

    assert started and not mgr.is_ready


async def test_the_fastapi_app_starts_and_closes_the_manager() -> None:
    require_service(importlib.util.find_spec("fastapi") is not None, "fastapi is not installed")
    module = run_snippet("fastapi")
    mgr, lifespan = module["mgr"], AsgiLifespan(module["app"])

    await lifespan.startup()
    started = mgr.is_ready
    servers = await module["hello"]()
    await lifespan.shutdown()

    assert started and not mgr.is_ready
    assert servers == {"servers": 1}


async def test_the_aiohttp_app_starts_and_closes_the_manager() -> None:
    from aiohttp import web

    module = run_snippet("aiohttp")
    mgr = module["mgr"]
    runner = web.AppRunner(module["app"])

    await runner.setup()  # runs on_startup
    started = mgr.is_ready
    await runner.cleanup()  # runs on_shutdown

    assert started and not mgr.is_ready
