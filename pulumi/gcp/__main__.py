"""The Google Cloud program: one socketio-cloud cluster, configured by the stack's config.

Every setting is a config key (``pulumi config set minInstances 2``), read in one place:
``socketio_cloud_pulumi.settings.gcp_settings``. Its README lists them.
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
from socketio_cloud_pulumi.gcp import SocketIoCloudGcp  # noqa: E402
from socketio_cloud_pulumi.settings import gcp_settings  # noqa: E402


def main() -> SocketIoCloudGcp:
    settings = gcp_settings(pulumi.Config().get, pulumi.Config("gcp").get)
    cluster = SocketIoCloudGcp("socketio-cloud", settings)
    pulumi.export("topic", cluster.cluster.topic.name)
    pulumi.export("imageRepository", cluster.repository.image_prefix)
    pulumi.export("cleanupFunction", cluster.cleanup.function.name)
    if cluster.payloads is not None:
        pulumi.export("payloadBucket", cluster.payloads.bucket.name)
    if cluster.service is not None:
        pulumi.export("url", cluster.service.url)
        pulumi.export("nodeServiceAccount", cluster.service.service_account.email)
    return cluster


if __name__ == "__main__":
    main()
