"""CleanupFunction: the scheduled Lambda that deletes the queues of dead nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from socketio_cloud.brokers import aws as aws_facts
from tests.cdk import QUEUES_ARN, REPO_ROOT, Synthesis

pytestmark = pytest.mark.cdk

LIBRARY_FILES = {
    "socketio_cloud/__init__.py",
    "socketio_cloud/py.typed",
    "socketio_cloud/brokers/__init__.py",
    "socketio_cloud/brokers/aws.py",
    "socketio_cloud/cleanup/__init__.py",
    "socketio_cloud/cleanup/aws.py",
}


def files_under(directory: Path) -> set[str]:
    return {
        path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()
    }


def function_properties(synthesis: Synthesis) -> dict[str, Any]:
    return synthesis.properties(synthesis.stack.cleanup.function)


def test_function_runs_the_handler_on_python_3_12(default_synthesis: Synthesis) -> None:
    function = function_properties(default_synthesis)
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "handler.handler"
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Role"] == {
        "Fn::GetAtt": [default_synthesis.logical_id(default_synthesis.stack.cleanup.role), "Arn"]
    }


def test_function_is_configured_for_the_cluster(default_synthesis: Synthesis) -> None:
    topic_ref = default_synthesis.ref(default_synthesis.stack.topic.topic)
    assert function_properties(default_synthesis)["Environment"]["Variables"] == {
        "QUEUE_PREFIX": aws_facts.DEFAULT_QUEUE_PREFIX,
        "TOPIC_ARN": topic_ref,
        "STALE_AFTER_SECONDS": f"{aws_facts.DEFAULT_STALE_AFTER:g}",
        "GRACE_PERIOD_SECONDS": f"{aws_facts.DEFAULT_GRACE_PERIOD:g}",
        "DRY_RUN": "false",
    }


def test_function_role_is_scoped_to_the_cluster(default_synthesis: Synthesis) -> None:
    cleanup = default_synthesis.stack.cleanup
    topic_ref = default_synthesis.ref(default_synthesis.stack.topic.topic)
    role_ref = default_synthesis.ref(cleanup.role)
    (policy,) = [
        policy["Properties"]
        for policy in default_synthesis.resources("AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"] == [role_ref]
    ]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [default_synthesis.logical_id(cleanup.log_group), "Arn"]},
        },
        {"Sid": "ListQueues", "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"},
        {
            "Sid": "ClusterQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:DeleteQueue",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
            ],
            "Resource": QUEUES_ARN,
        },
        {
            "Sid": "ClusterTopic",
            "Effect": "Allow",
            "Action": ["sns:ListSubscriptionsByTopic", "sns:Unsubscribe"],
            "Resource": topic_ref,
        },
    ]
    granted = {
        action
        for statement in policy["PolicyDocument"]["Statement"][1:]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert granted == set(aws_facts.CLEANUP_ACTIONS)  # what the cleanup calls, no more
    role = default_synthesis.properties(cleanup.role)
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }


@pytest.mark.parametrize(
    ("variant", "rate", "retention"),
    [("default_synthesis", "rate(15 minutes)", 30), ("full_synthesis", "rate(10 minutes)", 7)],
)
def test_schedule_and_log_retention_follow_the_settings(
    variant: str, rate: str, retention: int, request: pytest.FixtureRequest
) -> None:
    synthesis: Synthesis = request.getfixturevalue(variant)
    cleanup = synthesis.stack.cleanup
    function_arn = {"Fn::GetAtt": [synthesis.logical_id(cleanup.function), "Arn"]}
    rule = synthesis.properties(cleanup.rule)
    assert rule["ScheduleExpression"] == rate
    assert rule["State"] == "ENABLED"
    assert [target["Arn"] for target in rule["Targets"]] == [function_arn]
    synthesis.assertions.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": function_arn,
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [synthesis.logical_id(cleanup.rule), "Arn"]},
        },
    )
    assert synthesis.properties(cleanup.log_group)["RetentionInDays"] == retention
    assert function_properties(synthesis)["LoggingConfig"] == {
        "LogGroup": synthesis.ref(cleanup.log_group)
    }


def test_code_asset_holds_the_handler_and_the_library_files(
    default_synthesis: Synthesis,
) -> None:
    code = function_properties(default_synthesis)["Code"]
    asset_hash = code["S3Key"].removesuffix(".zip")
    asset = default_synthesis.outdir / f"asset.{asset_hash}"
    handler_files = {
        name
        for name in files_under(REPO_ROOT / "functions" / "aws_cleanup")
        if "__pycache__" not in name and not name.endswith(".pyc")
    }
    assert "handler.py" in handler_files
    assert files_under(asset) == handler_files | LIBRARY_FILES
    for name in LIBRARY_FILES:
        source = REPO_ROOT / "adapters" / name
        assert (asset / name).read_bytes() == source.read_bytes()


def test_staging_refuses_an_incomplete_source(tmp_path: Path) -> None:
    from socketio_cloud_cdk.cleanup import stage_cleanup_code

    handler = tmp_path / "handler"
    handler.mkdir()
    package = REPO_ROOT / "adapters" / "socketio_cloud"
    with pytest.raises(FileNotFoundError, match=r"handler\.py"):
        stage_cleanup_code(handler, package, tmp_path / "staging")
    (handler / "handler.py").write_text("def handler(event, context):\n    return {}\n")
    with pytest.raises(FileNotFoundError, match=r"cleanup/aws\.py"):
        stage_cleanup_code(handler, tmp_path / "handler", tmp_path / "staging")


def test_staging_replaces_earlier_contents_and_skips_bytecode(tmp_path: Path) -> None:
    from socketio_cloud_cdk.cleanup import stage_cleanup_code

    handler = tmp_path / "handler"
    (handler / "__pycache__").mkdir(parents=True)
    (handler / "handler.py").write_text("def handler(event, context):\n    return {}\n")
    (handler / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\0")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "left-over.txt").write_text("from an earlier synthesis")

    stage_cleanup_code(handler, REPO_ROOT / "adapters" / "socketio_cloud", staging)

    assert files_under(staging) == {"handler.py"} | LIBRARY_FILES
