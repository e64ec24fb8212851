"""Azure Functions app (Python v2 programming model): a timer that deletes the Service Bus
subscriptions of dead nodes.

Configured by application settings:

- ``SERVICEBUS_CONNECTION_STRING``: a connection string with the Manage claim, or
- ``SERVICEBUS_NAMESPACE``: the fully qualified namespace (``<name>.servicebus.windows.net``),
  reached with the function app's managed identity (``DefaultAzureCredential``);
- ``SERVICEBUS_TOPIC``: the cluster's topic (default ``socket.io``);
- ``SUBSCRIPTION_PREFIX``: node subscription prefix (default ``socket.io``);
- ``STALE_AFTER_SECONDS``: idle time that makes a subscription stale (default 900);
- ``DRY_RUN``: ``true`` to report without deleting (default false);
- ``CLEANUP_SCHEDULE``: NCRONTAB schedule of the timer (default every 5 minutes).

The deployment package holds this folder next to the ``socketio_cloud`` files the cleanup
needs (see README.md).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func

try:
    from socketio_cloud.cleanup import azure as azure_cleanup
except ImportError:  # run from a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "adapters"))
    from socketio_cloud.cleanup import azure as azure_cleanup

logger = logging.getLogger("socketio_cloud.functions.azure_cleanup")
logging.getLogger("socketio_cloud").setLevel(logging.INFO)

_TRUE = {"1", "true", "yes", "on"}

app = func.FunctionApp()


@app.timer_trigger(
    schedule="%CLEANUP_SCHEDULE%" if os.environ.get("CLEANUP_SCHEDULE") else "0 */5 * * * *",
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
async def cleanup_subscriptions(timer: func.TimerRequest) -> None:
    """The timer trigger: one cleanup run."""
    if timer.past_due:
        logger.info("the cleanup timer is past due")
    await run_cleanup(os.environ)


async def run_cleanup(
    settings: Mapping[str, str],
    *,
    admin_options: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run one cleanup with ``settings`` (the app settings); return the report as a dict.

    ``admin_options`` go to the administration client (tests pass ``connection_verify``);
    ``now`` shifts the clock (tests).
    """
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    options = dict(admin_options or {})
    topic = settings.get("SERVICEBUS_TOPIC") or "socket.io"
    prefix = settings.get("SUBSCRIPTION_PREFIX") or azure_cleanup.DEFAULT_SUBSCRIPTION_PREFIX
    stale_after = _seconds(settings, "STALE_AFTER_SECONDS", azure_cleanup.DEFAULT_STALE_AFTER)
    if stale_after < azure_cleanup.MIN_STALE_AFTER:
        raise ValueError(f"STALE_AFTER_SECONDS must be at least {azure_cleanup.MIN_STALE_AFTER:g}")
    dry_run = settings.get("DRY_RUN", "").strip().lower() in _TRUE
    connection_string = settings.get("SERVICEBUS_CONNECTION_STRING")
    namespace = settings.get("SERVICEBUS_NAMESPACE")

    async def sweep(admin: ServiceBusAdministrationClient) -> azure_cleanup.CleanupReport:
        return await azure_cleanup.cleanup(
            admin,
            topic_name=topic,
            subscription_prefix=prefix,
            stale_after=stale_after,
            dry_run=dry_run,
            now=now,
        )

    if connection_string:
        client = ServiceBusAdministrationClient.from_connection_string(connection_string, **options)
        async with client as admin:
            report = await sweep(admin)
    elif namespace:
        from azure.identity.aio import DefaultAzureCredential

        async with DefaultAzureCredential() as credential:
            async with ServiceBusAdministrationClient(namespace, credential, **options) as admin:
                report = await sweep(admin)
    else:
        raise ValueError("set SERVICEBUS_CONNECTION_STRING or SERVICEBUS_NAMESPACE")
    result = report.to_dict()
    if report.errors:
        logger.error("cleanup finished with errors: %s", json.dumps(result))
    else:
        logger.info("cleanup report: %s", json.dumps(result))
    return result


def _seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    text = settings.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
