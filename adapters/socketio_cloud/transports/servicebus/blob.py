"""Cluster messages larger than Service Bus accepts, carried through a Blob Storage container.

With ``large_payload_container``, the Service Bus transport stores the encoded envelope of a
larger message as the blob ``<prefix><sender uid>/<random hex>`` and publishes the message with
the application property ``payloadBlob`` = ``<container>/<blob name>`` (see
:mod:`socketio_cloud.transports.servicebus.framing`). Receivers fetch the blob, refusing
pointers outside their own container and prefix and blobs larger than
:attr:`Limits.max_message_size <socketio_cloud.protocol.Limits>`.

Blobs are not deleted by receivers: give the storage account a lifecycle management rule that
deletes blobs under the prefix a day after their creation. The identity needs the "Storage
Blob Data Contributor" role on the container (read and write).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from ...exceptions import DecodeError
from ...protocol import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.credentials_async import AsyncTokenCredential

__all__ = ["DEFAULT_BLOB_PREFIX", "BlobPayloadStore"]

DEFAULT_BLOB_PREFIX = "socketio-cloud/"
_MAX_BLOB_NAME = 1024


class BlobPayloadStore:
    """A :class:`~socketio_cloud.offload.PayloadStore` in one Blob container.

    :param container: an ``azure.storage.blob.aio.ContainerClient`` (the caller keeps owning
        it), or use :meth:`from_account`.
    :param prefix: the blob name prefix of this cluster's payloads.
    :param limits: receivers' bounds; larger blobs are refused.
    """

    def __init__(
        self,
        container: ContainerClient,
        *,
        prefix: str = DEFAULT_BLOB_PREFIX,
        limits: Limits = DEFAULT_LIMITS,
        owned: bool = False,
    ) -> None:
        self.container = container
        self.prefix = prefix
        self.limits = limits
        #: Whether closing the transport closes the container client.
        self.owned = owned
        self._credential: Any = None  # a credential made here, closed with the store

    @classmethod
    def from_account(
        cls,
        account_url: str,
        container_name: str,
        *,
        credential: AsyncTokenCredential | AzureNamedKeyCredential | str | None = None,
        prefix: str = DEFAULT_BLOB_PREFIX,
        limits: Limits = DEFAULT_LIMITS,
        **client_options: Any,
    ) -> BlobPayloadStore:
        """A store on ``container_name`` of the account at ``account_url``, with
        ``credential`` (default: ``DefaultAzureCredential()``; also an account name and key,
        or a SAS token string)."""
        if not container_name or "/" in container_name:
            raise ValueError(f"invalid container name {container_name!r}")
        own_credential = None
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = own_credential = DefaultAzureCredential()
        container = ContainerClient(
            account_url, container_name, credential=credential, **client_options
        )
        store = cls(container, prefix=prefix, limits=limits, owned=True)
        store._credential = own_credential
        return store

    @property
    def container_name(self) -> str:
        return str(self.container.container_name)

    async def put(self, sender_uid: str, payload: bytes) -> str:
        """Store ``payload``; return the pointer ``<container>/<blob name>``."""
        name = f"{self.prefix}{sender_uid}/{secrets.token_hex(16)}"
        await self.container.upload_blob(name, payload, overwrite=False)
        return f"{self.container_name}/{name}"

    async def get(self, pointer: str) -> bytes:
        """The payload ``pointer`` names; :class:`DecodeError` when it is not acceptable."""
        container, _, name = pointer.partition("/")
        # The pointer comes from the broker: fetch only what our own cluster can have stored.
        if (
            container != self.container_name
            or not name.startswith(self.prefix)
            or len(name) > _MAX_BLOB_NAME
            or ".." in name
        ):
            raise DecodeError(f"payload pointer outside {self.container_name}/{self.prefix}")
        limit = self.limits.max_message_size
        try:
            download = await self.container.download_blob(name)
            if download.size > limit:
                raise DecodeError(f"payload of {download.size} bytes exceeds {limit}")
            data = await download.readall()
        except ResourceNotFoundError:
            raise DecodeError(f"payload {pointer} is gone (expired?)") from None
        except AzureError as exc:
            raise DecodeError(f"cannot fetch payload {pointer}: {exc}") from None
        if len(data) > limit:
            raise DecodeError(f"payload exceeds {limit} bytes")
        return bytes(data)

    async def close(self) -> None:
        await self.container.close()
        if self._credential is not None:
            await self._credential.close()
