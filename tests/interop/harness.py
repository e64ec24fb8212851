"""A mixed cluster for the interop tests: Node servers driven over stdin/stdout, Python servers
(our manager under uvicorn) in the test's event loop, and python-socketio clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from socketio_cloud.cluster import ClusterManager
from socketio_cloud.transports.redis_streams import RedisStreamsEmitter, RedisStreamsManager
from tests.support.services import InProcessServer, wait_until

INTEROP_DIR = Path(__file__).resolve().parent
NODE_MODULES = INTEROP_DIR / "node_modules"
CALL_TIMEOUT = 15.0


REDIS_PACKAGES = ("@socket.io/redis-streams-adapter", "redis")
POSTGRES_PACKAGES = ("@socket.io/postgres-adapter", "@socket.io/postgres-emitter", "pg")


def node_missing(packages: tuple[str, ...] = REDIS_PACKAGES) -> str | None:
    """Why the Node peers cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed"
    for package in ("socket.io", "socket.io-client", *packages):
        if not (NODE_MODULES / package / "package.json").exists():
            return f"npm package {package} is missing (run scripts/bootstrap)"
    return None


def to_wire(value: Any) -> Any:
    """bytes → {"$bin": base64}, recursively (the Node scripts' JSON convention)."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bin": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """The reverse of :func:`to_wire`."""
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"} and isinstance(value["$bin"], str):
            return base64.b64decode(value["$bin"])
        return {key: from_wire(item) for key, item in value.items()}
    return value


class NodeError(Exception):
    """A command failed inside the Node process."""


class NodeProcess:
    """A Node script speaking JSON lines: commands with ids in, results and events out."""

    def __init__(self, script: str, options: dict[str, Any]) -> None:
        self.script = script
        self.options = options
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, timeout: float = 20.0) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "node",
            str(INTEROP_DIR / self.script),
            json.dumps(self.options),
            cwd=INTEROP_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]
        await self.wait_event(lambda e: e["event"] == "ready", timeout=timeout)

    async def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            message = from_wire(json.loads(line))
            if "event" in message:
                self.events.append(message)
            else:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(NodeError(message["error"]))
                    else:
                        future.set_result(message.get("result"))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NodeError(f"{self.script} exited: {self.stderr[-5:]}"))

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for line in self._process.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())
            print(f"[{self.script}] {self.stderr[-1]}", file=sys.stderr)

    async def call(self, cmd: str, **args: Any) -> Any:
        """Run a command in the Node process and return its result."""
        assert self._process is not None and self._process.stdin is not None
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        request = {"id": self._next_id, "cmd": cmd, **to_wire(args)}
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        await self._process.stdin.drain()
        return await asyncio.wait_for(future, CALL_TIMEOUT)

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first event matching ``predicate``, waiting for it if needed."""
        await wait_until(
            lambda: any(predicate(e) for e in self.events) or self._exited(),
            timeout=timeout,
            message=f"an event from {self.script}",
        )
        for event in self.events:
            if predicate(event):
                return event
        raise AssertionError(f"{self.script} exited: {self.stderr[-10:]}")

    def _exited(self) -> bool:
        return self._process is None or self._process.returncode is not None

    @property
    def port(self) -> int:
        for event in self.events:
            if event["event"] == "ready":
                return int(event["port"])
        raise RuntimeError("not ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            assert process.stdin is not None
            with contextlib.suppress(ConnectionError):
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


class PythonServer:
    """A python-socketio server on ``manager`` (default: a :class:`RedisStreamsManager` made
    from ``manager_options``), served by uvicorn.

    It accepts every namespace. Connecting clients pass ``auth = {"name": ..., "rooms": [...]}``:
    the socket joins the rooms, and its session (Node: ``socket.data``) is
    ``{"origin": "python", "name": ...}``. Server-side events ``hello`` and ``ping`` on "/"
    are recorded and answered with ``"<server name>:<event>"``.
    """

    def __init__(
        self, name: str, manager: ClusterManager | None = None, **manager_options: Any
    ) -> None:
        self.name = name
        self.manager = manager or RedisStreamsManager(**manager_options)
        self.sio = socketio.AsyncServer(
            async_mode="asgi", client_manager=self.manager, namespaces="*"
        )
        self.server_events: list[tuple[str, list[Any]]] = []
        self._server: InProcessServer | None = None

        @self.sio.on("connect", namespace="*")
        async def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
            auth = auth if isinstance(auth, dict) else {}
            session = {"origin": "python", "name": auth.get("name")}
            await self.sio.save_session(sid, session, namespace=namespace)
            for room in auth.get("rooms", []):
                await self.sio.enter_room(sid, room, namespace=namespace)

        for event in ("hello", "ping"):
            self.manager.on_server_event(event)(self._server_event_handler(event))

    def _server_event_handler(self, event: str) -> Callable[..., str]:
        def handle(*args: Any) -> str:
            self.server_events.append((event, list(args)))
            return f"{self.name}:{event}"

        return handle

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self.manager.ready()
        self._server = InProcessServer(socketio.ASGIApp(self.sio), self.name)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        await self.manager.close()

    def local_rooms(self, sid: str, namespace: str = "/") -> set[str]:
        return set(self.sio.rooms(sid, namespace=namespace))


class Client:
    """A python-socketio client of one namespace that records every event and acknowledges
    each one with ``"<client name>:<event>"``."""

    def __init__(self, name: str, namespace: str = "/") -> None:
        self.name = name
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, list[Any]]] = []
        self.disconnected = asyncio.Event()

        async def any_event(event: str, *args: Any) -> str:
            self.events.append((event, list(args)))
            return f"{self.name}:{event}"

        async def disconnect(reason: Any = None) -> None:
            self.disconnected.set()

        self.sio.on("*", any_event, namespace=namespace)
        self.sio.on("disconnect", disconnect, namespace=namespace)

    async def connect(self, url: str, rooms: tuple[str, ...] = ()) -> None:
        await self.sio.connect(
            url,
            namespaces=[self.namespace],
            auth={"name": self.name, "rooms": list(rooms)},
            transports=["websocket"],
            wait_timeout=10,
        )

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid(self.namespace)
        assert sid is not None
        return str(sid)

    def received(self, event: str) -> list[list[Any]]:
        return [args for name, args in self.events if name == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@dataclass
class MixedCluster:
    """One Node server and two Python servers of one cluster, plus what the test made."""

    node: NodeProcess
    py1: PythonServer
    py2: PythonServer
    names: dict[str, str]
    redis_url: str = ""
    clients: list[Client] = field(default_factory=list)
    emitters: list[Any] = field(default_factory=list)
    #: makes the cluster's Python emitter (default: a Redis Streams emitter)
    make_emitter: Callable[[], Any] | None = None

    async def client(
        self, server: NodeProcess | PythonServer, name: str, *rooms: str, namespace: str = "/"
    ) -> Client:
        """A connected client of ``server`` in ``rooms``."""
        client = Client(name, namespace)
        await client.connect(server.url, rooms)
        self.clients.append(client)
        return client

    def emitter(self) -> Any:
        if self.make_emitter is not None:
            emitter = self.make_emitter()
        else:
            emitter = RedisStreamsEmitter(url=self.redis_url, stream_name=self.names["stream_name"])
        self.emitters.append(emitter)
        return emitter

    async def node_count(self) -> int:
        return int(await self.node.call("serverCount"))
