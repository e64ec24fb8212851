"""The Node-style handshake built from python-socketio's environ."""

from __future__ import annotations

from socketio_cloud.handshake import build_handshake, js_date_string


def test_js_date_string_matches_javascript_format() -> None:
    assert js_date_string(0) == "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"


def test_handshake_from_an_asgi_environ() -> None:
    environ = {
        "PATH_INFO": "/socket.io/",
        "QUERY_STRING": "EIO=4&transport=websocket&tag=a&tag=b",
        "HTTP_ORIGIN": "http://example.test",
        "HTTP_USER_AGENT": "tests",
        "HTTP_SET_COOKIE": "k=v",
        "CONTENT_TYPE": "text/plain",
        "REMOTE_ADDR": "127.0.0.1",
        "asgi.scope": {"client": ("10.1.2.3", 5555), "scheme": "wss"},
    }
    handshake = build_handshake(environ, issued_ms=1_700_000_000_123, auth={"token": "t"})
    assert handshake["headers"] == {
        "origin": "http://example.test",
        "user-agent": "tests",
        "set-cookie": ["k=v"],
        "content-type": "text/plain",
    }
    assert handshake["address"] == "10.1.2.3"
    assert handshake["xdomain"] is True
    assert handshake["secure"] is True
    assert handshake["issued"] == 1_700_000_000_123
    assert handshake["url"] == "/socket.io/?EIO=4&transport=websocket&tag=a&tag=b"
    assert handshake["query"] == {"EIO": "4", "transport": "websocket", "tag": ["a", "b"]}
    assert handshake["auth"] == {"token": "t"}


def test_handshake_without_environ_or_auth() -> None:
    handshake = build_handshake(None, issued_ms=0, auth="not a map")
    assert handshake["auth"] == {}
    assert handshake["headers"] == {} and handshake["xdomain"] is False
