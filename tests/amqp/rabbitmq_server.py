"""A private RabbitMQ node that tests can stop and restart.

It runs the machine's ``rabbitmq-server`` as a second node (its own node name, AMQP and
distribution ports, Erlang cookie, data and log directories in a temporary directory, no
plugins), so that tests never touch the machine's broker and may restart this one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.services import free_port, port_open

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 30.0
# the scripts under /usr/lib run as the calling user; /usr/sbin's wrappers switch to the
# rabbitmq user, who cannot read a temporary directory of ours
_SCRIPT_DIRS = ("/usr/lib/rabbitmq/bin",)


def find_script(name: str) -> str | None:
    """The path of a RabbitMQ script (``rabbitmq-server``, ``rabbitmqctl``), if installed."""
    for directory in _SCRIPT_DIRS:
        path = Path(directory, name)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


class RabbitMQServer:
    """A RabbitMQ node on 127.0.0.1 with its own ports and directory."""

    def __init__(self, directory: Path) -> None:
        server, ctl = find_script("rabbitmq-server"), find_script("rabbitmqctl")
        if server is None or ctl is None:
            raise FileNotFoundError("rabbitmq-server / rabbitmqctl not installed")
        self.server_script = server
        self.ctl_script = ctl
        self.directory = directory
        self.node = f"sio-test-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (directory / "enabled_plugins").write_text("[].\n")
        cookie = directory / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment of the node's scripts (also for ``rabbitmqctl``)."""
        d = self.directory
        return {
            **os.environ,
            "HOME": str(d),  # the Erlang cookie is read from $HOME
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),  # none: defaults only
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
        }

    def start(self) -> None:
        """Start the node and return once it accepts AMQP connections (blocking)."""
        with open(self.directory / "server.out", "ab") as log:
            self._process = subprocess.Popen(
                [self.server_script], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not port_open(self.port):
            if self._process.poll() is not None:
                tail = (self.directory / "server.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"rabbitmq-server exited: {tail}")
            if time.monotonic() > deadline:
                raise RuntimeError("rabbitmq-server did not start in time")
            time.sleep(0.1)

    def ctl(self, *args: str, timeout: float = _STOP_TIMEOUT) -> str:
        """Run ``rabbitmqctl -n <node> <args>`` and return its output."""
        result = subprocess.run(
            [self.ctl_script, "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout

    def stop(self) -> None:
        """Stop the node (``rabbitmqctl stop``) and wait until its process is gone."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            self.ctl("stop")
            process.wait(_STOP_TIMEOUT)
        except (subprocess.SubprocessError, OSError):
            process.kill()
            process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def queue_stats(self, vhost: str = "/") -> dict[str, dict[str, int]]:
        """Per queue: ``messages`` waiting and ``consumers`` (``rabbitmqctl list_queues``)."""
        out = self.ctl(
            "list_queues", "-p", vhost, "-q", "--no-table-headers", "name", "messages", "consumers"
        )
        stats: dict[str, dict[str, int]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                stats[parts[0]] = {"messages": int(parts[1]), "consumers": int(parts[2])}
        return stats
