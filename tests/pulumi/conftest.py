"""Mocked runs of the Pulumi components, shared by the tests of each cloud.

A run takes about a second, so each variant runs once per session. The cleanup function
folders are stand-ins written here: the programs only package them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from socketio_cloud_pulumi.azure import SocketIoCloudAzure
from socketio_cloud_pulumi.gcp import SocketIoCloudGcp
from socketio_cloud_pulumi.settings import AzureSettings, GcpSettings

from tests.pulumi import AZURE_IMAGE, PROJECT, REGISTRY_IMAGE, MockedStack, run_program


@pytest.fixture(scope="session")
def cleanup_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Function folders as the cleanup's authors lay them out, plus a file to leave out."""
    root = tmp_path_factory.mktemp("functions")
    files = {
        "gcp_cleanup/main.py": "def cleanup(request):\n    return 'ok'\n",
        "gcp_cleanup/requirements.txt": "functions-framework\n",
        "gcp_cleanup/__pycache__/main.cpython-311.pyc": "",
        "azure_cleanup/function_app.py": "import azure.functions\n",
        "azure_cleanup/host.json": '{"version": "2.0"}\n',
        "azure_cleanup/requirements.txt": "azure-functions\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {"gcp": root / "gcp_cleanup", "azure": root / "azure_cleanup"}


@pytest.fixture(scope="session")
def gcp_settings(cleanup_sources: dict[str, Path]) -> GcpSettings:
    """The defaults, with an image and the stand-in cleanup folder."""
    return GcpSettings(project=PROJECT, image=REGISTRY_IMAGE, cleanup_source=cleanup_sources["gcp"])


@pytest.fixture(scope="session")
def gcp_stack(gcp_settings: GcpSettings) -> MockedStack[SocketIoCloudGcp]:
    return run_program(lambda: SocketIoCloudGcp("socketio-cloud", gcp_settings))


@pytest.fixture(scope="session")
def gcp_full_stack(gcp_settings: GcpSettings) -> MockedStack[SocketIoCloudGcp]:
    """Every option on, non-default sizes."""
    settings = replace(
        gcp_settings,
        large_payload_bucket=True,
        payload_retention_days=2,
        min_instances=2,
        max_instances=10,
        concurrency=500,
        request_timeout=1800,
        public=False,
        cleanup_schedule="*/5 * * * *",
        stale_after=600,
        cleanup_dry_run=True,
        subscription_prefix="chat",
        topic_id="chat-cluster",
        labels={"app": "socketio-cloud", "team": "rt"},
    )
    return run_program(lambda: SocketIoCloudGcp("socketio-cloud", settings))


@pytest.fixture(scope="session")
def azure_settings(cleanup_sources: dict[str, Path]) -> AzureSettings:
    """The defaults, with an image and the stand-in cleanup folder."""
    return AzureSettings(image=AZURE_IMAGE, cleanup_source=cleanup_sources["azure"])


@pytest.fixture(scope="session")
def azure_stack(azure_settings: AzureSettings) -> MockedStack[SocketIoCloudAzure]:
    return run_program(lambda: SocketIoCloudAzure("socketio-cloud", azure_settings))


@pytest.fixture(scope="session")
def azure_full_stack(azure_settings: AzureSettings) -> MockedStack[SocketIoCloudAzure]:
    """Every option on, non-default sizes."""
    settings = replace(
        azure_settings,
        large_payload_container=True,
        payload_retention_days=2,
        min_replicas=2,
        max_replicas=8,
        concurrent_requests=100,
        message_ttl=120,
        cleanup_schedule="0 */5 * * * *",
        stale_after=600,
        cleanup_dry_run=True,
        subscription_prefix="chat",
        topic_name="chat",
        tags={"app": "socketio-cloud", "team": "rt"},
    )
    return run_program(lambda: SocketIoCloudAzure("socketio-cloud", settings))
