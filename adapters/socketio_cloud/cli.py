"""The ``socketio-cloud`` command line.

Commands, each a subparser registered by one ``_add_*`` function::

    socketio-cloud cleanup aws --prefix P [--topic-arn A] [--stale-after S]
        [--grace-period S] [--dry-run] [--region R] [--endpoint-url URL] [--json]

Every command returns an exit status: 0 on success, 1 when something failed, 2 on a usage
error (from argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .brokers import aws as aws_facts

if TYPE_CHECKING:
    from .cleanup.aws import CleanupReport

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
    return parser


def _add_cleanup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cleanup = commands.add_parser(
        "cleanup",
        help="delete the resources that crashed nodes left behind",
        description="Delete the per-node resources that crashed nodes left behind.",
    )
    brokers = cleanup.add_subparsers(title="brokers", metavar="BROKER", required=True)
    _add_cleanup_aws(brokers)


def _add_cleanup_aws(brokers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    aws = brokers.add_parser(
        "aws",
        help="stale SQS node queues and their SNS subscriptions",
        description=(
            "Delete the SQS queues <prefix>-<node uid> whose liveness mark is stale, their "
            "SNS subscriptions, and (with --topic-arn) the topic's subscriptions whose "
            "queue is gone. Credentials and region come from boto3's usual sources."
        ),
    )
    aws.add_argument("--prefix", required=True, help="the cluster's queue prefix")
    aws.add_argument("--topic-arn", help="also remove this topic's subscriptions to lost queues")
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
    aws.add_argument("--region", help="AWS region (default: boto3's configuration)")
    aws.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local emulator")
    aws.add_argument("--json", action="store_true", help="print the report as JSON")
    aws.set_defaults(command=_cleanup_aws)


def _cleanup_aws(args: argparse.Namespace) -> int:
    try:
        import boto3
    except ImportError:
        sys.stderr.write("socketio-cloud: boto3 is missing; install socketio-cloud[aws]\n")
        return 1
    from .cleanup.aws import cleanup

    options = {"region_name": args.region, "endpoint_url": args.endpoint_url}
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


if __name__ == "__main__":
    sys.exit(main())
