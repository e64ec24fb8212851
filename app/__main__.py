"""``python -m app``: run one node of the reference service under uvicorn.

Configured by environment variables (see :mod:`app.config`). SIGTERM or SIGINT stops it
gracefully: open connections get ``SIO_SHUTDOWN_TIMEOUT`` seconds, then the node leaves the
cluster and deletes its broker resources. A second SIGINT quits at once, leaving them to the
cleanup function.
"""

from __future__ import annotations

import logging
import math
import sys

import uvicorn

from .config import Settings, SettingsError
from .service import ChatService

#: Exit status when the configuration is invalid, and when the node could not start.
EXIT_CONFIG_ERROR = 2
EXIT_START_FAILED = 3


def configure_logging(settings: Settings) -> None:
    """Log lines to stderr, each naming the node (several nodes may share a terminal)."""
    node = settings.node_name.replace("%", "%%")
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s {node} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level != "debug":
        # botocore reports at INFO where it found credentials and endpoints, on every client
        logging.getLogger("botocore").setLevel(logging.WARNING)


def main() -> int:
    """Run the node until it is told to stop; return the exit status."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.stderr.write(f"app: invalid configuration: {exc}\n")
        return EXIT_CONFIG_ERROR
    configure_logging(settings)
    try:
        service = ChatService(settings)
    except SettingsError as exc:  # a backend's own requirements (pubsub: a project)
        sys.stderr.write(f"app: invalid configuration: {exc}\n")
        return EXIT_CONFIG_ERROR
    config = uvicorn.Config(
        service.asgi,
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        ws="auto",
        ws_per_message_deflate=settings.ws_compression,
        lifespan="on",
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it handled once it has shut down gracefully
        pass
    return 0 if server.started else EXIT_START_FAILED


if __name__ == "__main__":
    sys.exit(main())
