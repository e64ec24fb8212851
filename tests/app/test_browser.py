"""The demo page in a real browser, on two app nodes clustered over SNS + SQS (moto).

Debian's chromium, driven by Playwright; the screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
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


# Blocks of the page that must never cover one another; an element and its ancestors aside.
LAYOUT_BLOCKS = ".topbar, .brand, .fact, .card, .card-head, label, input, button, .users li"
LAYOUT_PROBLEMS = """(selector) => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const all = [...document.body.querySelectorAll("*")].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  });
  for (const el of all) {
    const box = el.getBoundingClientRect();
    if (box.left < -0.5 || box.right > width + 0.5) {
      const name = `${el.tagName}#${el.id}.${el.className}`;
      problems.push(`${name} spans ${box.left}-${box.right} of ${width}`);
    }
  }
  if (document.documentElement.scrollWidth > width) {
    problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  const blocks = all.filter((el) => el.matches(selector));
  for (const [i, a] of blocks.entries()) {
    for (const b of blocks.slice(i + 1)) {
      if (a.contains(b) || b.contains(a)) continue;
      const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
      const overlap = Math.min(p.right, q.right) - Math.max(p.left, q.left) > 0.5
        && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 0.5;
      const [x, y] = [a.outerHTML.slice(0, 60), b.outerHTML.slice(0, 60)];
      if (overlap) problems.push(`${x} overlaps ${y}`);
    }
  }
  return problems;
}"""


def open_page(browser: Any, node: AppProcess, errors: list[str], **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{node.url}/")
    return page


def test_the_page_fits_a_phone_screen_without_overlaps(
    chromium: str, sync_api: Any, aws_nodes: list[AppProcess]
) -> None:
    expect = sync_api.expect
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            phone = {"viewport": {"width": 360, "height": 740}, "is_mobile": True}
            page = open_page(browser, aws_nodes[0], errors, **phone)
            expect(page.locator("#connection")).to_have_attribute("data-state", "online")
            expect(page.locator("#server-count")).to_have_text("2")
            before_joining = page.evaluate(LAYOUT_PROBLEMS, LAYOUT_BLOCKS)

            page.fill("#name", "Ada Lovelace-Byron")
            page.fill("#room", "a-rather-long-room-name")
            page.click("#join")
            expect(page.locator("#message")).to_be_enabled()
            expect(page.locator('#users li[data-name="Ada Lovelace-Byron"]')).to_be_visible()
            page.fill("#message", "a message long enough to wrap on a narrow screen " * 3)
            page.press("#message", "Enter")
            expect(page.locator("#messages .message")).to_have_count(1)
            page.click("#ask-servers")
            expect(page.locator("#answers li")).to_have_count(2)
            chatting = page.evaluate(LAYOUT_PROBLEMS, LAYOUT_BLOCKS)
            page.screenshot(path=str(ARTIFACTS / "app-demo-phone.png"), full_page=True)
        finally:
            browser.close()

    assert before_joining == []
    assert chatting == []
    assert errors == [], errors


def test_a_page_whose_node_stops_greys_its_facts_and_disables_send(
    chromium: str, sync_api: Any, aws_nodes: list[AppProcess]
) -> None:
    node = aws_nodes[0]
    expect = sync_api.expect
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, node, [], viewport={"width": 1280, "height": 820})
            expect(page.locator("#server-count")).to_have_text("2")
            page.fill("#name", "Ada")
            page.click("#join")
            expect(page.locator("#send")).to_be_enabled()
            for fact in ("#node-fact", "#count-fact", "#users-card", "#servers-card"):
                expect(page.locator(fact)).not_to_have_class(re.compile(r"\bstale\b"))

            assert node.stop() in (0, -signal.SIGTERM)

            expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
            expect(page.locator("#send")).to_be_disabled()
            expect(page.locator("#message")).to_be_disabled()
            expect(page.locator("#ask-servers")).to_be_disabled()
            for fact in ("#node-fact", "#count-fact", "#users-card", "#servers-card"):
                expect(page.locator(fact)).to_have_class(re.compile(r"\bstale\b"))
            page.screenshot(path=str(ARTIFACTS / "app-demo-disconnected.png"))
        finally:
            browser.close()
