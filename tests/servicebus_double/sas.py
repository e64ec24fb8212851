"""Shared access signature tokens: make them (for tests) and check them (for the double)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote_plus, urlencode


class InvalidToken(ValueError):
    """A token that is malformed, signed with another key, for another key name, or expired."""


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: a resource URI prefix until an expiry (Unix seconds)."""

    resource: str
    expires_at: int

    def covers(self, path: str) -> bool:
        """Whether the token's resource (``sb://host/a``) is a prefix of entity path ``a/b``."""
        resource = self.resource.split("://", 1)[-1]
        resource_path = resource.split("/", 1)[1] if "/" in resource else ""
        prefix = resource_path.strip("/").lower()
        target = path.strip("/").lower()
        return not prefix or target == prefix or target.startswith(prefix + "/")


def make_token(resource: str, key_name: str, key: str, expires_at: int | None = None) -> str:
    """A ``SharedAccessSignature ...`` token, signed the way the Azure SDKs sign."""
    expiry = int(expires_at if expires_at is not None else time.time() + 3600)
    signed = f"{quote_plus(resource)}\n{expiry}".encode()
    signature = base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest())
    query = urlencode({"sr": resource, "sig": signature, "se": str(expiry), "skn": key_name})
    return "SharedAccessSignature " + query


def verify_token(token: str, keys: dict[str, str], now: float | None = None) -> Grant:
    """Check ``token`` against ``keys`` (key name -> key); return what it grants."""
    prefix = "SharedAccessSignature "
    if not token.startswith(prefix):
        raise InvalidToken("not a shared access signature")
    fields: dict[str, str] = {}
    for part in token[len(prefix) :].split("&"):
        name, _, value = part.partition("=")
        fields[name] = value  # still URL-encoded: the signature covers the encoded resource
    try:
        raw_resource, signature, expiry = fields["sr"], unquote_plus(fields["sig"]), fields["se"]
        key_name = unquote_plus(fields["skn"])
        expires_at = int(expiry)
    except (KeyError, ValueError) as exc:
        raise InvalidToken("missing or malformed sr/sig/se/skn") from exc
    key = keys.get(key_name)
    if key is None:
        raise InvalidToken(f"unknown key name {key_name!r}")
    expected = base64.b64encode(
        hmac.new(key.encode(), f"{raw_resource}\n{expiry}".encode(), hashlib.sha256).digest()
    ).decode()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("signature does not match")
    if expires_at <= (time.time() if now is None else now):
        raise InvalidToken("token expired")
    return Grant(resource=unquote_plus(raw_resource), expires_at=expires_at)
