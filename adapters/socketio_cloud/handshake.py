"""Builds the Node-style ``handshake`` of a socket from python-socketio's WSGI-like environ.

Node's ``socket.handshake`` is what ``fetchSockets()`` reports for every socket (PROTOCOL.md
§1.4); Python nodes report the same shape so that Node peers can read it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

_SPECIAL_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


# Handshakes are built in bulk, for every socket of a node at its first fetch_sockets:
# the parts that repeat from socket to socket (header names, query strings, the second a
# burst of sockets connected in) are worked out once. Each cache is bounded.
_CACHE_SIZE = 512
_header_names: dict[str, str | None] = {}
_queries: dict[str, dict[str, Any]] = {}
_dates: dict[int, str] = {}


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


def js_date_string(epoch_seconds: float) -> str:
    """The text of JavaScript's ``Date.prototype.toString()`` for a UTC clock."""
    second = int(epoch_seconds // 1)
    text = _dates.get(second)
    if text is None:
        stamp = time.gmtime(second)
        text = time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", stamp)
        _bounded_put(_dates, second, text)
    return text


def _header_name(key: Any) -> str | None:
    """Node's header name for an environ key (None: not a header)."""
    if not isinstance(key, str):
        return None
    if key.startswith("HTTP_"):
        return key[5:].replace("_", "-").lower()
    return _SPECIAL_HEADERS.get(key)


def _headers(environ: Mapping[str, Any]) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    names = _header_names
    for key, value in environ.items():
        try:
            name = names[key]
        except KeyError:
            name = _header_name(key)
            _bounded_put(names, key, name)
        if name is None or not isinstance(value, str):
            continue
        headers[name] = [value] if name == "set-cookie" else value
    return headers


def _address(environ: Mapping[str, Any]) -> str:
    scope = environ.get("asgi.scope")
    if isinstance(scope, Mapping):
        client = scope.get("client")
        if client:
            return str(client[0])
    peer = environ.get("REMOTE_ADDR")
    return str(peer) if peer else ""


def _query(query_string: str) -> dict[str, Any]:
    parsed = _queries.get(query_string)
    if parsed is None:
        pairs = parse_qs(query_string, keep_blank_values=True)
        # Node's querystring parser keeps a single value as a string and repeats as an array
        parsed = {key: values[0] if len(values) == 1 else values for key, values in pairs.items()}
        _bounded_put(_queries, query_string, parsed)
    # each handshake gets maps and lists of its own
    return {key: list(value) if type(value) is list else value for key, value in parsed.items()}


def build_handshake(
    environ: Mapping[str, Any] | None, *, issued_ms: int, auth: Any = None
) -> dict[str, Any]:
    """The handshake map of one socket."""
    environ = environ or {}
    path = str(environ.get("PATH_INFO", ""))
    query_string = str(environ.get("QUERY_STRING", ""))
    url = f"{path}?{query_string}" if query_string else path
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    scope = environ.get("asgi.scope")
    if isinstance(scope, Mapping) and scope.get("scheme"):
        scheme = str(scope["scheme"])
    return {
        "headers": _headers(environ),
        "time": js_date_string(issued_ms / 1000.0),
        "address": _address(environ),
        "xdomain": "HTTP_ORIGIN" in environ,
        "secure": scheme in ("https", "wss"),
        "issued": issued_ms,
        "url": url,
        "query": _query(query_string),
        "auth": auth if isinstance(auth, Mapping) else {},
    }
