"""``scripts/demo --backend servicebus``: three nodes on the Service Bus double come up, count
each other, stop, and leave no subscription behind."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.app.nodes import REPO_ROOT
from tests.app.test_demo import NODES, UP_TIMEOUT, free_port_run
from tests.support.services import require_service

pytestmark = [pytest.mark.slow, pytest.mark.servicebus]


def test_the_demo_runs_on_the_service_bus_double_and_deletes_the_subscriptions() -> None:
    require_service(
        importlib.util.find_spec("azure.servicebus") is not None, "azure-servicebus is missing"
    )
    require_service(
        importlib.util.find_spec("tests.servicebus_double") is not None,
        "the Service Bus double is missing",
    )
    base = free_port_run(NODES)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.demo",
            "--backend",
            "servicebus",
            "--check",
            "--base-port",
            str(base),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT * 2,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "one Service Bus subscription each" in result.stdout
    assert f"all {NODES} node subscriptions were deleted" in result.stdout
