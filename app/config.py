"""The service's settings: every environment variable it reads, parsed and checked.

The broker and cluster variables (``SIO_BACKEND``, ``SIO_HEARTBEAT_*`` and each broker's:
``SIO_TOPIC_ARN``, ``SIO_REDIS_URL``, ``SIO_POSTGRES_DSN``, ``SIO_AMQP_URL``,
``SIO_GCP_PROJECT``, ...) are the library's, read by :mod:`socketio_cloud.config`, the one
place that maps them onto a manager; a user's own app gets the same with
``socketio_cloud.from_env()``. The service adds its own:

==========================  =============================================  ==============
Variable                    Meaning                                        Default
==========================  =============================================  ==============
``PORT``                    TCP port to listen on                          ``8000``
``SIO_HOST``                address to listen on                           ``0.0.0.0``
``SIO_NODE_NAME``           name shown to users and other servers          the host name
``SIO_SHUTDOWN_TIMEOUT``    seconds open connections get at shutdown       ``5``
``SIO_LOG_LEVEL``           ``debug``, ``info``, ``warning`` or ``error``  ``info``
``SIO_WS_COMPRESSION``      ``on`` to offer permessage-deflate             ``off``
==========================  =============================================  ==============

An empty variable counts as unset; a bad value raises :data:`SettingsError` naming it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from socketio_cloud.config import ClusterConfig, ConfigError, Environment

__all__ = ["LOG_LEVELS", "Settings", "SettingsError"]

LOG_LEVELS = ("debug", "info", "warning", "error")
_NODE_NAME_MAX = 64

#: An environment variable holds a value the service cannot use (the library's error: the
#: broker variables are read by :mod:`socketio_cloud.config`).
SettingsError = ConfigError


@dataclass(frozen=True)
class Settings(ClusterConfig):
    """How one node of the service runs. :meth:`from_env` reads it from the environment:
    the broker part through the library (:class:`socketio_cloud.config.ClusterConfig`), the
    service's own variables here."""

    port: int = 8000
    # A container must accept connections from its load balancer, hence all interfaces.
    host: str = "0.0.0.0"
    node_name: str = field(default_factory=socket.gethostname)
    shutdown_timeout: float = 5.0
    log_level: str = "info"
    # permessage-deflate costs CPU per client and message, and rules out the shared-frame
    # fan-out (socketio_cloud.direct_frames): off unless asked for
    ws_compression: bool = False

    @classmethod
    def read(cls, env: Environment) -> dict[str, Any]:
        return {
            **super().read(env),
            "port": env.integer("PORT", 8000, minimum=1, maximum=65535),
            "host": env.text("SIO_HOST", "0.0.0.0"),
            "node_name": env.text("SIO_NODE_NAME", socket.gethostname(), max_length=_NODE_NAME_MAX),
            "shutdown_timeout": env.seconds("SIO_SHUTDOWN_TIMEOUT", 5.0),
            "log_level": env.choice("SIO_LOG_LEVEL", "info", LOG_LEVELS),
            "ws_compression": env.choice("SIO_WS_COMPRESSION", "off", ("on", "off")) == "on",
        }
