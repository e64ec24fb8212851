"""Brokers the behaviour suite runs on; each has a module here with a ``backend_<name>`` fixture.

A backend object offers ``name``, ``make_manager(**cluster_options)`` (a new node of the test's
cluster), ``make_emitter()``, ``publish_malformed()`` (put a few malformed messages on the
broker, as a hostile or buggy peer would) and ``cleanup()``.
"""

from __future__ import annotations

import importlib.util

_ALL = ["memory", "aws", "redis_streams", "postgres", "amqp", "pubsub", "servicebus"]

BACKENDS = [name for name in _ALL if importlib.util.find_spec(f"tests.backends.{name}") is not None]
