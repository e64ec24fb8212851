"""ServiceBusDouble: one port on 127.0.0.1 serving AMQP (plain) and HTTPS management (TLS).

The SDKs, given ``UseDevelopmentEmulator=true``, open plain AMQP to the endpoint's host:port
and the administration client opens HTTPS to the same host:port. The listener peeks at the
first byte of each connection: ``0x16`` (a TLS handshake record) goes to the management API,
anything else (``A`` of the AMQP header) to the AMQP endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .amqp import AmqpConnection
from .management import ManagementApi
from .namespace import Namespace, Subscription

TLS_RECORD_HANDSHAKE = 0x16
T = TypeVar("T")


def _self_signed(directory: str) -> tuple[str, str]:
    """Write a self-signed certificate for 127.0.0.1/localhost; return (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "servicebus-double")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "servicebus-double.pem")
    key_path = os.path.join(directory, "servicebus-double.key")
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class ServiceBusDouble:
    """A loopback Service Bus namespace for tests; see the package docstring for its scope.

    ``idle_scale`` multiplies every subscription's ``auto_delete_on_idle`` (Service Bus's
    minimum is 5 minutes; ``idle_scale=0.01`` turns that into 3 seconds).
    Use from one event loop: ``await start()``, ``await stop()``; entities survive a restart.
    """

    def __init__(
        self,
        namespace: str = "sbdouble",
        key_name: str = "RootManageSharedAccessKey",
        key: str | None = None,
        port: int = 0,
        idle_scale: float = 1.0,
        sweep_interval: float = 0.05,
    ) -> None:
        self.namespace_name = namespace
        self.key_name = key_name
        self.key = key or base64.b64encode(os.urandom(32)).decode()
        self.port = port
        self.sweep_interval = sweep_interval
        self.state = Namespace(idle_scale=idle_scale)
        self._directory = tempfile.mkdtemp(prefix="servicebus-double-")
        self.ca_file, self._key_file = _self_signed(self._directory)
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ssl.load_cert_chain(self.ca_file, self._key_file)
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connections: set[AmqpConnection] = set()
        self._http: web.Server | None = None
        self._http_transports: set[asyncio.Transport] = set()

    # --- connection strings ------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"sb://127.0.0.1:{self.port}/"

    @property
    def connection_string(self) -> str:
        """For ``ServiceBusClient`` and ``ServiceBusAdministrationClient`` (and the JS SDK)."""
        return self.connection_string_with(self.key_name, self.key)

    admin_connection_string = connection_string

    def connection_string_with(self, key_name: str, key: str) -> str:
        """The same endpoint with other credentials (e.g. a wrong key)."""
        return (
            f"Endpoint={self.endpoint};SharedAccessKeyName={key_name};"
            f"SharedAccessKey={key};UseDevelopmentEmulator=true"
        )

    @property
    def keys(self) -> dict[str, str]:
        return {self.key_name: self.key}

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (on the same port after a restart) and serve until :meth:`stop`."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        api = ManagementApi(self.state, self.keys, f"127.0.0.1:{self.port}")
        self._http = web.Server(api.handle)
        self._spawn(self._accept(listener))
        self._spawn(self._sweep())

    async def stop(self) -> None:
        """Close the port and every connection; keep entities and their messages."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for connection in list(self._connections):
            connection.close_transport()
        for transport in list(self._http_transports):
            transport.abort()
        self._http_transports.clear()
        if self._http is not None:
            await self._http.shutdown(0.5)
            self._http = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def __aenter__(self) -> ServiceBusDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(listener)
            self._spawn(self._route(client))

    async def _route(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        client.setblocking(False)
        readable: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(client.fileno(), on_readable)
        try:
            await asyncio.wait_for(readable, timeout=30)
        except asyncio.TimeoutError:
            client.close()
            return
        finally:
            loop.remove_reader(client.fileno())
        try:
            first = client.recv(1, socket.MSG_PEEK)
        except OSError:
            client.close()
            return
        if not first:
            client.close()
            return
        if first[0] == TLS_RECORD_HANDSHAKE and self._http is not None:
            transport, _ = await loop.connect_accepted_socket(self._http, client, ssl=self._ssl)
            self._http_transports = {t for t in self._http_transports if not t.is_closing()}
            self._http_transports.add(transport)
            return
        reader, writer = await asyncio.open_connection(sock=client, limit=2**20)
        connection = AmqpConnection(
            reader, writer, self.state, self.keys, on_closed=self._connections.discard
        )
        self._connections.add(connection)
        await connection.serve()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.state.sweep()

    # --- inspection and interference from tests ----------------------------------------------

    def subscription(self, topic: str, name: str) -> Subscription | None:
        """The live subscription object (message counts, deliveries, accessed_at, rules)."""
        return self.state.subscription(topic, name)

    def topics(self) -> dict[str, list[str]]:
        """Topic name -> its subscription names."""
        return {
            t.name: [s.name for s in t.subscriptions.values()] for t in self.state.topics.values()
        }

    def delete_subscription(self, topic: str, name: str) -> bool:
        """Delete a subscription behind the clients' back (receivers get ``amqp:not-found``)."""
        return self.state.delete_subscription(topic, name)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def cleanup_files(self) -> None:
        for path in (self.ca_file, self._key_file):
            with contextlib.suppress(OSError):
                os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(self._directory)


class ServiceBusDoubleThread:
    """Runs a :class:`ServiceBusDouble` on its own event loop in a daemon thread.

    This lets one double serve tests that each run on their own event loop (pytest-asyncio's
    function-scoped loops). ``await stop()`` / ``await start()`` work from any loop; ``call``
    runs a function on the double's loop (use it to inspect or change state safely).
    """

    def __init__(self, double: ServiceBusDouble) -> None:
        self.double = double
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    def open(self) -> ServiceBusDoubleThread:
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="servicebus-double", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.double.start(), self._loop).result(10)
        return self

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.double.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self.double.cleanup_files()

    async def stop(self) -> None:
        """Drop every connection and close the port (entities are kept)."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.double.stop(), self._loop))

    async def start(self) -> None:
        """Listen again on the same port."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.double.start(), self._loop))

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the double's loop and return its result."""

        async def run() -> T:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def subscription_snapshot(self, topic: str, name: str) -> dict[str, Any] | None:
        """Counters of one subscription, read on the double's loop (None once deleted)."""

        def snapshot() -> dict[str, Any] | None:
            found = self.double.subscription(topic, name)
            if found is None:
                return None
            return {
                "active": found.active_message_count,
                "available": len(found.available),
                "locked": len(found.locked),
                "dead_lettered": len(found.dead_letters),
                "deliveries": found.deliveries,
                "completed": found.completed,
                "receivers": len(found.consumers),
                "accessed_at": found.accessed_at,
                "rules": sorted(rule.name for rule in found.rules.values()),
            }

        return self.call(snapshot)

    def delete_subscription(self, topic: str, name: str) -> bool:
        return self.call(self.double.delete_subscription, topic, name)

    def topics(self) -> dict[str, list[str]]:
        return self.call(self.double.topics)

    @property
    def connection_string(self) -> str:
        return self.double.connection_string

    @property
    def admin_connection_string(self) -> str:
        return self.double.admin_connection_string

    @property
    def ca_file(self) -> str:
        return self.double.ca_file

    @property
    def port(self) -> int:
        return self.double.port

    def connection_string_with(self, key_name: str, key: str) -> str:
        return self.double.connection_string_with(key_name, key)
