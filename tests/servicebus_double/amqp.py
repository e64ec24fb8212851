"""The double's AMQP 1.0 endpoint: one :class:`AmqpConnection` per accepted TCP connection.

Frames, SASL, sessions and links as a Service Bus namespace answers them, for the links the
SDKs open: ``$cbs`` (token puts), senders to a topic, receivers on a subscription, and an
entity's ``$management`` node (lock renewal and settlement by lock token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .codec import (
    DecodeError,
    Described,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    UShort,
    decode,
    described_list,
    encode,
)
from .codec import (
    field as fld,
)
from .namespace import Namespace, StoredMessage, Subscription, Topic
from .sas import Grant, InvalidToken, verify_token

log = logging.getLogger("tests.servicebus_double.amqp")

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
MAX_FRAME_SIZE = 65536
MAX_MESSAGE_SIZE = 262144  # Standard tier
SENDER_CREDIT = 1000
BIG_WINDOW = 2**31 - 1
BATCH_MESSAGE_FORMAT = 0x80013700  # Microsoft's batched message format

# performatives
OPEN, BEGIN, ATTACH, FLOW, TRANSFER, DISPOSITION, DETACH, END, CLOSE = range(0x10, 0x19)
SASL_MECHANISMS, SASL_INIT, SASL_OUTCOME = 0x40, 0x41, 0x44
ERROR, SOURCE, TARGET = 0x1D, 0x28, 0x29
RECEIVED, ACCEPTED, REJECTED, RELEASED, MODIFIED = 0x23, 0x24, 0x25, 0x26, 0x27
# message sections
HEADER, DELIVERY_ANNOTATIONS, MESSAGE_ANNOTATIONS, PROPERTIES, APP_PROPERTIES = range(0x70, 0x75)
DATA, AMQP_SEQUENCE, AMQP_VALUE = 0x75, 0x76, 0x77

PROPERTY_FIELDS = (
    "message_id",
    "user_id",
    "to",
    "subject",
    "reply_to",
    "correlation_id",
    "content_type",
    "content_encoding",
    "absolute_expiry_time",
    "creation_time",
    "group_id",
    "group_sequence",
    "reply_to_group_id",
)


class ConnectionClosed(Exception):
    """The peer went away or broke the protocol."""


def error(condition: str, description: str) -> Described:
    # All three fields, info included: pyamqp indexes error[2] on a rejected transfer.
    return Described(ULong(ERROR), [Symbol(condition), description, None])


def parse_message(payload: bytes) -> list[tuple[int, bytes, Any]]:
    """Split an encoded message into (section code, raw bytes, decoded section value)."""
    sections = []
    offset = 0
    while offset < len(payload):
        value, end = decode(payload, offset)
        if not isinstance(value, Described):
            raise DecodeError("message section is not a described value")
        sections.append((int(value.descriptor), payload[offset:end], value.value))
        offset = end
    return sections


def with_message_id(sections: list[tuple[int, bytes, Any]]) -> list[tuple[int, bytes, Any]]:
    """Give a message without a message-id one, as Service Bus does (a GUID without dashes)."""
    for index, (code, _, value) in enumerate(sections):
        if code == PROPERTIES:
            if fld(value, 0) is not None:
                return sections
            fields = list(value) or [None]
            fields[0] = uuid.uuid4().hex
            raw = encode(described_list(PROPERTIES, list(fields)))
            return [*sections[:index], (PROPERTIES, raw, fields), *sections[index + 1 :]]
    fields = [uuid.uuid4().hex]
    position = next(
        (i for i, (code, _, _) in enumerate(sections) if code > PROPERTIES), len(sections)
    )
    raw = encode(described_list(PROPERTIES, list(fields)))
    return [*sections[:position], (PROPERTIES, raw, fields), *sections[position:]]


def entity_path(address: str) -> str:
    """``amqps://host/a/b`` or ``sb://host/a/b`` or ``a/b`` -> ``a/b``."""
    if "://" in address:
        address = address.split("://", 1)[1]
        address = address.split("/", 1)[1] if "/" in address else ""
    return address.strip("/")


@dataclass
class Delivery:
    link: Link
    subscription: Subscription
    lock_token: uuid.UUID


@dataclass(eq=False)
class Link:
    session: Session
    name: str
    handle: int  # the client's handle for this link; ours is the same number
    client_is_sender: bool
    address: str
    kind: str  # "cbs", "management", "topic", "subscription"
    topic: Topic | None = None
    subscription: Subscription | None = None
    settled_mode: bool = False  # snd-settle-mode settled: receive-and-delete
    credit: int = 0
    delivery_count: int = 0
    outbox: list[bytes] = field(default_factory=list)  # encoded replies on cbs/management
    incoming: bytearray = field(default_factory=bytearray)
    incoming_size: int = 0
    incoming_delivery: tuple[int | None, bytes | None, bool] = (None, None, False)
    incoming_batch: bool = False
    closed: bool = False

    # Consumer protocol (namespace.Subscription feeds receiver links)
    def pump(self) -> None:
        self.session.connection.pump(self)

    def entity_deleted(self) -> None:
        self.session.connection.detach_with_error(
            self, "amqp:not-found", f"The messaging entity '{self.address}' could not be found."
        )


@dataclass(eq=False)
class Session:
    connection: AmqpConnection
    channel: int
    next_incoming_id: int
    next_outgoing_id: int = 1
    next_delivery_id: int = 0
    links: dict[int, Link] = field(default_factory=dict)
    unsettled: dict[int, Delivery] = field(default_factory=dict)


class AmqpConnection:
    """Serves one client connection until it closes or the double stops."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        namespace: Namespace,
        keys: dict[str, str],
        on_closed: Callable[[AmqpConnection], None],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.namespace = namespace
        self.keys = keys
        self.on_closed = on_closed
        self.sessions: dict[int, Session] = {}
        self.grants: list[Grant] = []
        self.peer_max_frame = MAX_FRAME_SIZE
        self.heartbeat: asyncio.Task[None] | None = None
        self.closing = False

    # --- I/O ---------------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            await self._handshake()
            while not self.closing:
                _, channel, body = await self._read_frame()
                if body:
                    self._dispatch(channel, body)
        except (ConnectionClosed, asyncio.IncompleteReadError, ConnectionError, DecodeError) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            self.close_transport()

    def close_transport(self) -> None:
        self.closing = True
        if self.heartbeat:
            self.heartbeat.cancel()
        for session in list(self.sessions.values()):
            self._drop_session(session)
        self.sessions.clear()
        with contextlib.suppress(Exception):
            self.writer.close()
        self.on_closed(self)

    async def _handshake(self) -> None:
        header = await self.reader.readexactly(8)
        if header == SASL_HEADER:
            self.writer.write(SASL_HEADER)
            mechanisms = [Symbol("MSSBCBS"), Symbol("PLAIN"), Symbol("ANONYMOUS")]
            self._write_frame(0, described_list(SASL_MECHANISMS, [mechanisms]), frame_type=1)
            _, _, body = await self._read_frame()
            performative, _ = decode(body)
            if not isinstance(performative, Described) or performative.descriptor != SASL_INIT:
                raise ConnectionClosed("expected sasl-init")
            # Service Bus authorises per entity through $cbs; SASL itself always succeeds.
            self._write_frame(0, described_list(SASL_OUTCOME, [UByte(0)]), frame_type=1)
            header = await self.reader.readexactly(8)
        if header != AMQP_HEADER:
            self.writer.write(AMQP_HEADER)
            raise ConnectionClosed(f"unsupported protocol header {header!r}")
        self.writer.write(AMQP_HEADER)

    async def _read_frame(self) -> tuple[int, int, bytes]:
        head = await self.reader.readexactly(8)
        size, doff, frame_type, channel = struct.unpack(">IBBH", head)
        if size < 8 or size > MAX_FRAME_SIZE:
            raise ConnectionClosed(f"bad frame size {size}")
        rest = await self.reader.readexactly(size - 8)
        return frame_type, channel, rest[doff * 4 - 8 :]

    def _write_frame(
        self, channel: int, performative: Described, payload: bytes = b"", frame_type: int = 0
    ) -> None:
        body = encode(performative) + payload
        self.writer.write(struct.pack(">IBBH", len(body) + 8, 2, frame_type, channel) + body)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.writer.write(struct.pack(">IBBH", 8, 2, 0, 0))

    # --- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, channel: int, body: bytes) -> None:
        performative, offset = decode(body)
        if not isinstance(performative, Described):
            raise ConnectionClosed("frame body is not a performative")
        code, fields = int(performative.descriptor), performative.value
        if code == OPEN:
            self._on_open(fields)
        elif code == BEGIN:
            self._on_begin(channel, fields)
        elif code == CLOSE:
            self._write_frame(0, described_list(CLOSE, []))
            self.closing = True
        else:
            session = self.sessions.get(channel)
            if session is None:
                raise ConnectionClosed(f"frame on unknown channel {channel}")
            if code == ATTACH:
                self._on_attach(session, fields)
            elif code == FLOW:
                self._on_flow(session, fields)
            elif code == TRANSFER:
                self._on_transfer(session, fields, body[offset:])
            elif code == DISPOSITION:
                self._on_disposition(session, fields)
            elif code == DETACH:
                self._on_detach(session, fields)
            elif code == END:
                self._drop_session(session)
                del self.sessions[channel]
                self._write_frame(channel, described_list(END, []))

    def _on_open(self, fields: list[Any]) -> None:
        self.peer_max_frame = min(int(fld(fields, 2, MAX_FRAME_SIZE)), MAX_FRAME_SIZE)
        idle = fld(fields, 4)
        container = f"sbdouble-{uuid.uuid4().hex[:8]}"
        self._write_frame(
            0,
            described_list(
                OPEN,
                [container, fld(fields, 1), UInt(MAX_FRAME_SIZE), UShort(4999), UInt(240000)],
            ),
        )
        if idle:
            self.heartbeat = asyncio.get_running_loop().create_task(
                self._heartbeat(max(int(idle) / 2000, 0.05))
            )

    def _on_begin(self, channel: int, fields: list[Any]) -> None:
        session = Session(self, channel, next_incoming_id=int(fld(fields, 1, 0)))
        self.sessions[channel] = session
        self._write_frame(
            channel,
            described_list(
                BEGIN,
                [UShort(channel), UInt(1), UInt(BIG_WINDOW), UInt(BIG_WINDOW), UInt(255)],
            ),
        )

    def _drop_session(self, session: Session) -> None:
        for link in list(session.links.values()):
            self._forget_link(link)
        session.links.clear()
        # Locks outlive the link, as on Service Bus: they expire after the lock duration.
        session.unsettled.clear()

    # --- links -------------------------------------------------------------------------------

    def _authorized(self, path: str) -> bool:
        now = time.time()
        return any(grant.covers(path) and grant.expires_at > now for grant in self.grants)

    def _on_attach(self, session: Session, fields: list[Any]) -> None:
        name, handle, role = fld(fields, 0), int(fld(fields, 1)), bool(fld(fields, 2))
        client_is_sender = not role
        source, target = fld(fields, 5), fld(fields, 6)
        terminus = target if client_is_sender else source
        address = ""
        if isinstance(terminus, Described) and terminus.value:
            address = str(fld(terminus.value, 0, ""))
        path = entity_path(address)
        link = Link(session, name, handle, client_is_sender, path, kind="")
        refusal: tuple[str, str] | None = None
        parts = path.split("/")
        if path == "$cbs":
            link.kind = "cbs"
        elif parts[-1].lower() == "$management":
            link.kind = "management"
            entity = "/".join(parts[:-1])
            link.subscription = self._find_subscription(entity)
            if link.subscription is None:
                refusal = ("amqp:not-found", f"The messaging entity '{entity}' could not be found.")
        elif not self._authorized(path):
            refusal = ("amqp:unauthorized-access", f"Unauthorized access to '{path}'.")
        elif len(parts) == 1:
            link.kind = "topic"
            link.topic = self.namespace.topic(path)
            if link.topic is None:
                refusal = ("amqp:not-found", f"The messaging entity '{path}' could not be found.")
            elif not client_is_sender:
                refusal = ("amqp:not-allowed", f"Cannot receive from topic '{path}'.")
        elif len(parts) == 3 and parts[1].lower() == "subscriptions":
            link.kind = "subscription"
            link.subscription = self._find_subscription(path)
            if link.subscription is None:
                refusal = ("amqp:not-found", f"The messaging entity '{path}' could not be found.")
            elif client_is_sender:
                refusal = ("amqp:not-allowed", f"Cannot send to subscription '{path}'.")
        else:
            refusal = ("amqp:not-found", f"The messaging entity '{path}' could not be found.")

        snd_settle_mode = int(fld(fields, 3, 2))
        link.settled_mode = snd_settle_mode == 1
        reply = [
            name,
            UInt(handle),
            not role,
            UByte(snd_settle_mode),
            UByte(int(fld(fields, 4, 0))),
            source if refusal is None or client_is_sender else None,
            target if refusal is None or not client_is_sender else None,
            None,
            None,
            None if client_is_sender else UInt(0),
            ULong(MAX_MESSAGE_SIZE),
        ]
        self._write_frame(session.channel, described_list(ATTACH, reply))
        if refusal is not None:
            self._write_frame(
                session.channel,
                described_list(DETACH, [UInt(handle), True, error(*refusal)]),
            )
            return
        session.links[handle] = link
        if client_is_sender:
            link.credit = SENDER_CREDIT
            self._send_flow(link)
        elif link.kind == "subscription" and link.subscription is not None:
            link.subscription.consumers.add(link)
            link.subscription.touch()

    def _find_subscription(self, path: str) -> Subscription | None:
        parts = path.split("/")
        if len(parts) != 3 or parts[1].lower() != "subscriptions":
            return None
        return self.namespace.subscription(parts[0], parts[2])

    def _forget_link(self, link: Link) -> None:
        link.closed = True
        if link.subscription is not None:
            link.subscription.consumers.discard(link)
            link.subscription.touch()

    def _on_detach(self, session: Session, fields: list[Any]) -> None:
        handle = int(fld(fields, 0))
        link = session.links.pop(handle, None)
        if link is not None:
            self._forget_link(link)
        self._write_frame(session.channel, described_list(DETACH, [UInt(handle), True]))

    def detach_with_error(self, link: Link, condition: str, description: str) -> None:
        if link.closed:
            return
        link.session.links.pop(link.handle, None)
        self._forget_link(link)
        self._write_frame(
            link.session.channel,
            described_list(DETACH, [UInt(link.handle), True, error(condition, description)]),
        )

    # --- flow control ------------------------------------------------------------------------

    def _send_flow(self, link: Link, echo: bool = False) -> None:
        session = link.session
        self._write_frame(
            session.channel,
            described_list(
                FLOW,
                [
                    UInt(session.next_incoming_id),
                    UInt(BIG_WINDOW),
                    UInt(session.next_outgoing_id),
                    UInt(BIG_WINDOW),
                    UInt(link.handle),
                    UInt(link.delivery_count),
                    UInt(link.credit),
                    None,
                    None,
                    echo or None,
                ],
            ),
        )

    def _on_flow(self, session: Session, fields: list[Any]) -> None:
        handle = fld(fields, 4)
        if handle is None:
            return  # session-level flow: our windows are effectively unbounded
        link = session.links.get(int(handle))
        if link is None:
            return
        if link.client_is_sender:
            if fld(fields, 9):
                self._send_flow(link)
            return
        # The receiver's view: credit counts from its delivery-count (spec 2.6.7).
        their_count = int(fld(fields, 5, link.delivery_count))
        link.credit = max(their_count + int(fld(fields, 6, 0)) - link.delivery_count, 0)
        if link.subscription is not None:
            link.subscription.touch()
        self.pump(link)
        if fld(fields, 8):  # drain: use up the credit and say so
            link.delivery_count += link.credit
            link.credit = 0
            self._send_flow(link)
        elif fld(fields, 9):
            self._send_flow(link)

    # --- outgoing transfers ------------------------------------------------------------------

    def pump(self, link: Link) -> None:
        """Send what the link has credit for: queued replies, or subscription messages."""
        if link.closed or self.closing:
            return
        while link.credit > 0 and link.outbox:
            self._transfer(link, link.outbox.pop(0), uuid.uuid4().bytes, settled=True)
        subscription = link.subscription
        if link.kind != "subscription" or subscription is None:
            return
        now = self.namespace.clock()
        while link.credit > 0:
            message = subscription.next_message(now)
            if message is None:
                return
            subscription.deliveries += 1
            subscription.touch()
            if link.settled_mode:
                self._transfer(link, self._delivery_payload(message, None), b"\x00", settled=True)
                subscription.completed += 1
                continue
            token = subscription.lock(message, now)
            delivery_id = link.session.next_delivery_id
            link.session.unsettled[delivery_id] = Delivery(link, subscription, token)
            self._transfer(link, self._delivery_payload(message, token), token.bytes_le, False)

    def _delivery_payload(self, message: StoredMessage, token: uuid.UUID | None) -> bytes:
        header: list[Any] = [True, None, None, None, UInt(message.delivery_count)]
        annotations: dict[Any, Any] = {}
        parts: list[bytes] = []
        for code, raw, value in message.sections:
            if code == HEADER:
                header = list(value) + [None] * (5 - len(value))
                header[4] = UInt(message.delivery_count)
            elif code == MESSAGE_ANNOTATIONS:
                annotations.update(value or {})
            elif code != DELIVERY_ANNOTATIONS:
                parts.append(raw)
        annotations[Symbol("x-opt-sequence-number")] = message.sequence_number
        annotations[Symbol("x-opt-enqueued-time")] = Timestamp(int(message.enqueued_at * 1000))
        if token is not None:
            annotations[Symbol("x-opt-locked-until")] = Timestamp(int(message.locked_until * 1000))
        head = encode(described_list(HEADER, header[:5]))
        return head + encode(Described(ULong(MESSAGE_ANNOTATIONS), annotations)) + b"".join(parts)

    def _transfer(self, link: Link, payload: bytes, tag: bytes, settled: bool) -> None:
        session = link.session
        delivery_id = session.next_delivery_id
        session.next_delivery_id += 1
        link.delivery_count += 1
        link.credit -= 1
        room = self.peer_max_frame - 8 - 64  # frame header plus a generous transfer header
        first = True
        offset = 0
        while first or offset < len(payload):
            chunk = payload[offset : offset + room]
            offset += len(chunk)
            more = offset < len(payload)
            fields: list[Any] = [UInt(link.handle)]
            if first:
                fields += [UInt(delivery_id), tag, UInt(0), settled, more]
            else:
                fields += [None, None, None, None, more]
            self._write_frame(session.channel, described_list(TRANSFER, fields), chunk)
            session.next_outgoing_id += 1
            first = False

    # --- incoming transfers ------------------------------------------------------------------

    def _on_transfer(self, session: Session, fields: list[Any], payload: bytes) -> None:
        session.next_incoming_id += 1
        link = session.links.get(int(fld(fields, 0)))
        if link is None or not link.client_is_sender:
            return
        delivery_id = fld(fields, 1)
        if delivery_id is not None:
            link.incoming_delivery = (int(delivery_id), fld(fields, 2), bool(fld(fields, 4)))
            link.incoming_batch = fld(fields, 3) == BATCH_MESSAGE_FORMAT
        link.incoming_size += len(payload)
        if link.incoming_size <= MAX_MESSAGE_SIZE:
            link.incoming += payload
        if fld(fields, 5):  # more frames follow
            return
        message, size = bytes(link.incoming), link.incoming_size
        link.incoming, link.incoming_size = bytearray(), 0
        delivery, _tag, settled = link.incoming_delivery
        link.credit -= 1
        link.delivery_count += 1
        if link.credit < SENDER_CREDIT // 2:
            link.credit = SENDER_CREDIT
            self._send_flow(link)
        if link.kind == "topic" and size > MAX_MESSAGE_SIZE:
            # As Service Bus does (azure-sdk-for-python#37916): the transfer is rejected with
            # amqp:link:message-size-exceeded and the link is detached with the same error.
            oversize = error(
                "amqp:link:message-size-exceeded",
                f"The received message (delivery-id:{delivery}, size:{size} bytes) exceeds the "
                f"limit ({MAX_MESSAGE_SIZE} bytes) currently allowed on the link.",
            )
            self._settle_incoming(session, delivery, settled, REJECTED, [oversize])
            self.detach_with_error(link, *oversize.value[:2])
            return
        try:
            sections = parse_message(message)
        except DecodeError:
            self._settle_incoming(session, delivery, settled, REJECTED)
            return
        if link.kind == "topic" and link.topic is not None:
            if link.incoming_batch:
                # A batch: each data section holds one whole encoded message.
                try:
                    batch = [parse_message(v) for code, _, v in sections if code == DATA]
                except DecodeError:
                    self._settle_incoming(session, delivery, settled, REJECTED)
                    return
                for inner in batch:
                    self._publish(link.topic, inner)
            else:
                self._publish(link.topic, sections)
        elif link.kind in ("cbs", "management"):
            self._request(link, sections)
        self._settle_incoming(session, delivery, settled, ACCEPTED)

    def _settle_incoming(
        self,
        session: Session,
        delivery: int | None,
        settled: bool,
        outcome: int,
        outcome_fields: list[Any] | None = None,
    ) -> None:
        if settled or delivery is None:
            return
        self._write_frame(
            session.channel,
            described_list(
                DISPOSITION,
                [True, UInt(delivery), None, True, described_list(outcome, outcome_fields or [])],
            ),
        )

    def _publish(self, topic: Topic, sections: list[tuple[int, bytes, Any]]) -> None:
        sections = with_message_id(sections)
        values = {code: value for code, _, value in sections}
        application = dict(values.get(APP_PROPERTIES) or {})
        properties = values.get(PROPERTIES) or []
        system = {
            name: properties[index]
            for index, name in enumerate(PROPERTY_FIELDS)
            if index < len(properties) and properties[index] is not None
        }
        # Service Bus's session ids travel as AMQP group ids.
        for group_field, name in (
            ("group_id", "session_id"),
            ("reply_to_group_id", "reply_to_session_id"),
        ):
            if group_field in system:
                system[name] = system[group_field]
        header = values.get(HEADER) or []
        ttl_ms = fld(header, 2)
        ttl = int(ttl_ms) / 1000 if ttl_ms else None
        self.namespace.publish(topic, sections, application, system, ttl)

    # --- $cbs and $management requests -------------------------------------------------------

    def _request(self, link: Link, sections: list[tuple[int, bytes, Any]]) -> None:
        values = {code: value for code, _, value in sections}
        application = values.get(APP_PROPERTIES) or {}
        properties = values.get(PROPERTIES) or []
        message_id = fld(properties, 0)
        reply_to = fld(properties, 4)
        operation = str(application.get("operation", ""))
        body = values.get(AMQP_VALUE)
        if link.kind == "cbs":
            status, description, response_body = self._put_token(operation, body)
            status_key, description_key = "status-code", "status-description"
        else:
            status, description, response_body = self._management(link, operation, body)
            status_key, description_key = "statusCode", "statusDescription"
        response = (
            encode(
                described_list(
                    PROPERTIES,
                    [uuid.uuid4(), None, reply_to, None, None, message_id],
                )
            )
            + encode(
                Described(
                    ULong(APP_PROPERTIES),
                    {status_key: status, description_key: description},
                )
            )
            + encode(Described(ULong(AMQP_VALUE), response_body))
        )
        # The reply goes out on the receiving link of the same node in this session.
        for candidate in link.session.links.values():
            if not candidate.client_is_sender and candidate.kind == link.kind:
                if candidate.address == link.address:
                    candidate.outbox.append(response)
                    self.pump(candidate)
                    return

    def _put_token(self, operation: str, token: Any) -> tuple[int, str, Any]:
        if operation != "put-token" or not isinstance(token, str):
            return 400, "Only put-token with a string token is supported.", None
        try:
            grant = verify_token(token, self.keys)
        except InvalidToken as exc:
            return 401, f"InvalidSignature: {exc}", None
        self.grants.append(grant)
        return 202, "Accepted", None

    def _management(self, link: Link, operation: str, body: Any) -> tuple[int, str, Any]:
        subscription = link.subscription
        if subscription is None or subscription.deleted:
            return 404, "The messaging entity could not be found.", None
        body = body if isinstance(body, dict) else {}
        tokens = [t for t in body.get("lock-tokens", []) if isinstance(t, uuid.UUID)]
        now = self.namespace.clock()
        if operation == "com.microsoft:renew-lock":
            expirations = []
            for token in tokens:
                until = subscription.renew(token, now)
                if until is None:
                    return 410, "The lock supplied is invalid.", None
                expirations.append(Timestamp(int(until * 1000)))
            return 200, "OK", {"expirations": expirations}
        if operation == "com.microsoft:update-disposition":
            status = str(body.get("disposition-status", ""))
            action = {
                "completed": subscription.complete,
                "abandoned": subscription.abandon,
                "suspended": subscription.dead_letter,
            }.get(status)
            if action is None:
                return 400, f"Unsupported disposition {status!r}.", None
            if not all(action(token) for token in tokens):
                return 410, "The lock supplied is invalid.", None
            return 200, "OK", None
        return 501, f"The double does not implement {operation!r}.", None

    # --- settlement ------------------------------------------------------------------------------

    def _on_disposition(self, session: Session, fields: list[Any]) -> None:
        if not fld(fields, 0):
            return  # dispositions from a client sender: nothing to do
        first = int(fld(fields, 1))
        last = int(fld(fields, 2, first))
        settled = bool(fld(fields, 3))
        state = fld(fields, 4)
        code = int(state.descriptor) if isinstance(state, Described) else None
        for delivery_id in range(first, last + 1):
            delivery = session.unsettled.pop(delivery_id, None)
            if delivery is None or code is None or code == RECEIVED:
                continue
            subscription, token = delivery.subscription, delivery.lock_token
            if code == ACCEPTED:
                applied = subscription.complete(token)
            elif code == REJECTED:
                applied = subscription.dead_letter(token)
            else:  # released, modified: abandon (defer is not modelled)
                applied = subscription.abandon(token)
            if settled:
                continue
            outcome: Described = state
            if not applied:
                outcome = described_list(
                    REJECTED,
                    [
                        error(
                            "com.microsoft:message-lock-lost",
                            "The lock supplied is invalid. Either the lock expired, or the "
                            "message has already been removed from the queue.",
                        )
                    ],
                )
            self._write_frame(
                session.channel,
                described_list(DISPOSITION, [False, UInt(delivery_id), None, True, outcome]),
            )
