"""The double's HTTPS management endpoint: the ATOM XML REST API the administration client calls.

Routes (all with ``?api-version=...``, accepted whatever the version): ``GET/PUT/DELETE
/{topic}``, ``GET /$Resources/Topics``, ``GET /{topic}/subscriptions``, ``GET/PUT/DELETE
/{topic}/subscriptions/{name}``, ``GET .../rules``, ``GET/PUT/DELETE .../rules/{rule}``.
``Authorization: SharedAccessSignature ...`` is checked on every request (401 otherwise).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from aiohttp import web

from .filters import (
    SYSTEM_PROPERTY_NAMES,
    CorrelationFilter,
    FalseFilter,
    FilterSyntaxError,
    RuleFilter,
    SqlFilter,
    TrueFilter,
)
from .namespace import DEFAULT_RULE, MAX_DURATION, Namespace, Rule, Subscription, Topic
from .sas import InvalidToken, verify_token

ATOM = "http://www.w3.org/2005/Atom"
SB = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
COUNTS = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
MIN_AUTO_DELETE = 300.0  # Service Bus rejects auto_delete_on_idle under 5 minutes

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def format_duration(seconds: float) -> str:
    if seconds >= MAX_DURATION:
        return "P10675199DT2H48M5.4775807S"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P" + (f"{int(days)}D" if days else "") + "T"
    text += f"{int(hours)}H" if hours else ""
    text += f"{int(minutes)}M" if minutes else ""
    text += f"{secs:g}S" if secs or text.endswith("T") else ""
    return text


def timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element | None) -> dict[str, ET.Element]:
    return {_local(child.tag): child for child in element} if element is not None else {}


def _description(body: bytes, name: str) -> dict[str, ET.Element]:
    """The child elements of the ``<name>`` description inside an ATOM entry."""
    root = ET.fromstring(body)
    for element in root.iter():
        if _local(element.tag) == name:
            return _children(element)
    raise ValueError(f"no {name} in request body")


def _text(fields: dict[str, ET.Element], name: str) -> str | None:
    element = fields.get(name)
    return element.text if element is not None and element.text is not None else None


class BadRequest(Exception):
    """A request the double (and Service Bus) refuses with 400."""


def _typed_value(element: ET.Element) -> Any:
    kind = (element.get(f"{{{XSI}}}type") or "string").split(":")[-1]
    text = element.text or ""
    if kind in ("int", "long", "short", "byte"):
        return int(text)
    if kind in ("double", "float", "decimal"):
        return float(text)
    if kind == "boolean":
        return text.lower() == "true"
    return text


def parse_filter(fields: dict[str, ET.Element]) -> RuleFilter:
    element = fields.get("Filter")
    if element is None:
        return TrueFilter()
    kind = (element.get(f"{{{XSI}}}type") or "").split(":")[-1]
    parts = _children(element)
    if kind == "TrueFilter":
        return TrueFilter()
    if kind == "FalseFilter":
        return FalseFilter()
    if kind == "SqlFilter":
        try:
            return SqlFilter(_text(parts, "SqlExpression") or "")
        except FilterSyntaxError as exc:
            raise BadRequest(str(exc)) from exc
    if kind == "CorrelationFilter":
        system: dict[str, Any] = {}
        for xml_name, key in (
            ("CorrelationId", "correlation_id"),
            ("MessageId", "message_id"),
            ("To", "to"),
            ("ReplyTo", "reply_to"),
            ("Label", "subject"),
            ("SessionId", "session_id"),
            ("ReplyToSessionId", "reply_to_session_id"),
            ("ContentType", "content_type"),
        ):
            value = _text(parts, xml_name)
            if value is not None:
                system[key] = value
        properties: dict[str, Any] = {}
        wrapper = parts.get("Properties")
        for item in wrapper if wrapper is not None else []:
            item_parts = _children(item)
            key_element, value_element = item_parts.get("Key"), item_parts.get("Value")
            if key_element is not None and value_element is not None:
                properties[key_element.text or ""] = _typed_value(value_element)
        return CorrelationFilter(system=system, properties=properties)
    raise BadRequest(f"unsupported filter type {kind!r}")


def _value_xml(value: Any) -> str:
    kind = "boolean" if isinstance(value, bool) else "int" if isinstance(value, int) else None
    kind = kind or ("double" if isinstance(value, float) else "string")
    text = str(value).lower() if isinstance(value, bool) else escape(str(value))
    return (
        f'<Value xmlns:d6p1="http://www.w3.org/2001/XMLSchema" i:type="d6p1:{kind}">{text}</Value>'
    )


def filter_xml(rule_filter: RuleFilter) -> str:
    if isinstance(rule_filter, (TrueFilter, FalseFilter)):
        kind = type(rule_filter).__name__
        expression = "1=1" if kind == "TrueFilter" else "1=0"
        return (
            f'<Filter i:type="{kind}"><SqlExpression>{expression}</SqlExpression>'
            "<CompatibilityLevel>20</CompatibilityLevel></Filter>"
        )
    if isinstance(rule_filter, SqlFilter):
        return (
            '<Filter i:type="SqlFilter">'
            f"<SqlExpression>{escape(rule_filter.expression)}</SqlExpression>"
            "<CompatibilityLevel>20</CompatibilityLevel></Filter>"
        )
    names = {
        "correlation_id": "CorrelationId",
        "message_id": "MessageId",
        "to": "To",
        "reply_to": "ReplyTo",
        "subject": "Label",
        "session_id": "SessionId",
        "reply_to_session_id": "ReplyToSessionId",
        "content_type": "ContentType",
    }
    inner = "".join(
        f"<{names[key]}>{escape(str(value))}</{names[key]}>"
        for key, value in rule_filter.system.items()
        if key in names
    )
    items = "".join(
        f"<KeyValueOfstringanyType><Key>{escape(key)}</Key>{_value_xml(value)}"
        "</KeyValueOfstringanyType>"
        for key, value in rule_filter.properties.items()
    )
    return f'<Filter i:type="CorrelationFilter">{inner}<Properties>{items}</Properties></Filter>'


assert set(SYSTEM_PROPERTY_NAMES.values()) >= {"correlation_id", "subject"}


class ManagementApi:
    """aiohttp request handler bound to one namespace."""

    def __init__(self, namespace: Namespace, keys: dict[str, str], host: str) -> None:
        self.namespace = namespace
        self.keys = keys
        self.host = host

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            verify_token(request.headers.get("Authorization", ""), self.keys)
        except InvalidToken as exc:
            return self._error(401, f"InvalidSignature: {exc}")
        parts = [unquote(p) for p in request.path.strip("/").split("/") if p]
        body = await request.read()
        try:
            return self._route(request.method, parts, body, request)
        except BadRequest as exc:
            return self._error(400, str(exc))
        except (ValueError, ET.ParseError) as exc:
            return self._error(400, f"Bad request: {exc}")

    def _route(
        self, method: str, parts: list[str], body: bytes, request: web.BaseRequest
    ) -> web.StreamResponse:
        skip = int(request.query.get("$skip", "0"))
        top = int(request.query.get("$top", "100"))
        if parts == ["$Resources", "Topics"] or parts == ["$Resources", "topics"]:
            topics = sorted(self.namespace.topics.values(), key=lambda t: t.name)
            return self._feed(
                "Topics", "$Resources/Topics", [self._topic_entry(t) for t in topics], skip, top
            )
        if len(parts) == 1:
            return self._topic(method, parts[0], body, request)
        if len(parts) >= 2 and parts[1].lower() == "subscriptions":
            topic = self.namespace.topic(parts[0])
            if len(parts) == 2 and method == "GET":
                if topic is None:
                    return self._feed("Subscriptions", parts[0] + "/subscriptions", [], skip, top)
                subscriptions = sorted(topic.subscriptions.values(), key=lambda s: s.name)
                entries = [self._subscription_entry(s) for s in subscriptions]
                return self._feed(
                    "Subscriptions", f"{topic.name}/subscriptions", entries, skip, top
                )
            if len(parts) == 3:
                return self._subscription(method, topic, parts[0], parts[2], body, request)
            if len(parts) >= 4 and parts[3].lower() == "rules":
                subscription = topic.subscriptions.get(parts[2].lower()) if topic else None
                if subscription is None:
                    return self._error(404, "The messaging entity could not be found.")
                if len(parts) == 4 and method == "GET":
                    rules = list(subscription.rules.values())
                    entries = [self._rule_entry(subscription, r) for r in rules]
                    path = f"{parts[0]}/subscriptions/{parts[2]}/rules"
                    return self._feed("Rules", path, entries, skip, top)
                if len(parts) == 5:
                    return self._rule(method, subscription, parts[4], body, request)
        return self._error(404, "No such resource.")

    # --- topics ------------------------------------------------------------------------------

    def _topic(
        self, method: str, name: str, body: bytes, request: web.BaseRequest
    ) -> web.StreamResponse:
        topic = self.namespace.topic(name)
        if method == "GET":
            if topic is None:
                # Service Bus answers a GET of a missing entity with an empty feed.
                return self._feed(name, name, [], 0, 100)
            return self._xml(200, self._topic_entry(topic))
        if method == "DELETE":
            if not self.namespace.delete_topic(name):
                return self._error(404, "The messaging entity could not be found.")
            return web.Response(status=200)
        if method == "PUT":
            fields = _description(body, "TopicDescription")
            if topic is not None and "If-Match" not in request.headers:
                return self._error(409, "The messaging entity already exists.")
            settings: dict[str, Any] = {}
            ttl = _text(fields, "DefaultMessageTimeToLive")
            if ttl:
                settings["default_message_time_to_live"] = parse_duration(ttl)
            size = _text(fields, "MaxSizeInMegabytes")
            if size:
                settings["max_size_in_megabytes"] = int(size)
            if topic is None:
                topic = self.namespace.create_topic(name, **settings)
                status = 201
            else:
                for key, value in settings.items():
                    setattr(topic, key, value)
                topic.updated_at = time.time()
                status = 200
            return self._xml(status, self._topic_entry(topic))
        return self._error(405, "Method not allowed.")

    def _topic_entry(self, topic: Topic) -> str:
        description = (
            f'<TopicDescription xmlns="{SB}" xmlns:i="{XSI}">'
            f"<DefaultMessageTimeToLive>{format_duration(topic.default_message_time_to_live)}"
            "</DefaultMessageTimeToLive>"
            f"<MaxSizeInMegabytes>{topic.max_size_in_megabytes}</MaxSizeInMegabytes>"
            "<RequiresDuplicateDetection>false</RequiresDuplicateDetection>"
            "<DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>"
            "<EnableBatchedOperations>true</EnableBatchedOperations>"
            "<SizeInBytes>0</SizeInBytes>"
            "<FilteringMessagesBeforePublishing>false</FilteringMessagesBeforePublishing>"
            "<IsAnonymousAccessible>false</IsAnonymousAccessible>"
            "<AuthorizationRules></AuthorizationRules>"
            "<Status>Active</Status>"
            f"<CreatedAt>{timestamp(topic.created_at)}</CreatedAt>"
            f"<UpdatedAt>{timestamp(topic.updated_at)}</UpdatedAt>"
            f"<AccessedAt>{timestamp(topic.accessed_at)}</AccessedAt>"
            "<SupportOrdering>true</SupportOrdering>"
            f'<CountDetails xmlns:d2p1="{COUNTS}">'
            "<d2p1:ActiveMessageCount>0</d2p1:ActiveMessageCount>"
            "<d2p1:DeadLetterMessageCount>0</d2p1:DeadLetterMessageCount>"
            "<d2p1:ScheduledMessageCount>0</d2p1:ScheduledMessageCount>"
            "<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"
            "<d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount>"
            "</CountDetails>"
            f"<SubscriptionCount>{len(topic.subscriptions)}</SubscriptionCount>"
            f"<AutoDeleteOnIdle>{format_duration(MAX_DURATION)}</AutoDeleteOnIdle>"
            "<EnablePartitioning>false</EnablePartitioning>"
            "<EnableExpress>false</EnableExpress>"
            "<MaxMessageSizeInKilobytes>256</MaxMessageSizeInKilobytes>"
            "</TopicDescription>"
        )
        return self._entry(topic.name, topic.name, topic.created_at, topic.updated_at, description)

    # --- subscriptions -----------------------------------------------------------------------

    def _subscription(
        self,
        method: str,
        topic: Topic | None,
        topic_name: str,
        name: str,
        body: bytes,
        request: web.BaseRequest,
    ) -> web.StreamResponse:
        subscription = topic.subscriptions.get(name.lower()) if topic else None
        if method == "GET":
            if subscription is None:
                return self._feed(name, f"{topic_name}/subscriptions/{name}", [], 0, 100)
            return self._xml(200, self._subscription_entry(subscription))
        if method == "DELETE":
            if not self.namespace.delete_subscription(topic_name, name):
                return self._error(404, "The messaging entity could not be found.")
            return web.Response(status=200)
        if method != "PUT":
            return self._error(405, "Method not allowed.")
        if topic is None:
            return self._error(404, f"The messaging entity '{topic_name}' could not be found.")
        if subscription is not None and "If-Match" not in request.headers:
            return self._error(409, "The messaging entity already exists.")
        fields = _description(body, "SubscriptionDescription")
        settings: dict[str, Any] = {}
        for xml_name, key in (
            ("LockDuration", "lock_duration"),
            ("DefaultMessageTimeToLive", "default_message_time_to_live"),
            ("AutoDeleteOnIdle", "auto_delete_on_idle"),
        ):
            value = _text(fields, xml_name)
            if value:
                settings[key] = parse_duration(value)
        if settings.get("auto_delete_on_idle", MIN_AUTO_DELETE) < MIN_AUTO_DELETE:
            raise BadRequest("AutoDeleteOnIdle must be at least 5 minutes.")
        count = _text(fields, "MaxDeliveryCount")
        if count:
            settings["max_delivery_count"] = int(count)
        expiration = _text(fields, "DeadLetteringOnMessageExpiration")
        if expiration:
            settings["dead_lettering_on_message_expiration"] = expiration.lower() == "true"
        if subscription is None:
            default_rule = None
            rule_fields = _children(fields.get("DefaultRuleDescription"))
            if rule_fields:
                rule_name = _text(rule_fields, "Name") or DEFAULT_RULE
                default_rule = Rule(rule_name, parse_filter(rule_fields))
            subscription = self.namespace.create_subscription(
                topic, name, default_rule=default_rule, **settings
            )
            status = 201
        else:
            for key, value in settings.items():
                setattr(subscription, key, value)
            subscription.updated_at = time.time()
            status = 200
        return self._xml(status, self._subscription_entry(subscription))

    def _subscription_entry(self, s: Subscription) -> str:
        description = (
            f'<SubscriptionDescription xmlns="{SB}" xmlns:i="{XSI}">'
            f"<LockDuration>{format_duration(s.lock_duration)}</LockDuration>"
            "<RequiresSession>false</RequiresSession>"
            f"<DefaultMessageTimeToLive>{format_duration(s.default_message_time_to_live)}"
            "</DefaultMessageTimeToLive>"
            "<DeadLetteringOnMessageExpiration>"
            f"{str(s.dead_lettering_on_message_expiration).lower()}"
            "</DeadLetteringOnMessageExpiration>"
            "<DeadLetteringOnFilterEvaluationExceptions>true"
            "</DeadLetteringOnFilterEvaluationExceptions>"
            f"<MessageCount>{s.active_message_count + len(s.dead_letters)}</MessageCount>"
            f"<MaxDeliveryCount>{s.max_delivery_count}</MaxDeliveryCount>"
            "<EnableBatchedOperations>true</EnableBatchedOperations>"
            "<Status>Active</Status>"
            f"<CreatedAt>{timestamp(s.created_at)}</CreatedAt>"
            f"<UpdatedAt>{timestamp(s.updated_at)}</UpdatedAt>"
            f"<AccessedAt>{timestamp(s.accessed_at)}</AccessedAt>"
            f'<CountDetails xmlns:d2p1="{COUNTS}">'
            f"<d2p1:ActiveMessageCount>{s.active_message_count}</d2p1:ActiveMessageCount>"
            f"<d2p1:DeadLetterMessageCount>{len(s.dead_letters)}</d2p1:DeadLetterMessageCount>"
            "<d2p1:ScheduledMessageCount>0</d2p1:ScheduledMessageCount>"
            "<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"
            "<d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount>"
            "</CountDetails>"
            f"<AutoDeleteOnIdle>{format_duration(s.auto_delete_on_idle)}</AutoDeleteOnIdle>"
            "<EntityAvailabilityStatus>Available</EntityAvailabilityStatus>"
            "</SubscriptionDescription>"
        )
        path = f"{s.topic.name}/subscriptions/{s.name}"
        return self._entry(s.name, path, s.created_at, s.updated_at, description)

    # --- rules -------------------------------------------------------------------------------

    def _rule(
        self,
        method: str,
        subscription: Subscription,
        name: str,
        body: bytes,
        request: web.BaseRequest,
    ) -> web.StreamResponse:
        rule = subscription.rules.get(name.lower())
        if method == "GET":
            if rule is None:
                return self._feed(name, name, [], 0, 100)
            return self._xml(200, self._rule_entry(subscription, rule))
        if method == "DELETE":
            if subscription.rules.pop(name.lower(), None) is None:
                return self._error(404, "The rule could not be found.")
            return web.Response(status=200)
        if method != "PUT":
            return self._error(405, "Method not allowed.")
        if rule is not None and "If-Match" not in request.headers:
            return self._error(409, "The rule already exists.")
        rule = Rule(name, parse_filter(_description(body, "RuleDescription")))
        subscription.rules[name.lower()] = rule
        return self._xml(201, self._rule_entry(subscription, rule))

    def _rule_entry(self, subscription: Subscription, rule: Rule) -> str:
        description = (
            f'<RuleDescription xmlns="{SB}" xmlns:i="{XSI}">'
            f"{filter_xml(rule.filter)}"
            '<Action i:type="EmptyRuleAction"/>'
            f"<CreatedAt>{timestamp(rule.created_at)}</CreatedAt>"
            f"<Name>{escape(rule.name)}</Name>"
            "</RuleDescription>"
        )
        path = f"{subscription.topic.name}/subscriptions/{subscription.name}/rules/{rule.name}"
        return self._entry(rule.name, path, rule.created_at, rule.created_at, description)

    # --- ATOM --------------------------------------------------------------------------------

    def _entry(self, title: str, path: str, created: float, updated: float, content: str) -> str:
        url = f"https://{self.host}/{path}?api-version=2021-05"
        return (
            f'<entry xmlns="{ATOM}"><id>{escape(url)}</id>'
            f'<title type="text">{escape(title)}</title>'
            f"<published>{timestamp(created)}</published><updated>{timestamp(updated)}</updated>"
            f'<link rel="self" href="{escape(url)}"/>'
            f'<content type="application/xml">{content}</content></entry>'
        )

    def _feed(self, title: str, path: str, entries: list[str], skip: int, top: int) -> web.Response:
        url = f"https://{self.host}/{path}?api-version=2021-05"
        page = entries[skip : skip + top]
        links = f'<link rel="self" href="{escape(url)}"/>'
        if skip + top < len(entries):
            next_url = f"{url}&$skip={skip + top}&$top={top}"
            links += f'<link rel="next" href="{escape(next_url)}"/>'
        # Entries carry their own xmlns; strip it so they sit in the feed's namespace.
        inner = "".join(entry.replace(f'<entry xmlns="{ATOM}">', "<entry>", 1) for entry in page)
        body = (
            f'<feed xmlns="{ATOM}"><title type="text">{escape(title)}</title>'
            f"<id>{escape(url)}</id><updated>{timestamp(time.time())}</updated>"
            f"{links}{inner}</feed>"
        )
        return self._xml(200, body)

    def _xml(self, status: int, body: str) -> web.Response:
        return web.Response(
            status=status,
            body=('<?xml version="1.0" encoding="utf-8"?>' + body).encode(),
            content_type="application/atom+xml",
            charset="utf-8",
        )

    def _error(self, status: int, detail: str) -> web.Response:
        body = f"<Error><Code>{status}</Code><Detail>{escape(detail)}</Detail></Error>"
        return web.Response(
            status=status, body=body.encode(), content_type="application/xml", charset="utf-8"
        )
