"""app/Dockerfile cannot be built here (no Docker engine); these checks catch what breaks it
most often: missing sources, an ignore file that hides them, unknown extras, running as root."""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.app.nodes import REPO_ROOT

DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
IGNORE_FILE = REPO_ROOT / "app" / "Dockerfile.dockerignore"


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def copied_sources() -> list[str]:
    sources: list[str] = []
    for keyword, rest in instructions():
        if keyword == "COPY":
            *parts, _destination = rest.split()
            sources.extend(part for part in parts if not part.startswith("--"))
    return sources


def ignored(path: str) -> bool:
    """Whether the ignore file excludes ``path`` from the context (last match wins)."""
    verdict = False
    for line in IGNORE_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
            verdict = not negate
    return verdict


def test_every_copied_source_exists_and_is_in_the_context() -> None:
    sources = copied_sources()
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by {IGNORE_FILE.name}"


def test_the_installed_extras_exist() -> None:
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installs = [
        rest for keyword, rest in instructions() if keyword == "RUN" and "pip install" in rest
    ]
    [install] = installs
    wanted = re.search(r"\.\[([\w,]+)\]", install)
    assert wanted is not None
    assert set(wanted.group(1).split(",")) == {"aws", "app"}
    assert {"aws", "app"} <= set(extras)


def test_the_service_runs_as_a_user_on_the_port_of_the_contract() -> None:
    steps = dict(instructions())
    assert steps["USER"] not in ("root", "0")
    assert steps["CMD"] == '["python", "-m", "app"]'
    assert steps["EXPOSE"] == "8000"
    assert any("PORT=8000" in rest for keyword, rest in instructions() if keyword == "ENV")
    assert steps["FROM"].startswith("python:") and steps["FROM"].endswith("-slim")
