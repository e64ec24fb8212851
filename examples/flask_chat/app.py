"""A Flask-SocketIO chat whose nodes form one cluster over Redis Streams or AWS SNS + SQS.

Run two nodes on different ports with the same broker settings; clients of either node see
each other's messages, rooms and presence. Configuration (environment variables):

    ASYNC_MODE      threading (default), eventlet or gevent
    BROKER          redis (default) or aws
    PORT            HTTP port (default 5000); NODE_NAME names the node in replies
    REDIS_URL       (redis) default redis://127.0.0.1:6379/0
    STREAM_NAME     (redis) default socket.io; CHANNEL_PREFIX default socket.io
    TOPIC_NAME      (aws) default socket-io; QUEUE_PREFIX default socket-io; AWS_ENDPOINT_URL,
                    AWS_DEFAULT_REGION and credentials as boto3 reads them
    HEARTBEAT_INTERVAL  seconds (default 5)
"""

import os

ASYNC_MODE = os.environ.get("ASYNC_MODE", "threading")
# monkey-patching must come first, before anything imports socket or threading
if ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import logging  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, join_room, leave_room  # noqa: E402

from socketio_cloud import sync  # noqa: E402

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
NODE_NAME = os.environ.get("NODE_NAME", f"node-{os.getpid()}")
HEARTBEAT_INTERVAL = float(os.environ.get("HEARTBEAT_INTERVAL", "5"))


def make_manager() -> sync.SyncClusterManager:
    """The cluster manager of the configured broker (the one line that differs from a
    single-server app)."""
    broker = os.environ.get("BROKER", "redis")
    if broker == "redis":
        return sync.RedisStreamsManager(
            url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            stream_name=os.environ.get("STREAM_NAME", "socket.io"),
            channel_prefix=os.environ.get("CHANNEL_PREFIX", "socket.io"),
            heartbeat_interval=HEARTBEAT_INTERVAL,
        )
    if broker == "aws":
        return sync.AwsSqsManager(
            topic_name=os.environ.get("TOPIC_NAME", "socket-io"),
            queue_prefix=os.environ.get("QUEUE_PREFIX", "socket-io"),
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            wait_time=int(os.environ.get("SQS_WAIT_TIME", "20")),
            heartbeat_interval=HEARTBEAT_INTERVAL,
        )
    raise SystemExit(f"unknown BROKER {broker!r}")


app = Flask(__name__)
manager = make_manager()
socketio = SocketIO(app, async_mode=ASYNC_MODE, client_manager=manager)
names: dict[str, str] = {}


@app.get("/health")
def health():
    servers = manager.server_count() if manager.is_ready else 0
    return jsonify(node=NODE_NAME, uid=manager.uid, ready=manager.is_ready, servers=servers)


@socketio.on("connect")
def on_connect(auth):
    name = (auth or {}).get("name") or request.sid
    names[request.sid] = name
    socketio.server.save_session(request.sid, {"name": name})


@socketio.on("disconnect")
def on_disconnect(*args):
    names.pop(request.sid, None)


@socketio.on("join")
def on_join(room):
    join_room(room)
    return True


@socketio.on("leave")
def on_leave(room):
    leave_room(room)
    return True


@socketio.on("say")
def on_say(message):
    """Broadcast to a room (or everyone), across every node."""
    payload = {"from": names.get(request.sid), "text": message["text"], "node": NODE_NAME}
    socketio.emit("said", payload, to=message.get("room"))
    return True


@socketio.on("invite")
def on_invite(message):
    """Put another socket, wherever it is connected, in a room."""
    socketio.server.enter_room(message["sid"], message["room"])
    return True


@socketio.on("expel")
def on_expel(message):
    socketio.server.leave_room(message["sid"], message["room"])
    return True


@socketio.on("kick")
def on_kick(sid):
    socketio.server.disconnect(sid)
    return True


@socketio.on("who")
def on_who(room=None):
    """Everyone in a room (or connected), on every node."""
    return [
        {"sid": s.id, "name": (s.data or {}).get("name"), "rooms": sorted(s.rooms)}
        for s in manager.fetch_sockets(room)
    ]


@socketio.on("poll")
def on_poll(message):
    """Ask every member of a room a question and return their answers."""
    return manager.to(message["room"]).timeout(5).emit_with_ack("question", message["text"])


@socketio.on("servers")
def on_servers():
    """Ask the other nodes who they are (server-side emit with acknowledgements)."""
    return {
        "count": manager.server_count(),
        "others": manager.server_side_emit_with_ack("hello", NODE_NAME, timeout=5),
    }


@manager.on_server_event("hello")
def on_hello(asker):
    return {"node": NODE_NAME, "clients": len(names), "asker": asker}


def main() -> None:
    manager.ready()
    manager.close_on_signals()  # SIGTERM/SIGINT: leave the cluster, delete the node's queue
    port = int(os.environ.get("PORT", "5000"))
    logging.getLogger("flask_chat").warning("%s (%s) on port %s", NODE_NAME, ASYNC_MODE, port)
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    main()
