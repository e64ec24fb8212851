"""Scheduled cleanup of a Pub/Sub cluster: delete the subscriptions of dead nodes.

Deploy as a Cloud Function (2nd gen, HTTP trigger, entry point ``cleanup``) called by
Cloud Scheduler, or run as a Cloud Run job (``python main.py``: one run, exit status 0 on
success). Configured by environment variables:

- ``SIO_GCP_PROJECT`` (or ``GOOGLE_CLOUD_PROJECT``): the project of the topic;
- ``SIO_PUBSUB_TOPIC``: the cluster's topic id or path (required);
- ``SIO_SUBSCRIPTION_PREFIX``: the nodes' subscription prefix (default ``socket.io``);
- ``SIO_CLEANUP_STALE_AFTER``: seconds: age of an alive mark that makes a subscription stale (900);
- ``SIO_CLEANUP_DRY_RUN``: ``true`` to report without deleting; a request body ``{"dry_run": true}``
  asks for a dry run too.

The logic is :func:`socketio_cloud.cleanup.gcp.cleanup`; this file reads the settings and
builds the clients.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import functions_framework

try:
    from socketio_cloud.brokers import pubsub as facts
    from socketio_cloud.cleanup import gcp as gcp_cleanup
except ImportError:  # run from a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "adapters"))
    from socketio_cloud.brokers import pubsub as facts
    from socketio_cloud.cleanup import gcp as gcp_cleanup

logger = logging.getLogger("socketio_cloud.functions.gcp_cleanup")
logging.getLogger("socketio_cloud").setLevel(logging.INFO)

_TRUE = {"1", "true", "yes", "on"}


def run(dry_run: bool = False) -> dict[str, Any]:
    """One cleanup with the environment's settings; its report as a JSON-able dict."""
    from google.cloud import pubsub_v1

    project = os.environ.get("SIO_GCP_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    topic = os.environ.get("SIO_PUBSUB_TOPIC")
    if not project or not topic:
        raise ValueError("set SIO_GCP_PROJECT (or GOOGLE_CLOUD_PROJECT) and SIO_PUBSUB_TOPIC")
    report = gcp_cleanup.cleanup(
        pubsub_v1.PublisherClient(),
        pubsub_v1.SubscriberClient(),
        project=project,
        topic=topic,
        subscription_prefix=os.environ.get("SIO_SUBSCRIPTION_PREFIX")
        or facts.DEFAULT_SUBSCRIPTION_PREFIX,
        stale_after=_seconds("SIO_CLEANUP_STALE_AFTER", facts.DEFAULT_STALE_AFTER),
        dry_run=dry_run or _flag(os.environ.get("SIO_CLEANUP_DRY_RUN", "")),
    )
    result = report.to_dict()
    result["ok"] = report.ok
    if report.errors:
        logger.error("cleanup finished with errors: %s", json.dumps(result))
    else:
        logger.info("cleanup report: %s", json.dumps(result))
    return result


@functions_framework.http
def cleanup(request: Any) -> tuple[str, int, dict[str, str]]:
    """HTTP entry point (Cloud Scheduler calls it): runs one cleanup, answers its report."""
    body = request.get_json(silent=True) if request is not None else None
    dry_run = isinstance(body, dict) and _flag(str(body.get("dry_run", "")))
    try:
        result = run(dry_run)
    except ValueError as exc:
        return json.dumps({"ok": False, "error": str(exc)}), 400, _JSON
    return json.dumps(result), 200 if result["ok"] else 500, _JSON


_JSON = {"Content-Type": "application/json"}


def _flag(text: str) -> bool:
    return text.strip().lower() in _TRUE


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None


if __name__ == "__main__":  # a Cloud Run job: one run
    logging.basicConfig(level=logging.INFO)
    sys.exit(0 if run()["ok"] else 1)
