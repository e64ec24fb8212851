"""Scheduled Lambda function: delete the SQS queues and subscriptions of dead nodes.

Configured by environment variables:

- ``QUEUE_PREFIX``: the cluster's queue prefix (default ``socket-io``);
- ``TOPIC_ARN``: the cluster's topic; when set, subscriptions of this topic whose queue is
  gone are removed too (optional);
- ``STALE_AFTER_SECONDS``: age of an alive mark that makes a queue stale (default 900);
- ``GRACE_PERIOD_SECONDS``: age after which a queue without an alive mark is stale
  (default 900);
- ``DRY_RUN``: ``true`` to report without deleting (default false). An invocation event
  ``{"dry_run": true}`` asks for a dry run too.

The deployed code asset holds this file next to the ``socketio_cloud`` package files the
cleanup needs, so it runs with boto3 alone.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import boto3

try:
    from socketio_cloud.cleanup import aws as aws_cleanup
except ImportError:  # run from a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "adapters"))
    from socketio_cloud.cleanup import aws as aws_cleanup

logger = logging.getLogger("socketio_cloud.functions.aws_cleanup")
# Lambda's root logger lets only warnings through; the run summary is worth keeping.
logging.getLogger("socketio_cloud").setLevel(logging.INFO)

_TRUE = {"1", "true", "yes", "on"}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Run one cleanup and return its report as a JSON-serialisable dict."""
    dry_run = _flag(os.environ.get("DRY_RUN", ""))
    if isinstance(event, dict) and "dry_run" in event:
        dry_run = dry_run or _flag(str(event["dry_run"]))
    topic_arn = os.environ.get("TOPIC_ARN", "").strip()
    if not topic_arn:
        # without the cluster's topic nothing proves a queue is this cluster's
        raise ValueError("TOPIC_ARN is not set: the cleanup sweeps one cluster's queues only")
    report = aws_cleanup.cleanup(
        boto3.client("sqs"),
        boto3.client("sns"),
        queue_prefix=os.environ.get("QUEUE_PREFIX") or aws_cleanup.DEFAULT_QUEUE_PREFIX,
        topic_arn=topic_arn,
        stale_after=_seconds("STALE_AFTER_SECONDS", aws_cleanup.DEFAULT_STALE_AFTER),
        grace_period=_seconds("GRACE_PERIOD_SECONDS", aws_cleanup.DEFAULT_GRACE_PERIOD),
        dry_run=dry_run,
    )
    result = report.to_dict()
    if report.errors:
        logger.error("cleanup finished with errors: %s", json.dumps(result))
    else:
        logger.info("cleanup report: %s", json.dumps(result))
    return result


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
