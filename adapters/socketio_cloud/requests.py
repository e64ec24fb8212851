"""Bookkeeping of cluster requests waiting for other nodes' responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import MessageType


@dataclass
class PendingRequest:
    """A FETCH_SOCKETS or SERVER_SIDE_EMIT request.

    With heartbeats, the request waits for the uids that were alive when it was sent
    (``missing``); a node that dies is struck off. Without heartbeats (transports that count
    subscribers) it waits for ``expected`` distinct responders.
    """

    kind: MessageType
    namespace: str
    future: asyncio.Future[list[Any]]
    missing: set[str] | None = None
    expected: int = 0
    responders: set[str] = field(default_factory=set)
    responses: list[Any] = field(default_factory=list)

    def add(self, uid: str, items: list[Any]) -> None:
        """Record one node's response (duplicates from at-least-once brokers are ignored)."""
        if uid in self.responders:
            return
        if self.missing is not None:
            if uid not in self.missing:
                return
            self.missing.discard(uid)
        self.responders.add(uid)
        self.responses.extend(items)
        self.complete_if_done()

    def strike(self, uid: str) -> None:
        """A node left the cluster: stop waiting for it."""
        if self.missing is not None and uid in self.missing:
            self.missing.discard(uid)
            self.complete_if_done()

    @property
    def done(self) -> bool:
        if self.missing is not None:
            return not self.missing
        return len(self.responders) >= self.expected

    def complete_if_done(self) -> None:
        if self.done and not self.future.done():
            self.future.set_result(self.responses)


@dataclass
class AckRequest:
    """A BROADCAST with acknowledgements: done when every server reported its client count
    (BROADCAST_CLIENT_COUNT) and that many client replies (BROADCAST_ACK) came back.

    ``on_reply`` (python-socketio callback style) receives each reply as it arrives instead of
    the replies being collected for a waiting caller.
    """

    future: asyncio.Future[list[Any]] | None
    expected_servers: int
    on_reply: Callable[[tuple[Any, ...]], None] | None = None
    missing: set[str] | None = None
    counted: dict[str, int] = field(default_factory=dict)
    responses: list[Any] = field(default_factory=list)

    @property
    def expected_clients(self) -> int:
        return sum(self.counted.values())

    def add_count(self, uid: str, count: int) -> None:
        if uid not in self.counted:
            self.counted[uid] = count
            if self.missing is not None:
                self.missing.discard(uid)
            self.complete_if_done()

    def add_reply(self, args: tuple[Any, ...]) -> None:
        if self.on_reply is not None:
            self.on_reply(args)
            return
        self.responses.append(args[0] if args else None)
        self.complete_if_done()

    def strike(self, uid: str) -> None:
        """A node left before reporting its count: expect one server fewer."""
        if self.missing is not None and uid in self.missing:
            self.missing.discard(uid)
            self.expected_servers -= 1
            self.complete_if_done()

    def complete_if_done(self) -> None:
        if self.future is None or self.future.done():
            return
        if (
            len(self.counted) >= self.expected_servers
            and len(self.responses) >= self.expected_clients
        ):
            self.future.set_result(self.responses)
