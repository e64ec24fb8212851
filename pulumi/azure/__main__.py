"""The Azure program: one socketio-cloud cluster, configured by the stack's config.

Every setting is a config key (``pulumi config set minReplicas 2``), read in one place:
``socketio_cloud_pulumi.settings.azure_settings``. Its README lists them.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The component package sits next to this program's folder; the library in adapters/ (when
# the project is not installed in the virtualenv).
_PULUMI_DIR = Path(__file__).resolve().parents[1]
for _path in (_PULUMI_DIR, _PULUMI_DIR.parent / "adapters"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

import pulumi  # noqa: E402
from socketio_cloud_pulumi.azure import SocketIoCloudAzure  # noqa: E402
from socketio_cloud_pulumi.settings import azure_settings  # noqa: E402


def main() -> SocketIoCloudAzure:
    settings = azure_settings(pulumi.Config().get, pulumi.Config("azure-native").get)
    cluster = SocketIoCloudAzure("socketio-cloud", settings)
    pulumi.export("resourceGroup", cluster.resource_group.name)
    pulumi.export("serviceBusNamespace", cluster.cluster.fully_qualified_namespace)
    pulumi.export("topic", cluster.cluster.topic.name)
    pulumi.export("cleanupFunctionApp", cluster.cleanup.function_app.name)
    if cluster.payloads is not None:
        pulumi.export("payloadAccountUrl", cluster.payloads.account_url)
        pulumi.export("payloadContainer", cluster.payloads.container.name)
    if cluster.service is not None:
        pulumi.export("url", cluster.service.url)
    return cluster


if __name__ == "__main__":
    main()
