"""Every touch of python-socketio internals outside the fan-out seam."""

from __future__ import annotations

from typing import Any


def served_namespaces(server: Any) -> set[str]:
    """Namespaces the server has handlers for or lists (``*`` excluded)."""
    served: set[str] = set()
    served.update(ns for ns in getattr(server, "handlers", {}) if ns != "*")
    served.update(ns for ns in getattr(server, "namespace_handlers", {}) if ns != "*")
    listed = getattr(server, "namespaces", None)
    if isinstance(listed, (list, tuple, set)):
        served.update(ns for ns in listed if ns != "*")
    return served
