"""The programs themselves (pulumi/gcp, pulumi/azure) run from their stack configuration."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.pulumi import PROJECT, PULUMI_DIR, REGISTRY_IMAGE, run_program

pytestmark = pytest.mark.pulumi


def load_program(cloud: str) -> ModuleType:
    """Import ``pulumi/<cloud>/__main__.py`` without running it (``__name__`` is not main)."""
    path = PULUMI_DIR / cloud / "__main__.py"
    spec = importlib.util.spec_from_file_location(f"socketio_cloud_{cloud}_program", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gcp_program_builds_the_cluster_from_its_config(
    cleanup_sources: dict[str, Path],
) -> None:
    program = load_program("gcp")
    stack = run_program(
        program.main,
        config={
            "gcp:project": PROJECT,
            "socketio-cloud:image": REGISTRY_IMAGE,
            "socketio-cloud:maxInstances": "7",
            "socketio-cloud:cleanupSource": str(cleanup_sources["gcp"]),
        },
    )
    assert stack.result.settings.max_instances == 7
    service = stack.one("gcp:cloudrunv2/service:Service").inputs
    assert service["template"]["scaling"]["maxInstanceCount"] == 7
    assert service["project"] == PROJECT


def test_the_azure_program_builds_the_cluster_from_its_config(
    cleanup_sources: dict[str, Path],
) -> None:
    program = load_program("azure")
    stack = run_program(
        program.main,
        config={
            "azure-native:location": "northeurope",
            "socketio-cloud:image": "ghcr.io/socketio-cloud/app:1",
            "socketio-cloud:largePayloadContainer": "true",
            "socketio-cloud:cleanupSource": str(cleanup_sources["azure"]),
        },
    )
    assert stack.result.settings.location == "northeurope"
    assert stack.one("azure-native:servicebus:Namespace").inputs["location"] == "northeurope"
    assert stack.one("azure-native:storage:BlobContainer", "container")


def test_programs_default_to_the_repositorys_cleanup_folders() -> None:
    from socketio_cloud_pulumi.settings import AzureSettings, GcpSettings

    root = Path(__file__).resolve().parents[2]
    assert GcpSettings(project=PROJECT).cleanup_source == root / "functions" / "gcp_cleanup"
    assert AzureSettings().cleanup_source == root / "functions" / "azure_cleanup"
    assert GcpSettings(project=PROJECT).library_package == root / "adapters" / "socketio_cloud"
