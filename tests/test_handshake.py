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


def test_handshakes_built_from_the_same_request_shape_share_nothing_mutable() -> None:
    environ = {"QUERY_STRING": "EIO=4&tag=a&tag=b", "HTTP_USER_AGENT": "tests"}
    first = build_handshake(environ, issued_ms=1_700_000_000_100)
    second = build_handshake(environ, issued_ms=1_700_000_000_900)
    assert first["query"] == second["query"] == {"EIO": "4", "tag": ["a", "b"]}
    first["query"]["tag"].append("c")
    first["headers"]["user-agent"] = "changed"
    assert second["query"] == {"EIO": "4", "tag": ["a", "b"]}
    assert build_handshake(environ, issued_ms=0)["headers"] == {"user-agent": "tests"}
    # the same second, and the next one
    assert first["time"] == second["time"] == js_date_string(1_700_000_000.5)
    assert js_date_string(1_700_000_001) != first["time"]


def test_many_request_shapes_are_all_parsed_right() -> None:
    # more shapes than the caches hold
    for index in range(1_500):
        handshake = build_handshake(
            {"QUERY_STRING": f"n={index}", f"HTTP_X_{index}": "v"}, issued_ms=index * 1_000
        )
        assert handshake["query"] == {"n": str(index)}
        assert handshake["headers"] == {f"x-{index}": "v"}
        assert handshake["time"] == js_date_string(index)
