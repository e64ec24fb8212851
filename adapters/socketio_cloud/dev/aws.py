"""An AWS stand-in for local runs: moto's server in this process, on 127.0.0.1.

``socketio-cloud dev aws`` serves it for library users; the reference demo (``make demo``)
and the test suite start it the same way, so app nodes and test clients reach SNS, SQS and
S3 over real HTTP without an AWS account. It needs ``moto[server]``: the ``dev-aws`` extra.

moto (5.2.5 and older) loses every cluster message that SNS delivers to SQS unless it is
patched (:func:`fix_moto_sns_binary_attributes`); :class:`EmbeddedAws` patches it before
serving. A plain ``moto_server`` is not patched: :func:`is_moto_binary_attribute_error`
recognises the error its receives then fail with, so a transport can say what is wrong.
"""

from __future__ import annotations

import base64
import functools
import logging
import socket
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_REGION",
    "DUMMY_CREDENTIALS",
    "MOTO_BINARY_ATTRIBUTE_WARNING",
    "EmbeddedAws",
    "PortInUseError",
    "fix_moto_sns_binary_attributes",
    "is_moto_binary_attribute_error",
    "port_is_free",
]

#: moto's own default port (``moto_server``).
DEFAULT_PORT = 5000
DEFAULT_REGION = "us-east-1"
#: moto accepts any credentials; these keep boto3 away from real ones.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_START_TIMEOUT = 10.0

#: What to log when :func:`is_moto_binary_attribute_error` recognises a failed receive.
MOTO_BINARY_ATTRIBUTE_WARNING = (
    "ReceiveMessage failed with HTTP 500 from a moto server: moto cannot hash the Binary "
    "message attributes SNS forwards to SQS, and the cluster messages in this queue are lost "
    "(broadcasts vanish, requests end in FetchSocketsTimeout). Run the patched server "
    "instead: `socketio-cloud dev aws` (pip install 'socketio-cloud[dev-aws]')."
)


class PortInUseError(RuntimeError):
    """The port asked for is taken; moto's server would wait forever for it."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use")
        self.port = port


def fix_moto_sns_binary_attributes() -> None:
    """Make moto hand Binary message attributes that SNS forwards to SQS over as bytes.

    Why: moto (5.2.5 and older) keeps such an attribute as base64 text, while its SQS side
    expects bytes; the next ReceiveMessage fails with HTTP 500 while moto hashes the
    attributes, and the message is lost. Every cluster message travels in a Binary ``data``
    attribute (the Node adapter's framing), so on an unfixed moto broadcasts vanish while
    heartbeats, which have no data, still pass.

    How: ``SQSBackend.send_message``, which SNS calls to deliver, is wrapped so that a Binary
    value arriving as text is base64-decoded first. Calling this again changes nothing.
    ``tests/aws/test_moto_fix.py`` fails once moto no longer needs it.
    """
    from moto.sqs.models import SQSBackend

    original = SQSBackend.send_message
    if getattr(original, "_decodes_sns_binary_attributes", False):
        return

    @functools.wraps(original)
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        attributes = kwargs.get("message_attributes")
        if attributes:
            kwargs["message_attributes"] = {
                name: _binary_as_bytes(attribute) for name, attribute in attributes.items()
            }
        return original(self, *args, **kwargs)

    send_message._decodes_sns_binary_attributes = True  # type: ignore[attr-defined]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _binary_as_bytes(attribute: dict[str, Any]) -> dict[str, Any]:
    value = attribute.get("BinaryValue")
    if isinstance(value, str):
        return {**attribute, "BinaryValue": base64.b64decode(value)}
    return attribute


def is_moto_binary_attribute_error(error: BaseException) -> bool:
    """Whether ``error``, raised by ``ReceiveMessage``, is moto's Binary-attribute failure.

    An unpatched moto answers the receive with HTTP 500 and werkzeug's HTML error page; AWS
    itself answers a server fault with an ``InternalError`` document and never that page.
    Log :data:`MOTO_BINARY_ATTRIBUTE_WARNING` when this returns True.
    """
    if getattr(error, "operation_name", None) != "ReceiveMessage":
        return False
    response: Any = getattr(error, "response", None) or {}
    metadata = response.get("ResponseMetadata") or {}
    if metadata.get("HTTPStatusCode") != 500:
        return False
    headers = metadata.get("HTTPHeaders") or {}
    served_by_werkzeug = str(headers.get("server", "")).lower().startswith("werkzeug")
    message = str((response.get("Error") or {}).get("Message", ""))
    html_error_page = "<title>500 Internal Server Error</title>" in message
    return served_by_werkzeug or html_error_page


class EmbeddedAws:
    """moto's server on ``127.0.0.1:port`` (a free port when 0), with the SNS fix applied.

    >>> aws = EmbeddedAws()
    >>> aws.start()
    >>> aws.client("sns").create_topic(Name="socket-io")
    >>> aws.stop()
    """

    def __init__(
        self,
        port: int = 0,
        *,
        region: str = DEFAULT_REGION,
        fix_binary_attributes: bool = True,
    ) -> None:
        self.port = port
        self.region = region
        self.fix_binary_attributes = fix_binary_attributes
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Serve until :meth:`stop`.

        Raises :class:`PortInUseError` when the port is taken, ModuleNotFoundError without
        ``moto[server]``, RuntimeError when the server does not answer.
        """
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            return
        if self.port and not port_is_free(self.port):
            raise PortInUseError(self.port)
        # werkzeug logs every request at INFO
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self.fix_binary_attributes:
            fix_moto_sns_binary_attributes()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        self._wait_until_answering()

    def stop(self) -> None:
        """Stop serving; the resources stay in this process's moto backends."""
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()

    def environ(self) -> dict[str, str]:
        """Variables that point boto3 (in this or a child process) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def client(self, service_name: str) -> Any:
        """A boto3 client for ``service_name`` on this server."""
        import boto3

        # boto3-stubs type client() per literal service name; any name is fine here
        return boto3.client(  # type: ignore[call-overload]
            service_name,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1) as reply:
                    reply.read()
                return
            except (urllib.error.URLError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto on port {self.port} does not answer") from exc
                time.sleep(0.05)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True
