"""Facts about the AMQP 0-9-1 (RabbitMQ) broker: defaults, names and the routing keys.

The routing scheme (docs/amqp.md, "Wire format") in one place, so that the transport, the
emitter and the tests compute the same keys. One topic exchange per cluster; every node has
one queue, bound to:

- ``h``: heartbeats, initial heartbeats and close notices of every namespace, so that a
  node learns of every node and namespace (a server accepting any namespace serves one
  as soon as another node announces it), as on brokers without routing;
- ``n.<nsp>.all`` for each namespace it serves: requests, room operations and broadcasts
  that cannot be routed by room;
- ``n.<nsp>.r.<room>`` for each room of that namespace with a local member (``n.<nsp>.r.*``
  once the node has more rooms than its binding bound);
- ``u.<uid>``: responses addressed to this node.

``<nsp>`` and ``<room>`` are hashes (hex), so keys stay short and never contain a dot.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from ..protocol import ClusterMessage, MessageType

__all__ = [
    "DEFAULT_EXCHANGE",
    "DEFAULT_MAX_ROOM_BINDINGS",
    "DEFAULT_MESSAGE_TTL",
    "DEFAULT_PREFETCH",
    "DEFAULT_QUEUE_EXPIRES",
    "DEFAULT_QUEUE_PREFIX",
    "DEFAULT_ROUTE_GRACE",
    "DEFAULT_URL",
    "HEARTBEAT_KEY",
    "MAX_ROUTED_ROOMS",
    "all_key",
    "looks_like_sid",
    "permissions",
    "queue_name",
    "response_key",
    "room_key",
    "room_wildcard",
    "routed_by_room",
    "routing_keys",
]

DEFAULT_URL: Final = "amqp://guest:guest@localhost:5672/"
#: The cluster's topic exchange (socket.io-amqp0 names its direct exchange the same).
DEFAULT_EXCHANGE: Final = "socket.io"
#: Node queues are ``<prefix>#<uid>`` (socket.io-amqp0: ``<queuePrefix>#<instance>``).
DEFAULT_QUEUE_PREFIX: Final = "socket.io"
#: Seconds a queue without consumer survives (``x-expires``; socket.io-amqp0: 60000 ms).
DEFAULT_QUEUE_EXPIRES: Final = 60.0
#: Seconds a message may wait in a queue (``x-message-ttl``).
DEFAULT_MESSAGE_TTL: Final = 60.0
#: Unacknowledged deliveries in flight to one node (``basic.qos`` prefetch count).
DEFAULT_PREFETCH: Final = 256
#: Room bindings per node before it falls back to receiving every room broadcast.
DEFAULT_MAX_ROOM_BINDINGS: Final = 1_000
#: Seconds during which a node sends broadcasts to rooms it asked other nodes to join
#: (``sockets_join``) to every node, while those nodes bind the rooms.
DEFAULT_ROUTE_GRACE: Final = 10.0
#: Rooms one message may be routed to (its ``CC`` header); a broadcast to more rooms goes
#: to every node of the namespace.
MAX_ROUTED_ROOMS: Final = 64
#: RabbitMQ's largest message by default (``max_message_size``: 128 MiB in 3.8-3.13,
#: 16 MiB from 4.0; the smaller one, so a message we publish passes either).
BROKER_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
#: Message properties: the sender's uid travels as ``app_id`` so a node drops its own
#: messages before decoding them.
CONTENT_TYPE: Final = "application/msgpack"

_SID = re.compile(r"^[A-Za-z0-9_-]{20}$")

#: Types whose receivers act only on sockets selected by ``opts``: nodes without a member of
#: ``opts.rooms`` have nothing to do, so these can go to the rooms' keys. A broadcast that
#: needs acknowledgements (it has a ``requestId``) is not among them: every node answers it.
_ROOM_SCOPED: Final = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.SOCKETS_JOIN,
        MessageType.SOCKETS_LEAVE,
        MessageType.DISCONNECT_SOCKETS,
    }
)


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def namespace_word(namespace: str) -> str:
    """The routing-key word for a namespace (8 bytes of BLAKE2b, hex)."""
    return _digest(namespace, 8)


#: The key of heartbeat-class messages (every node binds it).
HEARTBEAT_KEY: Final = "h"
_HEARTBEATS: Final = frozenset(
    {MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT, MessageType.ADAPTER_CLOSE}
)


def all_key(namespace: str) -> str:
    """Messages for every node serving ``namespace``."""
    return f"n.{namespace_word(namespace)}.all"


def room_key(namespace: str, room: str) -> str:
    """Broadcasts to ``room`` of ``namespace`` (16 bytes of BLAKE2b of the room)."""
    return f"n.{namespace_word(namespace)}.r.{_digest(room, 16)}"


def room_wildcard(namespace: str) -> str:
    """The binding of a node that takes every room broadcast of ``namespace``."""
    return f"n.{namespace_word(namespace)}.r.*"


def response_key(uid: str) -> str:
    """Responses to the node ``uid``."""
    return f"u.{uid}"


def queue_name(prefix: str, uid: str) -> str:
    """The queue of node ``uid``."""
    return f"{prefix}#{uid}"


def looks_like_sid(room: str) -> bool:
    """Whether a room name is shaped like a socket id (20 url-safe base64 characters).

    Every socket is in a room named by its id; binding one key per socket would cost a
    broker call per connection and overflow the binding bound, so those rooms are not
    routed (Node's sharded Redis adapter makes the same choice in its ``dynamic`` mode).
    """
    return _SID.match(room) is not None


def routed_by_room(room: str) -> bool:
    """Whether nodes bind a key for ``room`` (the sender and the receivers must agree)."""
    return not looks_like_sid(room)


def routing_keys(message: ClusterMessage, recent_joins: frozenset[str] = frozenset()) -> list[str]:
    """The routing keys of a published (non-response) message: the first is the message's
    routing key, the others go in its ``CC`` header (the broker delivers one copy per queue).

    ``recent_joins`` are rooms that this sender asked nodes to join a moment ago: a broadcast
    to one of them goes to every node, since a receiver may not have bound the room yet.
    """
    if message.type in _HEARTBEATS:
        return [HEARTBEAT_KEY]
    if message.type in _ROOM_SCOPED and message.data is not None and message.request_id is None:
        rooms = message.options().rooms
        if 0 < len(rooms) <= MAX_ROUTED_ROOMS and all(
            routed_by_room(r) and r not in recent_joins for r in rooms
        ):
            return list(dict.fromkeys(room_key(message.nsp, room) for room in rooms))
    return [all_key(message.nsp)]


def permissions(
    exchange: str = DEFAULT_EXCHANGE, queue_prefix: str = DEFAULT_QUEUE_PREFIX, *, node: bool = True
) -> dict[str, str]:
    """The RabbitMQ permissions (``configure``, ``write``, ``read`` regular expressions for
    ``rabbitmqctl set_permissions``) a node, or an emitter (``node=False``), needs.

    A node declares the exchange and its queue and deletes the queue (configure), publishes
    to the exchange and binds its queue (write on both), binds from the exchange and
    consumes from its queue (read on both). An emitter declares the exchange and publishes.
    """
    exchange_only = f"^{re.escape(exchange)}$"
    if not node:
        return {"configure": exchange_only, "write": exchange_only, "read": "^$"}
    both = f"^({re.escape(exchange)}|{re.escape(queue_prefix)}#[0-9a-f]+)$"
    return {"configure": both, "write": both, "read": both}
