"""The documentation site builds with warnings as errors, and shows what it includes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import require_service

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
BROKER_PAGES = ("aws", "redis-streams", "pubsub", "servicebus", "postgres", "amqp", "sync")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        require_service(
            importlib.util.find_spec(module.split(".")[0]) is not None
            and importlib.util.find_spec(module) is not None,
            f"{module} is not installed (pip install 'socketio-cloud[docs]')",
        )
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return site_dir


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_every_broker_has_a_page(site: Path) -> None:
    for name in BROKER_PAGES:
        assert (site / name / "index.html").is_file(), name


def test_the_protocol_page_is_the_repositorys_protocol(site: Path) -> None:
    assert "The cluster message" in page(site, "protocol")


def test_the_benchmarks_page_shows_the_results_and_their_chart(site: Path) -> None:
    html = page(site, "benchmarks")

    assert "Targets" in html
    assert (site / "assets" / "bench" / "latency.png").is_file()


def test_the_api_reference_documents_the_managers(site: Path) -> None:
    html = page(site, "api")

    for name in ("ClusterManager", "AwsSqsManager", "RedisStreamsManager", "EmbeddedAws"):
        assert re.search(rf'id="socketio_cloud\.[\w.]*\b{name}"', html), name


def test_the_deploy_your_own_app_guide_states_the_contract(site: Path) -> None:
    page = (site / "your-app" / "index.html").read_text()
    for fact in ("PORT", "/healthz", "SIGTERM", "stop timeout", "from_env", "socketio-cloud-cdk"):
        assert fact in page, fact
