"""A Socket.IO app of your own, one node of a socketio-cloud cluster.

It keeps the container contract of the "Deploy your own app" guide: listens on PORT, answers
GET /healthz with 200 once its node joined the cluster (503 before), takes the broker from
the SIO_* variables, and on SIGTERM closes its manager before the process ends.
"""

import os
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
import uvicorn

import socketio_cloud

mgr = socketio_cloud.from_env()  # SIO_BACKEND, SIO_TOPIC_ARN, ... (memory without any)
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)


@sio.event
async def chat(sid: str, text: str) -> None:
    await sio.emit("chat", {"from": sid, "text": text})  # every client on every node


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def web(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Everything but /socket.io/: the lifespan events and GET /healthz."""
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                try:
                    await mgr.ready()  # a wrong topic or region stops the start here
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await mgr.close()  # leave notice, queue and subscription deleted
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        ok = scope["path"] == "/healthz" and mgr.is_ready
        status = 200 if ok else (503 if scope["path"] == "/healthz" else 404)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if ok else b""})


app = socketio.ASGIApp(sio, other_asgi_app=web)

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="0.0.0.0",  # the load balancer reaches the container from outside
        port=int(os.environ.get("PORT", "8000")),
        # open connections get this long after SIGTERM; close() runs after them
        timeout_graceful_shutdown=int(os.environ.get("SHUTDOWN_SECONDS", "10")),
        ws_per_message_deflate=False,
    )
