#!/usr/bin/env python3
"""The CDK app: one SocketIoCloud stack, configured from the CDK context.

Every setting is a context key, with its default in ``cdk.json``; override one with
``cdk deploy -c key=value`` (e.g. ``-c image=public.ecr.aws/org/app:1.2 -c desiredCount=3``).
This module is the only place that reads the context. A wrong value ends ``cdk synth`` with
one line naming its key (exit status 2), not a Python traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks
from constructs import Node
from socketio_cloud_cdk import ClusterSettings, SocketIoCloudStack
from socketio_cloud_cdk.settings import aws_facts

T = TypeVar("T")

#: CloudWatch Logs accepts only these retention periods (days).
RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


_EXPECTED: dict[Callable[[Any], Any], str] = {int: "an integer", float: "a number"}


def parse_bool(value: Any) -> bool:
    """A context flag: JSON booleans from cdk.json, text from ``-c key=value``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def settings_from_context(node: Node) -> ClusterSettings:
    """Read the deployment's settings from the context; unset keys keep their defaults."""
    defaults = ClusterSettings()

    def read(key: str, convert: Callable[[Any], T], default: T) -> T:
        value = node.try_get_context(key)
        if value is None or value == "":
            return default
        try:
            return convert(value)
        except ValueError as error:
            expected = _EXPECTED.get(convert)
            reason = f"expected {expected}" if expected else str(error)
            raise ValueError(f"context {key}={value!r}: {reason}") from None

    def optional_text(key: str) -> str | None:
        value = node.try_get_context(key)
        return str(value) if value else None

    retention_days = read("logRetentionDays", int, 30)
    if retention_days not in RETENTION_DAYS:
        raise ValueError(f"context logRetentionDays: use one of {sorted(RETENTION_DAYS)}")

    settings = ClusterSettings(
        queue_prefix=read("queuePrefix", str, defaults.queue_prefix),
        heartbeat_interval=read("heartbeatInterval", float, defaults.heartbeat_interval),
        heartbeat_timeout=read("heartbeatTimeout", float, defaults.heartbeat_timeout),
        desired_count=read("desiredCount", int, defaults.desired_count),
        min_capacity=read("minCapacity", int, defaults.min_capacity),
        max_capacity=read("maxCapacity", int, defaults.max_capacity),
        cpu_target_percent=read("cpuTargetPercent", int, defaults.cpu_target_percent),
        cpu=read("cpu", int, defaults.cpu),
        memory_mib=read("memoryMiB", int, defaults.memory_mib),
        image=optional_text("image"),
        image_context=read("imageContext", Path, defaults.image_context),
        vpc_id=optional_text("vpcId"),
        max_azs=read("maxAzs", int, defaults.max_azs),
        certificate_arn=optional_text("certificateArn"),
        large_payload_bucket=read("largePayloadBucket", parse_bool, False),
        customer_managed_key=read("customerManagedKey", parse_bool, False),
        cleanup_period=read("cleanupPeriodSeconds", int, defaults.cleanup_period),
        stale_after=read("staleAfterSeconds", int, defaults.stale_after),
        grace_period=read("gracePeriodSeconds", int, defaults.grace_period),
        cleanup_dry_run=read("cleanupDryRun", parse_bool, False),
        cleanup_handler_directory=read(
            "cleanupHandlerDirectory", Path, defaults.cleanup_handler_directory
        ),
        library_package_directory=read(
            "libraryPackageDirectory", Path, defaults.library_package_directory
        ),
        log_retention=RETENTION_DAYS[retention_days],
    )
    check(settings)
    return settings


def check(settings: ClusterSettings) -> None:
    """Refuse values that contradict each other, naming their context keys (the constructs
    would refuse them too, naming their Python parameters)."""
    if not aws_facts.QUEUE_PREFIX_PATTERN.match(settings.queue_prefix):
        raise ValueError(
            f"context queuePrefix={settings.queue_prefix!r}: 1 to 63 letters, digits, - or _"
        )
    if not settings.min_capacity <= settings.desired_count <= settings.max_capacity:
        raise ValueError(
            f"context minCapacity={settings.min_capacity}, desiredCount={settings.desired_count},"
            f" maxCapacity={settings.max_capacity}: need minCapacity <= desiredCount <= maxCapacity"
        )
    if not 0 < settings.heartbeat_interval < settings.heartbeat_timeout:
        raise ValueError(
            f"context heartbeatInterval={settings.heartbeat_interval:g}, heartbeatTimeout="
            f"{settings.heartbeat_timeout:g}: need 0 < heartbeatInterval < heartbeatTimeout"
        )


def build(app: cdk.App) -> SocketIoCloudStack:
    """Add the stack to ``app`` and check it with cdk-nag's AwsSolutions rules at synthesis."""
    settings = settings_from_context(app.node)
    env = None
    if settings.vpc_id:
        # Looking up an existing VPC needs a concrete account and region; the CLI sets
        # these from the credentials and profile in use.
        env = cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        )
    stack = SocketIoCloudStack(
        app,
        str(app.node.try_get_context("stackName") or "SocketIoCloud"),
        settings=settings,
        env=env,
        description="socketio-cloud: a python-socketio cluster over SNS and SQS on ECS Fargate",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> int:
    app = cdk.App()
    try:
        build(app)
    except (ValueError, FileNotFoundError) as error:
        # A settings mistake: one line for the person at the terminal, not a traceback.
        sys.stderr.write(f"socketio-cloud CDK app: {error}\n")
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
