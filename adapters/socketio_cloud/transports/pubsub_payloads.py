"""Large payloads of the Pub/Sub transport, in a Cloud Storage bucket.

A message over Pub/Sub's 10 MB goes as its envelope plus the attribute ``payloadRef`` =
``gs://<bucket>/<prefix><sender uid>/<random>``; the object holds the msgpack of the
message's ``data`` map. Objects are never deleted by receivers: give the bucket a lifecycle
rule that deletes objects under the prefix after a day.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from ..exceptions import DecodeError
from ..protocol import DEFAULT_LIMITS, Limits

__all__ = ["GcsPayloadStore"]

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


class GcsPayloadStore:
    """A :class:`~socketio_cloud.offload.PayloadStore` in a Cloud Storage bucket.

    :param bucket: the bucket's name.
    :param prefix: where objects go in the bucket (a lifecycle rule should expire them).
    :param client: a ``google.cloud.storage.Client`` (default: one made from the
        environment's credentials on first use).
    :param limits: receivers' bounds: larger objects are refused on ``get``.

    Needs ``storage.objects.create`` (senders) and ``storage.objects.get`` (receivers) on
    the bucket. The client is blocking; calls run in the default thread pool.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "socketio-cloud/",
        client: Any = None,
        limits: Limits | None = None,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError("bucket: a bucket name, without gs:// or a path")
        if prefix and not _SAFE_KEY.match(prefix):
            raise ValueError("prefix: letters, digits and _ . / - only")
        self.bucket = bucket
        self.prefix = prefix
        self.limits = limits or DEFAULT_LIMITS
        self._client = client

    def _bucket(self) -> Any:
        if self._client is None:
            from google.cloud import storage

            self._client = storage.Client()
        return self._client.bucket(self.bucket)

    async def put(self, sender_uid: str, payload: bytes) -> str:
        key = f"{self.prefix}{sender_uid}/{secrets.token_hex(16)}"
        if not _SAFE_KEY.match(key):
            raise ValueError(f"unsafe object name {key!r}")

        def upload() -> None:
            blob = self._bucket().blob(key)
            blob.upload_from_string(payload, content_type="application/x-msgpack")

        await asyncio.to_thread(upload)
        return f"gs://{self.bucket}/{key}"

    def key_of(self, pointer: str) -> str:
        """The object name a pointer names, if it is one of this store's."""
        head = f"gs://{self.bucket}/{self.prefix}"
        if not pointer.startswith(head):
            raise DecodeError("the payload pointer is outside the configured bucket and prefix")
        key = pointer[len(f"gs://{self.bucket}/") :]
        if not _SAFE_KEY.match(key) or ".." in key:
            raise DecodeError("the payload pointer names an unsafe object")
        return key

    async def get(self, pointer: str) -> bytes:
        key = self.key_of(pointer)
        limit = self.limits.max_message_size

        def download() -> bytes:
            blob = self._bucket().get_blob(key)
            if blob is None:
                raise DecodeError(f"payload object {key} does not exist")
            if blob.size is not None and blob.size > limit:
                raise DecodeError(f"payload object of {blob.size} bytes exceeds {limit}")
            return bytes(blob.download_as_bytes())

        return await asyncio.to_thread(download)
