"""``make demo``: a cluster of the reference service on an embedded broker, on this machine.

Starts the broker, creates the cluster's topic, runs ``--nodes`` app nodes (``python -m app``
processes) on ``127.0.0.1:<base-port + i>``, waits until each is healthy and counts all the
others, and prints their addresses. On Ctrl-C (SIGINT) or SIGTERM it stops every node
gracefully and checks that their per-node resources are gone. ``--check`` does all of that
without waiting.

Brokers (``--backend``): ``aws`` (default), moto's SNS and SQS in this process
(:mod:`socketio_cloud.dev.aws`); ``pubsub``, Google's Pub/Sub emulator from the Cloud SDK
(:mod:`app.embedded_pubsub`); ``servicebus``, the loopback Azure Service Bus double of the
test suite (``tests/servicebus_double``: from a source checkout, with ``azure-servicebus``).

Exit status: 0 when the cluster came up and shut down cleanly, 1 otherwise, 2 on a usage
error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from socketio_cloud.dev.aws import EmbeddedAws, port_is_free

from .embedded_pubsub import PubSubEmulator, find_emulator

if TYPE_CHECKING:
    from tests.servicebus_double.double import ServiceBusDoubleThread

REPO_ROOT = Path(__file__).resolve().parent.parent
TOPIC_NAME = "socketio-cloud-demo"
QUEUE_PREFIX = "socketio-cloud-demo"
GCP_PROJECT = "socketio-cloud-demo"
SUBSCRIPTION_PREFIX = "socketio-cloud-demo"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL_INTERVAL = 0.1


class DemoError(Exception):
    """The demo cluster could not be brought up or down as it should."""


class Interrupted(DemoError):
    """Asked to stop before the cluster was up."""


@dataclass
class NodeProcess:
    """One ``python -m app`` child."""

    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict[str, Any] | None:
        """The node's ``/healthz`` body while it answers 200, else None."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:
                body: dict[str, Any] = json.loads(reply.read())
                return body
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def exited_cleanly(self) -> bool:
        # uvicorn re-raises the signal it handled once it has shut down gracefully
        return self.process.returncode in (0, -signal.SIGTERM)


def say(text: str) -> None:
    print(text, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make demo",
        description="Run a cluster of the reference Socket.IO service on an embedded broker.",
    )
    parser.add_argument(
        "--backend",
        choices=("aws", "pubsub", "servicebus"),
        default=os.environ.get("DEMO_BACKEND", "aws"),
        help=(
            "aws: moto's SNS+SQS; pubsub: the Pub/Sub emulator; servicebus: the Service Bus "
            "test double (default: aws, env DEMO_BACKEND)"
        ),
    )
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes (default: 3)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=int(os.environ.get("DEMO_BASE_PORT", "8001")),
        help="port of the first node; the others follow (default: 8001, env DEMO_BASE_PORT)",
    )
    parser.add_argument(
        "--aws-port", type=int, default=0, help="port of the embedded AWS (default: any free one)"
    )
    parser.add_argument(
        "--pubsub-port",
        type=int,
        default=0,
        help="port of the Pub/Sub emulator (default: any free one)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        default=os.environ.get("DEMO_CHECK") == "1",
        help="start, check and stop again without waiting for Ctrl-C (env DEMO_CHECK=1)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the nodes' info logs")
    parser.add_argument(
        "--ports-only",
        action="store_true",
        help="only check that the demo's ports are free (exit status 1 when one is taken)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 20:
        parser.error("--nodes must be between 1 and 20")
    if not 1024 <= args.base_port <= 65535 - args.nodes:
        parser.error("--base-port must leave room for every node below 65536")
    return args


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a flag; a second one interrupts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()


class Demo:
    """The embedded broker and the node processes of one demo run."""

    def __init__(self, args: argparse.Namespace, stop: StopRequest) -> None:
        self.args = args
        self.stop = stop
        self.aws = EmbeddedAws(port=args.aws_port)
        self.pubsub: PubSubEmulator | None = None
        self.servicebus: ServiceBusDoubleThread | None = None
        self.nodes: list[NodeProcess] = []
        self.topic_arn = ""

    @property
    def on_pubsub(self) -> bool:
        return bool(self.args.backend == "pubsub")

    @property
    def on_servicebus(self) -> bool:
        return bool(self.args.backend == "servicebus")

    @property
    def resource_kind(self) -> str:
        if self.on_servicebus:
            return "Service Bus subscription"
        return "Pub/Sub subscription" if self.on_pubsub else "SQS queue"

    @property
    def broker_running(self) -> bool:
        if self.on_servicebus:
            return self.servicebus is not None
        if self.on_pubsub:
            return self.pubsub is not None and self.pubsub.running
        return self.aws.running

    # ------------------------------------------------------------------------ up

    def start_broker(self) -> None:
        if self.on_servicebus:
            self.start_servicebus()
        elif self.on_pubsub:
            self.start_pubsub()
        else:
            self.start_aws()

    def stop_broker(self) -> None:
        if self.pubsub is not None:
            self.pubsub.close()
        if self.servicebus is not None:
            self.servicebus.close()
            self.servicebus = None
        self.aws.stop()

    def start_pubsub(self) -> None:
        launcher = find_emulator()
        if launcher is None:
            raise DemoError(
                "no Pub/Sub emulator: install the Cloud SDK's google-cloud-cli-pubsub-emulator"
            )
        self.pubsub = PubSubEmulator(launcher, port=self.args.pubsub_port or None)
        try:
            self.pubsub.start()
        except RuntimeError as exc:
            raise DemoError(f"cannot start the Pub/Sub emulator: {exc}") from exc
        # the blocking admin clients of this process find the emulator through this variable
        os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub.host
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import pubsub_v1

        try:
            pubsub_v1.PublisherClient().create_topic(name=self.pubsub_topic_path)
        except AlreadyExists:
            pass
        say(f"==> Pub/Sub emulator on {self.pubsub.host}, topic {TOPIC_NAME}")

    @property
    def pubsub_topic_path(self) -> str:
        return f"projects/{GCP_PROJECT}/topics/{TOPIC_NAME}"

    def start_servicebus(self) -> None:
        try:
            from tests.servicebus_double.double import ServiceBusDouble, ServiceBusDoubleThread
        except ImportError as exc:
            raise DemoError(
                f"the Service Bus double needs a source checkout and azure-servicebus: {exc}"
            ) from exc
        self.servicebus = ServiceBusDoubleThread(ServiceBusDouble()).open()
        say(f"==> Service Bus double on 127.0.0.1:{self.servicebus.port}, topic {TOPIC_NAME}")

    def start_aws(self) -> None:
        try:
            self.aws.start()
        except RuntimeError as exc:
            raise DemoError(f"cannot start the embedded AWS: {exc}") from exc
        self.topic_arn = self.aws.client("sns").create_topic(Name=TOPIC_NAME)["TopicArn"]
        say(f"==> embedded AWS (moto) on {self.aws.endpoint_url}, topic {TOPIC_NAME}")

    def node_environment(self, name: str, port: int) -> dict[str, str]:
        # Drop the caller's cloud settings: profiles or real endpoints must not leak in.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "PUBSUB_", "GOOGLE_", "SIO_"))
        }
        env.update(
            {
                "SIO_HOST": "127.0.0.1",
                "PORT": str(port),
                "SIO_NODE_NAME": name,
                "SIO_LOG_LEVEL": "info" if self.args.verbose else "warning",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.on_pubsub:
            assert self.pubsub is not None
            env.update(
                {
                    "SIO_BACKEND": "pubsub",
                    "SIO_GCP_PROJECT": GCP_PROJECT,
                    "SIO_PUBSUB_TOPIC": TOPIC_NAME,
                    "SIO_SUBSCRIPTION_PREFIX": SUBSCRIPTION_PREFIX,
                    "PUBSUB_EMULATOR_HOST": self.pubsub.host,
                }
            )
            return env
        if self.on_servicebus:
            assert self.servicebus is not None
            env.update(
                {
                    "SIO_BACKEND": "servicebus",
                    "SIO_SERVICEBUS_CONNECTION_STRING": self.servicebus.connection_string,
                    "SIO_SERVICEBUS_CA_FILE": self.servicebus.ca_file,
                    "SIO_SERVICEBUS_TOPIC": TOPIC_NAME,
                    "SIO_SUBSCRIPTION_PREFIX": SUBSCRIPTION_PREFIX,
                }
            )
            return env
        env.update(self.aws.environ())
        env.update(
            {
                "SIO_BACKEND": "aws",
                "SIO_TOPIC_ARN": self.topic_arn,
                "SIO_QUEUE_PREFIX": QUEUE_PREFIX,
            }
        )
        return env

    def start_nodes(self) -> None:
        ports = [self.args.base_port + i for i in range(self.args.nodes)]
        for i, port in enumerate(ports, start=1):
            name = f"node-{i}"
            process = subprocess.Popen(
                [sys.executable, "-m", "app"],
                cwd=REPO_ROOT,
                env=self.node_environment(name, port),
                # own session: a Ctrl-C in the terminal reaches the demo only, which then
                # stops each node exactly once
                start_new_session=True,
            )
            self.nodes.append(NodeProcess(name, port, process))
            say(f"==> starting {name} on {self.nodes[-1].url}")

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(self.nodes)
        while waiting:
            self.check_not_interrupted()
            for node in list(waiting):
                if node.process.poll() is not None:
                    raise DemoError(f"{node.name} exited with status {node.process.returncode}")
                health = node.health()
                if health is not None:
                    waiting.remove(node)
                    say(f"    {node.name} is up (cluster node {health.get('uid')})")
            if waiting and time.monotonic() > deadline:
                names = ", ".join(node.name for node in waiting)
                raise DemoError(f"not healthy after {START_TIMEOUT:g} s: {names}")
            time.sleep(POLL_INTERVAL)

    def wait_until_clustered(self) -> None:
        want = len(self.nodes)
        deadline = time.monotonic() + START_TIMEOUT
        say(f"==> waiting until every node counts {want} servers")
        while True:
            self.check_not_interrupted()
            counts = {node.name: (node.health() or {}).get("server_count") for node in self.nodes}
            if all(count == want for count in counts.values()):
                return
            if time.monotonic() > deadline:
                raise DemoError(f"the nodes do not see each other: server counts {counts}")
            time.sleep(POLL_INTERVAL * 3)

    def check_not_interrupted(self) -> None:
        if self.stop.event.is_set():
            raise Interrupted("stopping before the cluster was up")

    def node_resources(self) -> list[str]:
        """The nodes' queues (aws) or subscriptions (pubsub, servicebus) that exist."""
        if self.on_servicebus:
            assert self.servicebus is not None
            return list(self.servicebus.topics().get(TOPIC_NAME, []))
        if self.on_pubsub:
            from google.cloud import pubsub_v1

            names = pubsub_v1.PublisherClient().list_topic_subscriptions(
                topic=self.pubsub_topic_path
            )
            return [name.rsplit("/", 1)[-1] for name in names]
        return self.node_queues()

    def node_queues(self) -> list[str]:
        urls = self.aws.client("sqs").list_queues(QueueNamePrefix=QUEUE_PREFIX)
        return [url.rsplit("/", 1)[-1] for url in urls.get("QueueUrls", [])]

    def banner(self) -> None:
        say("")
        say(f"The cluster is up: {len(self.nodes)} nodes, one {self.resource_kind} each.")
        say("Open two of these pages side by side and chat across the nodes:")
        for node in self.nodes:
            say(f"    {node.name}  {node.url}/")
        if not self.args.check:
            say("Press Ctrl-C to stop.")
        say("")

    # ------------------------------------------------------------------------ down

    def watch(self) -> None:
        """Return when asked to stop; fail when a node dies on its own."""
        while not self.stop.event.wait(0.5):
            for node in self.nodes:
                if node.process.poll() is not None:
                    raise DemoError(f"{node.name} exited with status {node.process.returncode}")

    def stop_nodes(self) -> bool:
        """SIGTERM every node, wait for them; True when all stopped gracefully."""
        running = [node for node in self.nodes if node.process.poll() is None]
        if running:
            say(f"==> stopping {len(running)} node(s)")
        for node in running:
            node.process.send_signal(signal.SIGTERM)
        clean = True
        deadline = time.monotonic() + STOP_TIMEOUT
        for node in self.nodes:
            try:
                node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
                say(f"    {node.name} did not stop within {STOP_TIMEOUT:g} s: killed")
                clean = False
                continue
            if node in running and node.exited_cleanly():
                say(f"    {node.name} stopped")
            elif node in running:
                say(f"    {node.name} exited with status {node.process.returncode}")
                clean = False
        return clean

    def verify_resources_deleted(self) -> bool:
        left = self.node_resources()
        what = "subscriptions" if self.on_pubsub or self.on_servicebus else "queues"
        if left:
            say(f"!! node {what} left behind: {', '.join(left)}")
            return False
        say(f"==> all {len(self.nodes)} node {what} were deleted; bye")
        return True


def busy_ports(args: argparse.Namespace) -> list[str]:
    """What each taken port of this run was meant for, as lines to print; empty when all
    are free."""
    wanted = {args.base_port + i: f"node-{i + 1}" for i in range(args.nodes)}
    if args.aws_port:
        wanted.setdefault(args.aws_port, "the embedded AWS")
    return [
        f"port {port} on 127.0.0.1 is already in use (needed by {user})"
        for port, user in wanted.items()
        if not port_is_free(port)
    ]


def check_ports(args: argparse.Namespace) -> bool:
    """Say which ports are taken and how to choose others; True when every one is free."""
    busy = busy_ports(args)
    for line in busy:
        say(f"!! {line}")
    if busy:
        say("!! pick other ports with --base-port (or DEMO_BASE_PORT) and --aws-port")
    return not busy


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # before anything starts: a taken port would otherwise show after moto is up
    if not check_ports(args):
        return 1
    if args.ports_only:
        return 0
    demo = Demo(args, StopRequest())
    ok = False
    try:
        demo.start_broker()
        demo.start_nodes()
        demo.wait_until_healthy()
        demo.wait_until_clustered()
        where = "subscriptions on Pub/Sub" if demo.on_pubsub else "queues on SQS"
        if demo.on_servicebus:
            where = "subscriptions on Service Bus"
        say(f"==> node {where}: {', '.join(demo.node_resources())}")
        demo.banner()
        if not args.check:
            demo.watch()
        ok = True
    except Interrupted as exc:
        say(f"==> {exc}")
        ok = True
    except DemoError as exc:
        say(f"!! {exc}")
    except KeyboardInterrupt:
        say("!! interrupted")
    finally:
        try:
            ok = demo.stop_nodes() and ok
            if demo.broker_running and demo.nodes:
                ok = demo.verify_resources_deleted() and ok
        finally:
            demo.stop_broker()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
