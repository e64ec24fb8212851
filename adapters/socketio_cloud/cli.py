"""The ``socketio-cloud`` command line.

Commands, each a subparser registered by one ``_add_*`` function::

    socketio-cloud cleanup aws --prefix P --topic-arn A [--stale-after S]
        [--grace-period S] [--dry-run] [--region R] [--endpoint-url URL] [--json]
    socketio-cloud cleanup azure --topic T [--prefix P] [--stale-after S] [--dry-run]
        [--connection-string CS | --namespace NS] [--ca-file F] [--json]
    socketio-cloud dev aws [--port N] [--region R]
    socketio-cloud cleanup gcp --project P --topic T [--prefix P] [--stale-after S]
        [--dry-run] [--emulator-host HOST:PORT] [--json]

Every command returns an exit status: 0 on success, 1 when something failed, 2 on a usage
error (from argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .brokers import aws as aws_facts

if TYPE_CHECKING:
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    from .cleanup.aws import CleanupReport
    from .cleanup.azure import CleanupReport as AzureCleanupReport
    from .cleanup.gcp import CleanupReport as GcpCleanupReport

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    command: Command = args.command
    return command(args)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each leaf stores its function as ``command``."""
    parser = argparse.ArgumentParser(
        prog="socketio-cloud", description="Tools for socketio-cloud clusters."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_cleanup(commands)
    _add_dev(commands)
    return parser


def _add_cleanup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cleanup = commands.add_parser(
        "cleanup",
        help="delete the resources that crashed nodes left behind",
        description="Delete the per-node resources that crashed nodes left behind.",
    )
    brokers = cleanup.add_subparsers(title="brokers", metavar="BROKER", required=True)
    _add_cleanup_aws(brokers)
    _add_cleanup_gcp(brokers)
    _add_cleanup_azure(brokers)


def _add_cleanup_aws(brokers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    aws = brokers.add_parser(
        "aws",
        help="stale SQS node queues and their SNS subscriptions",
        description=(
            "Delete the SQS queues <prefix>-<node uid> of the cluster of --topic-arn whose "
            "liveness mark is stale, their subscriptions to that topic, and the topic's "
            "subscriptions whose queue is gone; nothing of another topic. Credentials come "
            "from boto3's usual sources; the region from --region, else the topic ARN."
        ),
    )
    aws.add_argument("--prefix", required=True, help="the cluster's queue prefix")
    aws.add_argument(
        "--topic-arn", required=True, help="the cluster's SNS topic: only its queues are swept"
    )
    aws.add_argument(
        "--stale-after",
        type=float,
        default=aws_facts.DEFAULT_STALE_AFTER,
        metavar="SECONDS",
        help="age of a liveness mark that makes a queue stale (default: %(default)g)",
    )
    aws.add_argument(
        "--grace-period",
        type=float,
        default=aws_facts.DEFAULT_GRACE_PERIOD,
        metavar="SECONDS",
        help="age after which a queue without a mark is stale (default: %(default)g)",
    )
    aws.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    aws.add_argument("--region", help="AWS region (default: the topic ARN's)")
    aws.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local emulator")
    aws.add_argument("--json", action="store_true", help="print the report as JSON")
    aws.set_defaults(command=_cleanup_aws)


def _cleanup_aws(args: argparse.Namespace) -> int:
    try:
        import boto3
    except ImportError:
        sys.stderr.write("socketio-cloud: boto3 is missing; install socketio-cloud[aws]\n")
        return 1
    from botocore.exceptions import BotoCoreError

    from .cleanup.aws import cleanup

    region = args.region or aws_facts.topic_region(args.topic_arn)
    if region is None:
        sys.stderr.write(f"socketio-cloud: --topic-arn is not an SNS topic ARN: {args.topic_arn}\n")
        return 2
    options = {"region_name": region, "endpoint_url": args.endpoint_url}
    try:
        report = cleanup(
            boto3.client("sqs", **options),
            boto3.client("sns", **options),
            queue_prefix=args.prefix,
            topic_arn=args.topic_arn,
            stale_after=args.stale_after,
            grace_period=args.grace_period,
            dry_run=args.dry_run,
        )
    except ValueError as exc:
        sys.stderr.write(f"socketio-cloud: {exc}\n")
        return 2
    except BotoCoreError as exc:  # no credentials, no endpoint...: one line, no traceback
        sys.stderr.write(f"socketio-cloud: {exc}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _write_cleanup_report(report, sys.stdout)
    return 0 if report.ok else 1


def _write_cleanup_report(report: CleanupReport, out: TextIO) -> None:
    """Write ``report`` for people to read."""
    dry = report.dry_run
    lines = [f"Node queues under {report.queue_prefix!r}" + (" (dry run)" if dry else "")]

    def section(title: str, entries: list[str]) -> None:
        lines.append(f"{title}: {len(entries)}")
        lines.extend(f"  {entry}" for entry in entries)

    section(
        "Would delete queues" if dry else "Deleted queues",
        [f"{queue.name}  ({queue.reason})" for queue in report.deleted_queues],
    )
    section("Kept queues", [f"{queue.name}  ({queue.reason})" for queue in report.kept_queues])
    section(
        "Would remove subscriptions" if dry else "Removed subscriptions",
        [f"{sub.arn}  ({sub.reason})" for sub in report.removed_subscriptions],
    )
    section("Errors", report.errors)
    out.write("\n".join(lines) + "\n")


def _add_dev(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = commands.add_parser(
        "dev",
        help="local stand-ins for cloud brokers, for development",
        description="Local stand-ins for cloud brokers, for development on one machine.",
    )
    brokers = dev.add_subparsers(title="brokers", metavar="BROKER", required=True)
    aws = brokers.add_parser(
        "aws",
        help="SNS, SQS and S3 (moto) on 127.0.0.1",
        description=(
            "Serve SNS, SQS and S3 (moto's server, patched so that cluster messages survive "
            "SNS-to-SQS delivery) on 127.0.0.1 until Ctrl-C or SIGTERM, and print the "
            "environment variables that point boto3 at it. Needs socketio-cloud[dev-aws]."
        ),
    )
    # Defaults repeat those of socketio_cloud.dev.aws, which needs moto to serve.
    aws.add_argument(
        "--port",
        type=int,
        default=5000,
        help="port on 127.0.0.1; 0 picks a free one (default: %(default)s)",
    )
    aws.add_argument("--region", default="us-east-1", help="region (default: %(default)s)")
    aws.set_defaults(command=_dev_aws)


def _dev_aws(args: argparse.Namespace) -> int:
    from .dev.aws import EmbeddedAws, PortInUseError

    if not 0 <= args.port <= 65535:
        sys.stderr.write(f"socketio-cloud: --port {args.port} is not a TCP port\n")
        return 2
    try:
        import moto.server  # noqa: F401
    except ImportError:
        sys.stderr.write(
            "socketio-cloud: moto's server is missing; install 'socketio-cloud[dev-aws]'\n"
        )
        return 1
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    aws = EmbeddedAws(args.port, region=args.region)
    try:
        try:
            aws.start()
        except (PortInUseError, RuntimeError) as exc:
            sys.stderr.write(f"socketio-cloud: {exc}; pick another with --port\n")
            return 1
        lines = [
            f"# SNS, SQS and S3 on {aws.endpoint_url} (region {aws.region}); "
            "Ctrl-C stops them and forgets every resource.",
            "# In the shell that runs your server:",
            *(f"export {name}={value}" for name, value in aws.environ().items()),
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        # a timeout keeps the main thread responsive to signals on every platform
        while not stop.wait(0.5):
            pass
        sys.stderr.write("socketio-cloud: stopping\n")
        return 0
    finally:
        aws.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _add_cleanup_gcp(brokers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gcp = brokers.add_parser(
        "gcp",
        help="stale Pub/Sub node subscriptions",
        description=(
            "Delete the subscriptions <prefix>-<node uid> of the topic whose liveness label "
            "is stale. Credentials come from Google's application default credentials."
        ),
    )
    # Defaults repeat those of socketio_cloud.brokers.pubsub (kept import-free here).
    gcp.add_argument("--project", required=True, help="the project of the topic")
    gcp.add_argument("--topic", required=True, help="the cluster's topic (id or full path)")
    gcp.add_argument(
        "--prefix",
        default="socket.io",
        help="the nodes' subscription prefix (default: %(default)s)",
    )
    gcp.add_argument(
        "--stale-after",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="age of a liveness mark that makes a subscription stale (default: %(default)g)",
    )
    gcp.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    gcp.add_argument(
        "--emulator-host",
        help="host:port of a Pub/Sub emulator (default: $PUBSUB_EMULATOR_HOST, if set)",
    )
    gcp.add_argument("--json", action="store_true", help="print the report as JSON")
    gcp.set_defaults(command=_cleanup_gcp)


def _cleanup_gcp(args: argparse.Namespace) -> int:
    try:
        from google.cloud import pubsub_v1
    except ImportError:
        sys.stderr.write(
            "socketio-cloud: google-cloud-pubsub is missing; install socketio-cloud[gcp]\n"
        )
        return 1
    import os

    from .cleanup.gcp import cleanup

    if args.emulator_host:
        # the blocking clients read the emulator's address from the environment only
        os.environ["PUBSUB_EMULATOR_HOST"] = args.emulator_host
    try:
        report = cleanup(
            pubsub_v1.PublisherClient(),
            pubsub_v1.SubscriberClient(),
            project=args.project,
            topic=args.topic,
            subscription_prefix=args.prefix,
            stale_after=args.stale_after,
            dry_run=args.dry_run,
        )
    except ValueError as exc:
        sys.stderr.write(f"socketio-cloud: {exc}\n")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _write_gcp_cleanup_report(report, sys.stdout)
    return 0 if report.ok else 1


def _write_gcp_cleanup_report(report: GcpCleanupReport, out: TextIO) -> None:
    """Write ``report`` for people to read."""
    dry = report.dry_run
    lines = [
        f"Node subscriptions of {report.topic} under {report.subscription_prefix!r}"
        + (" (dry run)" if dry else "")
    ]

    def section(title: str, entries: list[str]) -> None:
        lines.append(f"{title}: {len(entries)}")
        lines.extend(f"  {entry}" for entry in entries)

    section(
        "Would delete subscriptions" if dry else "Deleted subscriptions",
        [f"{sub.name}  ({sub.reason})" for sub in report.deleted],
    )
    section("Kept subscriptions", [f"{sub.name}  ({sub.reason})" for sub in report.kept])
    section("Errors", report.errors)
    out.write("\n".join(lines) + "\n")


def _add_cleanup_azure(brokers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    azure = brokers.add_parser(
        "azure",
        help="stale Service Bus node subscriptions",
        description=(
            "Delete the subscriptions <prefix>-<node uid> of the topic whose last activity "
            "is stale. Credentials: --connection-string (or SERVICEBUS_CONNECTION_STRING), "
            "or --namespace with azure-identity's DefaultAzureCredential."
        ),
    )
    # Defaults repeat those of socketio_cloud.brokers.servicebus.
    azure.add_argument("--topic", required=True, help="the cluster's topic name")
    azure.add_argument(
        "--prefix", default="socket.io", help="node subscription prefix (default: %(default)s)"
    )
    azure.add_argument(
        "--stale-after",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="idle time that makes a subscription stale (default: %(default)g)",
    )
    azure.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    credentials = azure.add_mutually_exclusive_group()
    credentials.add_argument(
        "--connection-string",
        default=os.environ.get("SERVICEBUS_CONNECTION_STRING"),
        help="namespace connection string with the Manage claim",
    )
    credentials.add_argument(
        "--namespace", help="fully qualified namespace (<name>.servicebus.windows.net)"
    )
    azure.add_argument("--ca-file", help="CA bundle to trust for the administration endpoint")
    azure.add_argument("--json", action="store_true", help="print the report as JSON")
    azure.set_defaults(command=_cleanup_azure)


def _cleanup_azure(args: argparse.Namespace) -> int:
    try:
        from .cleanup import azure as _azure_cleanup
    except ImportError:
        sys.stderr.write(
            "socketio-cloud: azure-servicebus is missing; install socketio-cloud[azure]\n"
        )
        return 1
    if not args.connection_string and not args.namespace:
        sys.stderr.write("socketio-cloud: give --connection-string or --namespace\n")
        return 2
    if args.stale_after < _azure_cleanup.MIN_STALE_AFTER:
        sys.stderr.write(
            f"socketio-cloud: --stale-after must be at least {_azure_cleanup.MIN_STALE_AFTER:g}\n"
        )
        return 2
    options = {"connection_verify": args.ca_file} if args.ca_file else {}

    async def run() -> AzureCleanupReport:
        from azure.servicebus.aio.management import ServiceBusAdministrationClient

        if args.namespace:
            from azure.identity.aio import DefaultAzureCredential

            async with DefaultAzureCredential() as credential:
                async with ServiceBusAdministrationClient(
                    args.namespace, credential, **options
                ) as admin:
                    return await _run_azure_cleanup(admin, args)
        client = ServiceBusAdministrationClient.from_connection_string(
            args.connection_string, **options
        )
        async with client as admin:
            return await _run_azure_cleanup(admin, args)

    try:
        report = asyncio.run(run())
    except ValueError as exc:
        sys.stderr.write(f"socketio-cloud: {exc}\n")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _write_azure_cleanup_report(report, sys.stdout)
    return 0 if report.ok else 1


async def _run_azure_cleanup(
    admin: ServiceBusAdministrationClient, args: argparse.Namespace
) -> AzureCleanupReport:
    from .cleanup.azure import cleanup

    return await cleanup(
        admin,
        topic_name=args.topic,
        subscription_prefix=args.prefix,
        stale_after=args.stale_after,
        dry_run=args.dry_run,
    )


def _write_azure_cleanup_report(report: AzureCleanupReport, out: TextIO) -> None:
    """Write an Azure cleanup ``report`` for people to read."""
    dry = report.dry_run
    lines = [
        f"Node subscriptions {report.subscription_prefix!r}-<uid> of topic {report.topic_name!r}"
        + (" (dry run)" if dry else "")
    ]
    for title, entries in (
        ("Would delete" if dry else "Deleted", report.deleted),
        ("Kept", report.kept),
    ):
        lines.append(f"{title}: {len(entries)}")
        lines.extend(f"  {entry.name}  ({entry.reason})" for entry in entries)
    lines.append(f"Errors: {len(report.errors)}")
    lines.extend(f"  {error}" for error in report.errors)
    out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
