"""Synthesized variants of the CDK app, shared by the template and cdk-nag tests.

Synthesis takes seconds, so each variant is synthesized once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cdk import CERTIFICATE_ARN, REGISTRY_IMAGE, Synthesis, synthesize


@pytest.fixture(scope="session")
def default_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The app with cdk.json's defaults and a registry image (no app/Dockerfile needed)."""
    return synthesize(tmp_path_factory.mktemp("cdk-default"), image=REGISTRY_IMAGE)


@pytest.fixture(scope="session")
def app_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context standing in for the repository root: app/Dockerfile with its ignore
    file, the library, and files the image must not receive."""
    directory = tmp_path_factory.mktemp("app-image")
    files = {
        "app/Dockerfile": "FROM scratch\n",
        "app/Dockerfile.dockerignore": "# only what the image copies\n*\n!adapters/\n!app/\n",
        "adapters/socketio_cloud/__init__.py": "",
        "tests/test_big.py": "",
        ".venv/lib/site.py": "",
    }
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


@pytest.fixture(scope="session")
def full_synthesis(tmp_path_factory: pytest.TempPathFactory, app_directory: Path) -> Synthesis:
    """Every option on: image asset, customer managed key, payload bucket, HTTPS."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-full"),
        builtin_validation=False,
        imageContext=str(app_directory),
        customerManagedKey="true",
        largePayloadBucket="true",
        certificateArn=CERTIFICATE_ARN,
        desiredCount="3",
        minCapacity="3",
        maxCapacity="10",
        cpuTargetPercent="50",
        cleanupPeriodSeconds="600",
        logRetentionDays="7",
    )
