"""The S3 payload store: cluster messages larger than SNS accepts, carried through a bucket.

An implementation of :class:`socketio_cloud.offload.PayloadStore`, used by the transport
through :class:`socketio_cloud.offload.Offload`.

SNS takes at most 256 KiB per message, body and attributes together. With a
``large_payload_bucket``, the AWS transport stores the msgpack ``data`` of a larger message
as an S3 object ``<prefix><sender uid>/<random hex>`` and publishes the message with a
String attribute ``dataS3`` = ``<bucket>/<key>`` in place of the Binary ``data`` attribute.
Receivers fetch the object, refusing pointers outside their own bucket and prefix and
objects larger than :attr:`Limits.max_message_size <socketio_cloud.protocol.Limits>`.

This is our extension: Node's AWS adapter cannot read such messages (it ignores them), so in
a cluster with Node nodes keep messages under the limit. Every node and emitter of a cluster
must name the same bucket.

Objects are not deleted by the receivers (each node reads them once, and no one knows when
the last did): a lifecycle rule on the bucket expires them after a day. Deployments create
the rule with the bucket (the CDK app does); :meth:`S3PayloadStore.ensure_lifecycle_rule`
adds it when the node may change the bucket's lifecycle configuration.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from ...brokers.aws import error_code
from ...exceptions import DecodeError
from ...protocol import Limits
from .calls import AwsCalls

__all__ = ["LIFECYCLE_RULE_ID", "S3PayloadStore"]

logger = logging.getLogger("socketio_cloud.transports.aws.payloads")

LIFECYCLE_RULE_ID = "socketio-cloud-payloads"


class S3PayloadStore:
    """Stores and fetches large ``data`` payloads in ``bucket`` under ``prefix`` (a
    :class:`~socketio_cloud.offload.PayloadStore`)."""

    def __init__(
        self, calls: AwsCalls, bucket: str, *, prefix: str = "socketio-cloud/", limits: Limits
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid bucket name {bucket!r}")
        self.calls = calls
        self.bucket = bucket
        self.prefix = prefix
        self.limits = limits

    async def put(self, sender_uid: str, payload: bytes) -> str:
        """Store ``payload`` and return the pointer to publish."""
        key = f"{self.prefix}{sender_uid}/{secrets.token_hex(16)}"
        await self.calls.call(
            "s3",
            "PutObject",
            Bucket=self.bucket,
            Key=key,
            Body=payload,
            ContentType="application/x-msgpack",
        )
        return f"{self.bucket}/{key}"

    async def get(self, pointer: str) -> bytes:
        """Fetch the payload a pointer names; :class:`DecodeError` if it is not acceptable."""
        bucket, _, key = pointer.partition("/")
        # The pointer comes from the broker: fetch only what our own cluster can have stored.
        if bucket != self.bucket or not key.startswith(self.prefix) or len(key) > 1024:
            raise DecodeError(f"payload pointer outside {self.bucket}/{self.prefix}")
        limit = self.limits.max_message_size

        def fetch() -> bytes:
            reply = self.calls.client("s3").get_object(Bucket=self.bucket, Key=key)
            body = reply["Body"]
            try:
                if int(reply.get("ContentLength") or 0) > limit:
                    raise DecodeError(f"payload of {reply['ContentLength']} bytes exceeds {limit}")
                data: bytes = body.read(limit + 1)
            finally:
                body.close()
            if len(data) > limit:
                raise DecodeError(f"payload exceeds {limit} bytes")
            return data

        try:
            return await self.calls.run("s3:GetObject", fetch)
        except DecodeError:
            raise
        except Exception as exc:
            # Expired, deleted or unreadable: the message cannot be delivered.
            raise DecodeError(f"cannot fetch payload {pointer}: {exc}") from None

    async def ensure_lifecycle_rule(self, expiration_days: int = 1) -> bool:
        """Add a rule expiring our objects after ``expiration_days`` unless one exists.

        The bucket's other rules are kept. Returns whether the rule is in place; failures
        (no permission, most often) are logged, not raised.
        """
        try:
            try:
                reply = await self.calls.call(
                    "s3", "GetBucketLifecycleConfiguration", Bucket=self.bucket
                )
                rules: list[dict[str, Any]] = list(reply.get("Rules", []))
            except Exception as exc:
                if error_code(exc) != "NoSuchLifecycleConfiguration":
                    raise
                rules = []
            if any(rule.get("ID") == LIFECYCLE_RULE_ID for rule in rules):
                return True
            rules.append(
                {
                    "ID": LIFECYCLE_RULE_ID,
                    "Filter": {"Prefix": self.prefix},
                    "Status": "Enabled",
                    "Expiration": {"Days": expiration_days},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            )
            await self.calls.call(
                "s3",
                "PutBucketLifecycleConfiguration",
                Bucket=self.bucket,
                LifecycleConfiguration={"Rules": rules},
            )
            logger.info("added lifecycle rule %s to bucket %s", LIFECYCLE_RULE_ID, self.bucket)
            return True
        except Exception as exc:
            logger.warning(
                "could not set up the expiry of large payloads in bucket %s (%s); "
                "give the bucket a lifecycle rule for the prefix %r",
                self.bucket,
                exc,
                self.prefix,
            )
            return False
