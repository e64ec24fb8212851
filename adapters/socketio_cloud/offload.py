"""Payload offload: cluster messages larger than a broker carries, through an object store.

Each broker has a size limit (SNS 256 KiB, Service Bus Standard 256 KB, Pub/Sub 10 MB,
PostgreSQL NOTIFY 8,000 bytes). A transport with a :class:`PayloadStore` stores the encoded
payload of a larger message and publishes a short pointer in its place; receivers fetch it.
Without a store, publishing such a message raises
:class:`~socketio_cloud.exceptions.PayloadTooLarge`: never a silent drop.

The protocol, the same for every broker:

- ``pointer = await store.put(sender_uid, payload)``; the transport publishes the message with
  the pointer where the payload would be (an attribute or a field of its own framing).
- ``payload = await store.get(pointer)`` on receipt. A store accepts only pointers into its
  own container and prefix, and payloads within :attr:`Limits.max_message_size
  <socketio_cloud.protocol.Limits>`; anything else is a
  :class:`~socketio_cloud.exceptions.DecodeError`, since pointers come from the broker.
- Stored payloads are never deleted by receivers (nobody knows when the last node has read
  one): the store's container expires them (an S3 lifecycle rule, a Blob or GCS lifecycle
  policy, a periodic ``DELETE`` of old rows).

Every node and emitter of a cluster must use the same store.
"""

from __future__ import annotations

from typing import Protocol

from .exceptions import DecodeError, PayloadTooLarge, TransportError
from .protocol import Limits

__all__ = ["Offload", "PayloadStore"]


class PayloadStore(Protocol):
    """Where large payloads go (an S3 bucket, a Blob container, a table)."""

    async def put(self, sender_uid: str, payload: bytes) -> str:
        """Store ``payload`` and return the pointer to publish in its place."""
        ...

    async def get(self, pointer: str) -> bytes:
        """Fetch what ``pointer`` names; :class:`DecodeError` when it is not acceptable."""
        ...


class Offload:
    """A transport's decision, per message, between carrying a payload and offloading it.

    :param broker_limit: the largest message the broker carries, as the transport measures it.
    :param store: where larger payloads go, or None to refuse them.
    :param limits: receivers' bounds: no payload beyond ``limits.max_message_size`` is sent.
    :param hint: what to tell the user when there is no store (the option that enables one).
    """

    def __init__(
        self, broker_limit: int, store: PayloadStore | None, limits: Limits, *, hint: str = ""
    ) -> None:
        self.broker_limit = broker_limit
        self.store = store
        self.limits = limits
        self.hint = hint

    @property
    def max_message_size(self) -> int:
        """The largest message that can be published, offloaded or not (never more than
        receivers accept: ``limits.max_message_size``)."""
        if self.store is None:
            return min(self.broker_limit, self.limits.max_message_size)
        return self.limits.max_message_size

    def fits(self, size: int) -> bool:
        """Whether a message of ``size`` bytes goes through the broker as it is: within the
        broker's limit and the receivers' (otherwise :meth:`store_payload` it, which refuses
        what cannot be carried at all)."""
        return size <= min(self.broker_limit, self.limits.max_message_size)

    async def store_payload(self, sender_uid: str, payload: bytes, size: int) -> str:
        """Offload ``payload`` of a message whose broker size is ``size``; return the pointer.

        Raises :class:`PayloadTooLarge` without a store or beyond the receivers' limit, and
        :class:`TransportError` when the store cannot be written.
        """
        if size > self.limits.max_message_size or len(payload) > self.limits.max_message_size:
            raise PayloadTooLarge(
                max(size, len(payload)), self.limits.max_message_size, "receivers would drop it"
            )
        if self.store is None:
            raise PayloadTooLarge(size, self.broker_limit, self.hint)
        if len(payload) > self.limits.max_message_size:
            raise PayloadTooLarge(
                len(payload), self.limits.max_message_size, "receivers would drop it"
            )
        try:
            return await self.store.put(sender_uid, payload)
        except Exception as exc:
            raise TransportError(f"cannot store a large payload: {exc}") from exc

    async def fetch_payload(self, pointer: str) -> bytes:
        """The payload a received pointer names (:class:`DecodeError` when unacceptable)."""
        if self.store is None:
            raise DecodeError("received an offloaded payload, but no payload store is configured")
        try:
            return await self.store.get(pointer)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"cannot fetch an offloaded payload: {exc}") from exc
