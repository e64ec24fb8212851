"""Bookkeeping of cluster requests waiting for other nodes' responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import ClusterMessage, MessageType, new_request_id

__all__ = ["AckRequest", "PendingRequest", "RequestTable"]


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
    #: Turns one node's items into what the request returns, as each response arrives (so
    #: the work overlaps the wait for the other nodes).
    convert: Callable[[list[Any]], list[Any]] | None = None

    @classmethod
    def expecting(
        cls,
        kind: MessageType,
        namespace: str,
        future: asyncio.Future[list[Any]],
        expected: frozenset[str] | int,
        convert: Callable[[list[Any]], list[Any]] | None = None,
    ) -> PendingRequest:
        """A request waiting for the uids (heartbeat membership) or the number of answers
        (broker membership) that :meth:`Membership.expected
        <socketio_cloud.membership.Membership.expected>` gave."""
        if isinstance(expected, int):
            return cls(kind, namespace, future, expected=expected, convert=convert)
        return cls(kind, namespace, future, missing=set(expected), convert=convert)

    def add(self, uid: str, items: list[Any]) -> None:
        """Record one node's response (duplicates from at-least-once brokers are ignored)."""
        if uid in self.responders:
            return
        if self.missing is not None:
            if uid not in self.missing:
                return
            self.missing.discard(uid)
        self.responders.add(uid)
        self.responses.extend(items if self.convert is None else self.convert(items))
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

    @classmethod
    def expecting(
        cls, future: asyncio.Future[list[Any]], expected: frozenset[str] | int
    ) -> AckRequest:
        """An acknowledged broadcast expecting a count from this node and from the others
        (uids with heartbeat membership, a number with broker membership)."""
        if isinstance(expected, int):
            return cls(future, 1 + expected)
        return cls(future, 1 + len(expected), missing=set(expected))

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

    def add_replies(self, packets: list[list[Any]]) -> None:
        """Several replies at once (a batch from one of our nodes), each ``[]`` or
        ``[value]``."""
        if self.on_reply is not None:
            for packet in packets:
                self.on_reply(tuple(packet))
            return
        self.responses.extend([packet[0] if packet else None for packet in packets])
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


class RequestTable:
    """The node's requests waiting for other nodes: FETCH_SOCKETS and SERVER_SIDE_EMIT
    (:class:`PendingRequest`) and broadcasts with acknowledgements (:class:`AckRequest`),
    by request id. Responses find their request here; a node that leaves is struck off."""

    def __init__(self) -> None:
        self._requests: dict[str, PendingRequest] = {}
        self._acks: dict[str, AckRequest] = {}

    def __len__(self) -> int:
        return len(self._requests) + len(self._acks)

    def open(self, request: PendingRequest) -> str:
        """Register a request; return its new id."""
        request_id = new_request_id()
        self._requests[request_id] = request
        return request_id

    def open_ack(self, request: AckRequest) -> str:
        """Register an acknowledged broadcast; return its new id."""
        request_id = new_request_id()
        self._acks[request_id] = request
        return request_id

    def ack(self, request_id: str) -> AckRequest | None:
        return self._acks.get(request_id)

    def close(self, request_id: str) -> None:
        """Forget a request (answered, timed out or abandoned)."""
        self._requests.pop(request_id, None)
        self._acks.pop(request_id, None)

    def on_response(self, message: ClusterMessage) -> None:
        """Route a response (types 8, 10, 11, 12) to the request it answers, if any."""
        request_id = message.request_id
        data = message.data
        if request_id is None or data is None:
            return
        kind = message.type
        if kind is MessageType.BROADCAST_CLIENT_COUNT:
            ack = self._acks.get(request_id)
            if ack is not None:
                ack.add_count(message.uid, data["clientCount"])
        elif kind is MessageType.BROADCAST_ACK:
            ack = self._acks.get(request_id)
            if ack is None:
                return
            packets = data.get("packets")
            if packets is not None:
                ack.add_replies(packets)
            else:
                ack.add_reply((data["packet"],) if "packet" in data else ())
        else:
            request = self._requests.get(request_id)
            if request is None or request.namespace != message.nsp:
                return
            if (
                kind is MessageType.FETCH_SOCKETS_RESPONSE
                and request.kind is MessageType.FETCH_SOCKETS
            ):
                request.add(message.uid, list(data["sockets"]))
            elif (
                kind is MessageType.SERVER_SIDE_EMIT_RESPONSE
                and request.kind is MessageType.SERVER_SIDE_EMIT
            ):
                request.add(message.uid, [data.get("packet")])

    def node_left(self, namespace: str, uid: str) -> None:
        """Stop waiting for ``uid``: requests with nothing else to wait for complete."""
        for request in list(self._requests.values()):
            if request.namespace == namespace:
                request.strike(uid)
        for ack in list(self._acks.values()):
            ack.strike(uid)

    def fail_all(self, error: BaseException) -> None:
        """Fail every waiting caller (the node closes) and forget every request."""
        for request in self._requests.values():
            if not request.future.done():
                request.future.set_exception(error)
        for ack in self._acks.values():
            if ack.future is not None and not ack.future.done():
                ack.future.set_exception(error)
        self._requests.clear()
        self._acks.clear()
