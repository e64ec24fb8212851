"""Test-wide configuration: plugins that start real services, shared helpers."""

from __future__ import annotations

import importlib.util
import logging

pytest_plugins = [
    "tests.support.moto",
    "tests.backends.memory",
    "tests.servicebus_double.fixtures",
]

pytest_plugins += [
    f"tests.backends.{name}"
    for name in ("aws", "redis_streams", "postgres", "amqp", "pubsub", "servicebus")
    if importlib.util.find_spec(f"tests.backends.{name}") is not None
]
pytest_plugins += [
    plugin
    for plugin in ("tests.servicebus_double.fixtures",)
    if importlib.util.find_spec(plugin.rpartition(".")[0]) is not None
]

logging.getLogger("socketio_cloud").setLevel(logging.INFO)
