"""A loopback Azure Service Bus double for tests, driven by the real SDKs.

Start it from the ``servicebus_double`` fixture (``tests/servicebus_double/fixtures.py``) or
directly: ``async with ServiceBusDouble() as double: ...``. One port on 127.0.0.1 serves both
faces; ``double.connection_string`` (``Endpoint=sb://127.0.0.1:<port>/;SharedAccessKeyName=...;
SharedAccessKey=...;UseDevelopmentEmulator=true``) works for ``ServiceBusClient``,
``ServiceBusAdministrationClient`` (pass ``connection_verify=double.ca_file``) and the
JavaScript SDK. With ``UseDevelopmentEmulator=true`` the SDKs speak plain AMQP to host:port;
the administration client always speaks HTTPS to the same host:port, so the listener routes
each connection by its first byte (0x16, a TLS handshake, goes to the management API).

Why its own AMQP framing rather than python-qpid-proton: the double needs Service Bus's exact
answers (attach-then-detach refusals with chosen conditions, rejected outcomes carrying errors,
vendor message annotations, lock tokens as delivery tags) on the test's own event loop, with
``stop()``/``start()`` that drop every connection at once. AMQP 1.0's type system and the nine
performatives fit in two small modules (``codec.py``, ``amqp.py``) with no C extension, no
reactor thread to bridge and no SASL configuration to get right.

Modelled (and tested with azure-servicebus 7.15 and @azure/service-bus 7.9):

AMQP endpoint (``amqp.py``)
  - SASL (offers MSSBCBS, PLAIN, ANONYMOUS; always succeeds, as authorisation is per entity),
    open/begin/attach/flow/transfer/disposition/detach/end/close; multi-frame transfers both
    ways (max frame 64 KiB); link credit with drain and echo; heartbeats when the client asks.
  - ``$cbs`` ``put-token``: the SAS token is checked against the namespace key (key name, HMAC
    over the URL-encoded resource and expiry, expiry itself); answers ``status-code`` 202, or
    401 (the SDK raises ``ServiceBusAuthenticationError``). Attaching to an entity that no
    token covers is refused with ``amqp:unauthorized-access``.
  - Senders to ``<topic>``; batches (message format 0x80013700) are split into messages.
    A message without a message-id gets one (a GUID without dashes), as Service Bus assigns.
  - Receivers on ``<topic>/Subscriptions/<name>``: peek-lock (a lock token per delivery, sent
    as the delivery tag, ``x-opt-locked-until``/``x-opt-sequence-number``/``x-opt-enqueued-time``
    annotations, header ``delivery-count`` = earlier deliveries) settled by disposition:
    accepted = complete, modified/released = abandon (redelivered first), rejected =
    dead-letter; an unsettled disposition on a lost lock is answered ``rejected`` with
    ``com.microsoft:message-lock-lost``. Receive-and-delete (sender-settled transfers).
    Locks expire after the subscription's ``lock_duration`` (the message comes back with its
    delivery count raised); at ``max_delivery_count`` a message is dead-lettered. Locks outlive
    the link that took them, as on Service Bus.
  - ``<entity>/$management``: ``com.microsoft:renew-lock`` and
    ``com.microsoft:update-disposition`` (what the SDK uses to renew locks and to settle when
    the receive link is gone; renew-lock is tested, update-disposition is not exercised by the
    tests); other operations answer statusCode 501.
  - Unknown topic or subscription: the attach is answered, then detached with
    ``amqp:not-found`` (``MessagingEntityNotFoundError``); a receiver on a topic or a sender on
    a subscription gets ``amqp:not-allowed``. A subscription deleted while a receiver is
    attached detaches that link with ``amqp:not-found``.
  - Size limit 262,144 bytes (Standard tier) on the encoded message, advertised as the link's
    ``max-message-size``. An oversize transfer is rejected with
    ``amqp:link:message-size-exceeded`` and the link detached with the same error — the
    condition and description Service Bus returns (azure-sdk-for-python issue 37916); the SDK
    maps it to ``MessageSizeExceededError``. (``com.microsoft:message-size-exceeded`` is not
    what the service sends on a link, and the Python SDK would not map it.)

Namespace (``namespace.py``, ``filters.py``)
  - Topic -> subscription fan-out; each subscription keeps a copy if any of its rules admits
    the message: SQL filters (the subset in ``filters.py``: ``=``, ``<>``, ``!=``, ``<``, ``<=``,
    ``>``, ``>=``, ``IN``, ``AND``, ``OR``, ``NOT``, ``IS [NOT] NULL``, ``EXISTS``, parentheses,
    quoted strings, numbers, ``1=1``; three-valued logic), correlation filters (system
    properties and application properties), ``TrueFilter``/``FalseFilter``, and the
    ``$Default`` true rule created with each subscription.
  - Message TTL: the smallest of the header ``ttl``, the subscription's and the topic's
    ``default_message_time_to_live``; expired messages are never delivered (dead-lettered
    when ``dead_lettering_on_message_expiration``). The body and application properties are
    stored as the sender's encoded bytes and delivered unchanged.
  - ``auto_delete_on_idle``: a subscription with no attached receiver and no receive activity
    for that long is deleted; ``ServiceBusDouble(idle_scale=...)`` multiplies the interval so
    the 5-minute minimum (enforced, 400 below it) can pass in seconds.

Management API (``management.py``, HTTPS with a self-signed certificate made at start-up)
  - Topics: create (201), get (an empty feed when missing, as Service Bus answers; the SDK
    raises ``ResourceNotFoundError``), update (``If-Match``), delete, list.
  - Subscriptions: create with ``lock_duration``, ``default_message_time_to_live``,
    ``auto_delete_on_idle``, ``max_delivery_count``, ``dead_lettering_on_message_expiration``
    and an optional default rule; get, update, delete, list; runtime properties
    (``created_at_utc``, ``updated_at_utc``, ``accessed_at_utc``, ``active_message_count``,
    ``dead_letter_message_count``, ``total_message_count``).
  - Rules: create, get, list, delete with SQL, correlation, true and false filters.
  - 404 for missing parents and deletes of missing entities, 409 on creating what exists,
    400 for filters outside the subset, 401 for a missing or bad SAS token.

Restart and inspection (``double.py``)
  - ``stop()`` closes the port and every connection; ``start()`` listens on the same port;
    topics, subscriptions, rules and stored messages survive.
  - ``subscription(topic, name)`` (live object: counts, ``deliveries``, ``completed``,
    ``accessed_at``, rules), ``topics()``, ``delete_subscription()`` behind clients' backs;
    ``ServiceBusDoubleThread`` offers the same, thread-safely, for the session fixture.

Not modelled (and not claimed): queues, sessions, scheduled and deferred messages, peek,
receive-by-sequence-number, dead-letter sub-queue receivers, duplicate detection, rule actions,
SQL ``LIKE``/arithmetic/functions, forwarding, transactions, partitioning, namespace info,
authorization rules and per-key claims (one key with every right), quotas other than message
size, WebSockets, the ``x-opt-*`` annotations other than the three above, and exact HTTP
error bodies.
"""

from .double import ServiceBusDouble, ServiceBusDoubleThread

__all__ = ["ServiceBusDouble", "ServiceBusDoubleThread"]
