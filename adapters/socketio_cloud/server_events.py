"""Server-side events: handlers for events that other servers send (Node's
``io.on(event)`` for ``serverSideEmit``), and their replies for ``serverSideEmitWithAck``."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["NO_REPLY", "ServerEvents"]

NO_REPLY: Any = object()
"""What :meth:`ServerEvents.run` returns when no handler produced a reply."""


class ServerEvents:
    """The node's server-event handlers, by ``(namespace, event)``."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._handlers: dict[tuple[str, str], list[Callable[..., Any]]] = {}

    def add(self, namespace: str, event: str, handler: Callable[..., Any]) -> None:
        self._handlers.setdefault((namespace, event), []).append(handler)

    def namespaces(self) -> set[str]:
        """Namespaces with at least one handler (the node serves them)."""
        return {namespace for namespace, _ in self._handlers}

    async def run(self, namespace: str, event: str, args: list[Any]) -> Any:
        """Run every handler of the event; return the first successful handler's result
        (awaited if a coroutine) as this server's reply, or :data:`NO_REPLY`. A failing
        handler is logged and skipped."""
        reply: Any = NO_REPLY
        for handler in list(self._handlers.get((namespace, event), ())):
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                self.logger.exception("server event handler for %r failed", event)
                continue
            if reply is NO_REPLY:
                reply = result
        return reply
