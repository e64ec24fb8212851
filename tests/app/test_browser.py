"""The demo page in a real browser, on two app nodes clustered over SNS + SQS (moto).

Debian's chromium, driven by Playwright; the screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.nodes import ARTIFACTS, AppProcess
from tests.support.moto import MotoServer
from tests.support.services import require_service

pytestmark = [pytest.mark.browser, pytest.mark.aws]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: the nodes' first requests load botocore models; nothing here measures speed.
EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium")
    require_service(path is not None, "chromium is not installed (scripts/bootstrap installs it)")
    assert path is not None
    return path


@pytest.fixture
def sync_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        require_service(False, "playwright is not installed (pip install playwright)")
    return sync_api


@pytest.fixture
def aws_nodes(moto_server: MotoServer, tmp_path: Path) -> Iterator[list[AppProcess]]:
    """Two app nodes of one cluster on moto; afterwards, their queues must be gone."""
    sns, sqs = moto_server.client("sns"), moto_server.client("sqs")
    name = f"app-browser-{secrets.token_hex(4)}"
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    env = {
        **moto_server.environ(),
        "SIO_BACKEND": "aws",
        "SIO_TOPIC_ARN": topic_arn,
        "SIO_QUEUE_PREFIX": name,
        "SIO_LOG_LEVEL": "info",
    }
    nodes = [AppProcess(node, env, tmp_path) for node in ("node-a", "node-b")]
    try:
        for node in nodes:
            node.wait_healthy(servers=len(nodes))
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        sns.delete_topic(TopicArn=topic_arn)
    left = sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
    assert left == [], "node queues left behind:\n" + "\n".join(n.log() for n in nodes)


def test_two_pages_on_two_nodes_chat_list_users_and_ask_the_servers(
    chromium: str, sync_api: Any, aws_nodes: list[AppProcess]
) -> None:
    node_a, node_b = aws_nodes
    expect = sync_api.expect
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            pages = []
            for node in aws_nodes:
                context = browser.new_context(viewport={"width": 1280, "height": 820})
                page = context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(f"{node.url}/")
                expect(page.locator("#node-name")).to_have_text(node.name)
                expect(page.locator("#connection")).to_have_attribute("data-state", "online")
                pages.append(page)
            page_a, page_b = pages

            for page, name in ((page_a, "Ada"), (page_b, "Grace")):
                page.fill("#name", name)
                page.fill("#room", "lobby")
                page.click("#join")
                expect(page.locator("#room-title")).to_have_text("#lobby")
                expect(page.locator("#message")).to_be_enabled()

            # each page lists both users, wherever they are connected
            for page in pages:
                for name, node in (("Ada", node_a), ("Grace", node_b)):
                    user = page.locator(f'#users li[data-name="{name}"]')
                    expect(user).to_contain_text(node.name)
            expect(page_a.locator("#server-count")).to_have_text("2")

            page_a.fill("#message", "Hello from node-a!")
            page_a.press("#message", "Enter")
            # messages sent on two nodes have no cluster-wide order: answer once it arrived
            expect(page_b.locator("#messages .message .text")).to_have_text(["Hello from node-a!"])
            page_b.fill("#message", "Hi Ada, greetings from node-b.")
            page_b.click("#send")
            for page in pages:
                expect(page.locator("#messages .message .text")).to_have_text(
                    ["Hello from node-a!", "Hi Ada, greetings from node-b."]
                )
            received = page_b.locator("#messages .message", has_text="Hello from node-a!")
            expect(received.locator(".node-tag")).to_have_text("node-a")

            for page, here in ((page_a, node_a), (page_b, node_b)):
                page.click("#ask-servers")
                for node in aws_nodes:
                    expect(page.locator(f'#answers li[data-node="{node.name}"]')).to_be_visible()
                expect(page.locator("#answers li.self")).to_have_attribute("data-node", here.name)
                expect(page.locator("#answers-note")).to_have_text("2 of 2 servers answered")

            for page, node in ((page_a, node_a), (page_b, node_b)):
                page.screenshot(path=str(ARTIFACTS / f"app-demo-{node.name}.png"))
        finally:
            browser.close()

    assert errors == [], errors
