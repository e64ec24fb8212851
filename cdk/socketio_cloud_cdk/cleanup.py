"""The scheduled function that deletes the queues crashed nodes left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Stage, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from .settings import aws_facts, cleanup_handler_directory, library_directory

__all__ = ["LIBRARY_FILES", "CleanupFunction", "stage_cleanup_code"]

#: The files of the ``socketio_cloud`` package the handler imports. They need only the
#: standard library and boto3, which the Lambda runtime provides.
LIBRARY_FILES = (
    "__init__.py",
    "py.typed",
    "brokers/__init__.py",
    "brokers/aws.py",
    "cleanup/__init__.py",
    "cleanup/aws.py",
)


def stage_cleanup_code(handler_directory: Path, package_directory: Path, staging: Path) -> Path:
    """Lay out the function's code in ``staging``: the handler files and the library files.

    A plain copy instead of a Docker bundling step, so synthesis needs no Docker engine.
    ``staging`` is emptied first; returns it.
    """
    if not (handler_directory / "handler.py").is_file():
        raise FileNotFoundError(f"no handler.py in {handler_directory}")
    missing = [name for name in LIBRARY_FILES if not (package_directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{package_directory} lacks {', '.join(missing)}")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(
        handler_directory, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in LIBRARY_FILES:
        target = staging / "socketio_cloud" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package_directory / name, target)
    return staging


class CleanupFunction(Construct):
    """A Lambda function, run on a schedule, deleting stale per-node queues of the cluster.

    A queue is stale when its liveness tag is older than ``stale_after``, or when it has no
    tag and was created more than ``grace_period`` ago; the function deletes it with its SNS
    subscription. Its role can list queues (``sqs:ListQueues`` has no resource-level
    permission), read and delete only the cluster's queues, and unsubscribe only from the
    cluster's topic. The code is ``handler_directory`` (default: the checkout's
    ``functions/aws_cleanup``, or the copy in the installed package) plus the cleanup files
    of the ``socketio_cloud`` package in ``package_directory`` (default: the checkout's, or
    the installed one).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue_prefix: str,
        topic: sns.ITopic,
        period: Duration | None = None,
        stale_after: Duration | None = None,
        grace_period: Duration | None = None,
        dry_run: bool = False,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        handler_directory: Path | None = None,
        package_directory: Path | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        handler_directory = handler_directory or cleanup_handler_directory()
        package_directory = package_directory or library_directory()
        stack = Stack.of(self)
        stage = Stage.of(self)
        if stage is None:
            raise ValueError("CleanupFunction must be inside an App or a Stage")
        # Staged inside the cloud assembly directory (cdk.out), once per construct; CDK
        # then copies it into its content-addressed asset directory.
        staging = stage_cleanup_code(
            handler_directory,
            package_directory,
            Path(stage.outdir) / "staging" / f"cleanup-{self.node.addr}",
        )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        # An explicit role instead of the AWS managed basic-execution policy: logs go to
        # this function's log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="socketio-cloud cleanup: deletes stale per-node queues",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListQueues",
                # ListQueues supports no resource-level permission; the function filters
                # by the queue name prefix itself.
                actions=["sqs:ListQueues"],
                resources=["*"],
            )
        )
        # exactly <prefix>-<16 characters>: never the queues of a prefix extending this one
        queues_arn = stack.format_arn(
            service="sqs",
            resource=aws_facts.node_queue_wildcard(queue_prefix),
            arn_format=ArnFormat.NO_RESOURCE_NAME,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ClusterQueues",
                # Tags (liveness mark) and CreatedTimestamp decide, DeleteQueue removes;
                # GetQueueUrl tells whether a subscription's queue still exists.
                actions=[
                    "sqs:ListQueueTags",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:DeleteQueue",
                ],
                resources=[queues_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ClusterTopic",
                # Both are authorized against the topic ARN (Unsubscribe: the topic of the
                # subscription being removed).
                actions=["sns:ListSubscriptionsByTopic", "sns:Unsubscribe"],
                resources=[topic.topic_arn],
            )
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="sqs:ListQueues has no resource-level permissions; it is the only action "
                "granted on '*'.",
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(staging)),
            role=self.role,
            timeout=Duration.minutes(5),
            memory_size=256,
            # One run at a time: overlapping runs would race to delete the same queues.
            reserved_concurrent_executions=1,
            log_group=self.log_group,
            description="Deletes the SQS queues and SNS subscriptions of dead socketio-cloud nodes",
            environment={
                "QUEUE_PREFIX": queue_prefix,
                "TOPIC_ARN": topic.topic_arn,
                "STALE_AFTER_SECONDS": str(int((stale_after or Duration.minutes(15)).to_seconds())),
                "GRACE_PERIOD_SECONDS": str(
                    int((grace_period or Duration.minutes(15)).to_seconds())
                ),
                "DRY_RUN": "true" if dry_run else "false",
            },
        )
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="Pinned to Python 3.12, a runtime the library is tested on; it is supported "
                "by Lambda and upgraded deliberately with the library's test matrix.",
            )
        )

        self.rule = events.Rule(
            self,
            "Schedule",
            description="Runs the socketio-cloud queue cleanup",
            schedule=events.Schedule.rate(period or Duration.minutes(15)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
