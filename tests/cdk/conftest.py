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
    """A directory with a Dockerfile, standing in for app/ as an image asset source."""
    directory = tmp_path_factory.mktemp("app-image")
    (directory / "Dockerfile").write_text("FROM scratch\n")
    return directory


@pytest.fixture(scope="session")
def full_synthesis(tmp_path_factory: pytest.TempPathFactory, app_directory: Path) -> Synthesis:
    """Every option on: image asset, customer managed key, payload bucket, HTTPS."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-full"),
        builtin_validation=False,
        appDirectory=str(app_directory),
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
