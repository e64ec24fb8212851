"""An AWS stand-in for local runs: moto's server in this process, on 127.0.0.1.

The demo starts it so that app nodes (other processes) reach SNS and SQS over real HTTP
without an AWS account. It needs ``moto[server]``, which the service image does not ship.

:func:`fix_moto_sns_binary_attributes` lives here, the one place both the demo and the
test fixture (``tests/support/moto.py``) take it from.
"""

from __future__ import annotations

import base64
import functools
import logging
import socket
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["EmbeddedAws", "fix_moto_sns_binary_attributes"]

REGION = "us-east-1"
#: moto accepts any credentials; these keep boto3 away from real ones.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_START_TIMEOUT = 10.0


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


class EmbeddedAws:
    """moto's server on ``127.0.0.1:port`` (a free port when 0), with the SNS fix applied.

    >>> aws = EmbeddedAws()
    >>> aws.start()
    >>> aws.client("sns").create_topic(Name="socket-io")
    >>> aws.stop()
    """

    def __init__(self, port: int = 0, *, fix_binary_attributes: bool = True) -> None:
        self.port = port
        self.fix_binary_attributes = fix_binary_attributes
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Serve until :meth:`stop`. Raises RuntimeError when the port is taken."""
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            return
        if self.port and not _port_is_free(self.port):
            # moto's server would wait forever for a thread that cannot bind
            raise RuntimeError(f"port {self.port} is already in use")
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
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()

    def environ(self) -> dict[str, str]:
        """Variables that point boto3 in a child process at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **DUMMY_CREDENTIALS,
        }

    def client(self, service_name: str) -> Any:
        """A boto3 client for ``service_name`` on this server."""
        import boto3

        # boto3-stubs type client() per literal service name; any name is fine here
        return boto3.client(  # type: ignore[call-overload]
            service_name,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
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


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
