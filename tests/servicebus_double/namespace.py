"""The double's namespace state: topics, subscriptions, rules and the messages they hold.

Everything here runs on the double's event loop and is plain, synchronous Python; the AMQP and
management front ends call into it, and a sweeper calls :meth:`Namespace.sweep` a few times a
second to expire locks and messages and to delete idle subscriptions.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .filters import RuleFilter, TrueFilter

MAX_DURATION = 10675199 * 86400.0  # TimeSpan.MaxValue, Service Bus's "never"
DEFAULT_RULE = "$Default"


class Consumer(Protocol):
    """A receiver link fed by a subscription."""

    def pump(self) -> None: ...

    def entity_deleted(self) -> None: ...


@dataclass
class Rule:
    name: str
    filter: RuleFilter
    created_at: float = field(default_factory=time.time)


@dataclass
class StoredMessage:
    """One copy of a message in one subscription."""

    sequence_number: int
    sections: list[tuple[int, bytes, Any]]  # (descriptor code, raw bytes, decoded value)
    application_properties: dict[str, Any]
    system_properties: dict[str, Any]
    enqueued_at: float
    expires_at: float
    delivery_count: int = 0
    lock_token: uuid.UUID | None = None
    locked_until: float = 0.0


@dataclass(eq=False)
class Subscription:
    topic: Topic
    name: str
    lock_duration: float = 60.0
    default_message_time_to_live: float = MAX_DURATION
    auto_delete_on_idle: float = MAX_DURATION
    max_delivery_count: int = 10
    dead_lettering_on_message_expiration: bool = False
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    accessed_at: float = field(default_factory=time.time)
    rules: dict[str, Rule] = field(default_factory=dict)
    available: deque[StoredMessage] = field(default_factory=deque)
    locked: dict[uuid.UUID, StoredMessage] = field(default_factory=dict)
    dead_letters: list[StoredMessage] = field(default_factory=list)
    consumers: set[Consumer] = field(default_factory=set)
    deliveries: int = 0  # transfers sent to receivers, redeliveries included
    completed: int = 0
    deleted: bool = False

    @property
    def active_message_count(self) -> int:
        return len(self.available) + len(self.locked)

    def admits(self, message: StoredMessage) -> bool:
        return any(
            rule.filter.matches(message.application_properties, message.system_properties)
            for rule in self.rules.values()
        )

    def touch(self) -> None:
        self.accessed_at = time.time()

    def next_message(self, now: float) -> StoredMessage | None:
        """The oldest unexpired, unlocked message, removed from the available queue."""
        while self.available:
            message = self.available.popleft()
            if message.expires_at <= now:
                self._expire(message)
                continue
            return message
        return None

    def lock(self, message: StoredMessage, now: float) -> uuid.UUID:
        token = uuid.uuid4()
        message.lock_token = token
        message.locked_until = now + self.lock_duration
        self.locked[token] = message
        return token

    def complete(self, token: uuid.UUID) -> bool:
        message = self.locked.pop(token, None)
        if message is not None:
            self.completed += 1
        return message is not None

    def abandon(self, token: uuid.UUID) -> bool:
        message = self.locked.pop(token, None)
        if message is None:
            return False
        self._requeue(message)
        return True

    def dead_letter(self, token: uuid.UUID) -> bool:
        message = self.locked.pop(token, None)
        if message is not None:
            self.dead_letters.append(message)
        return message is not None

    def renew(self, token: uuid.UUID, now: float) -> float | None:
        message = self.locked.get(token)
        if message is None:
            return None
        message.locked_until = now + self.lock_duration
        return message.locked_until

    def _requeue(self, message: StoredMessage) -> None:
        message.delivery_count += 1
        message.lock_token = None
        if message.delivery_count >= self.max_delivery_count:
            self.dead_letters.append(message)
            return
        # Service Bus hands an abandoned message out again first; keep it at the head.
        self.available.appendleft(message)
        self.notify()

    def _expire(self, message: StoredMessage) -> None:
        if self.dead_lettering_on_message_expiration:
            self.dead_letters.append(message)

    def sweep(self, now: float) -> None:
        for token, message in list(self.locked.items()):
            if message.locked_until <= now:
                del self.locked[token]
                self._requeue(message)
        if self.available and any(m.expires_at <= now for m in self.available):
            keep: deque[StoredMessage] = deque()
            for message in self.available:
                if message.expires_at <= now:
                    self._expire(message)
                else:
                    keep.append(message)
            self.available = keep

    def notify(self) -> None:
        for consumer in list(self.consumers):
            consumer.pump()


@dataclass(eq=False)
class Topic:
    name: str
    default_message_time_to_live: float = MAX_DURATION
    max_size_in_megabytes: int = 1024
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    accessed_at: float = field(default_factory=time.time)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # by lower-case name
    sequence: int = 0
    deleted: bool = False


class Namespace:
    """Topics by lower-case name (Service Bus entity names are case-insensitive)."""

    def __init__(self, idle_scale: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.topics: dict[str, Topic] = {}
        self.idle_scale = idle_scale
        self.clock = clock

    def topic(self, name: str) -> Topic | None:
        return self.topics.get(name.lower())

    def subscription(self, topic: str, name: str) -> Subscription | None:
        found = self.topic(topic)
        return found.subscriptions.get(name.lower()) if found else None

    def create_topic(self, name: str, **settings: Any) -> Topic:
        topic = Topic(name=name, **settings)
        self.topics[name.lower()] = topic
        return topic

    def delete_topic(self, name: str) -> bool:
        topic = self.topics.pop(name.lower(), None)
        if topic is None:
            return False
        topic.deleted = True
        for subscription in list(topic.subscriptions.values()):
            self.delete_subscription(topic.name, subscription.name)
        return True

    def create_subscription(
        self, topic: Topic, name: str, default_rule: Rule | None = None, **settings: Any
    ) -> Subscription:
        subscription = Subscription(topic=topic, name=name, **settings)
        rule = default_rule or Rule(DEFAULT_RULE, TrueFilter())
        subscription.rules[rule.name.lower()] = rule
        topic.subscriptions[name.lower()] = subscription
        return subscription

    def delete_subscription(self, topic_name: str, name: str) -> bool:
        topic = self.topic(topic_name)
        subscription = topic.subscriptions.pop(name.lower(), None) if topic else None
        if subscription is None:
            return False
        subscription.deleted = True
        for consumer in list(subscription.consumers):
            consumer.entity_deleted()
        subscription.consumers.clear()
        return True

    def publish(
        self,
        topic: Topic,
        sections: list[tuple[int, bytes, Any]],
        application_properties: dict[str, Any],
        system_properties: dict[str, Any],
        ttl: float | None,
    ) -> None:
        """Fan a message out to every subscription whose rules admit it."""
        now = self.clock()
        topic.accessed_at = now
        topic.sequence += 1
        for subscription in list(topic.subscriptions.values()):
            lifetime = min(
                ttl if ttl is not None else MAX_DURATION,
                subscription.default_message_time_to_live,
                topic.default_message_time_to_live,
            )
            message = StoredMessage(
                sequence_number=topic.sequence,
                sections=sections,
                application_properties=application_properties,
                system_properties=system_properties,
                enqueued_at=now,
                expires_at=now + lifetime,
            )
            if subscription.admits(message):
                subscription.available.append(message)
                subscription.notify()

    def sweep(self) -> None:
        now = self.clock()
        for topic in list(self.topics.values()):
            for subscription in list(topic.subscriptions.values()):
                subscription.sweep(now)
                idle_for = now - subscription.accessed_at
                idle_limit = subscription.auto_delete_on_idle * self.idle_scale
                if not subscription.consumers and idle_for >= idle_limit:
                    self.delete_subscription(topic.name, subscription.name)
