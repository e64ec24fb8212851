"""The constructs from another CDK app: cdk/ built and installed as the ``socketio-cloud-cdk``
package, then ``tests/cdk/reuse_app.py`` (a stack of its own, its own image) synthesized
against the installed copy, as ``cdk synth`` runs an app."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cdk import CDK_DIR, CERTIFICATE_ARN, REPO_ROOT, jsii_quiet_environment
from tests.cdk import reuse_app as user_app
from tests.support.services import require_service

pytestmark = pytest.mark.cdk


@dataclass
class UserSynthesis:
    wheel: Path
    outdir: Path
    template: dict[str, Any]
    report: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, sorted(found)
        logical_id, resource = found.popitem()
        return logical_id, resource["Properties"]


@pytest.fixture(scope="module")
def user_synthesis(tmp_path_factory: pytest.TempPathFactory) -> UserSynthesis:
    require_service(
        importlib.util.find_spec("hatchling") is not None,
        "hatchling (the build backend of cdk/pyproject.toml) is not installed",
    )
    base = tmp_path_factory.mktemp("reuse")
    wheels, target, outdir = base / "wheels", base / "site", base / "cdk.out"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(CDK_DIR)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("socketio_cloud_cdk-*.whl")
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # Only the installed construct package and the library: not cdk/, not the repository root.
    env = {
        **os.environ,
        **jsii_quiet_environment(),
        "PYTHONPATH": os.pathsep.join([str(target), str(REPO_ROOT / "adapters")]),
        "CDK_OUTDIR": str(outdir),
        "ACME_CERTIFICATE_ARN": CERTIFICATE_ARN,
    }
    result = subprocess.run(
        [sys.executable, str(Path(user_app.__file__))],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report_file = outdir / "validation-report.json"
    return UserSynthesis(
        wheel=wheel,
        outdir=outdir,
        template=json.loads((outdir / f"{user_app.STACK_NAME}.template.json").read_text()),
        report=json.loads(report_file.read_text()) if report_file.exists() else {},
    )


def test_the_wheel_carries_the_constructs_and_the_cleanup_handler(
    user_synthesis: UserSynthesis,
) -> None:
    names = set(zipfile.ZipFile(user_synthesis.wheel).namelist())
    assert {
        "socketio_cloud_cdk/__init__.py",
        "socketio_cloud_cdk/service.py",
        "socketio_cloud_cdk/py.typed",
        "socketio_cloud_cdk/functions/aws_cleanup/handler.py",
    } <= names
    handler = zipfile.ZipFile(user_synthesis.wheel).read(
        "socketio_cloud_cdk/functions/aws_cleanup/handler.py"
    )
    assert handler == (REPO_ROOT / "functions" / "aws_cleanup" / "handler.py").read_bytes()


def test_the_service_runs_the_users_image_with_its_environment(
    user_synthesis: UserSynthesis,
) -> None:
    topic_id, _ = user_synthesis.one("AWS::SNS::Topic")
    _, task = user_synthesis.one("AWS::ECS::TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    assert container["Image"] == user_app.IMAGE
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment["SIO_BACKEND"] == "aws"
    assert environment["SIO_TOPIC_ARN"] == {"Ref": topic_id}
    assert environment["SIO_QUEUE_PREFIX"] == user_app.QUEUE_PREFIX
    assert environment["PORT"] == "8000"
    for name, value in user_app.ENVIRONMENT.items():
        assert environment[name] == value
    assert container["StopTimeout"] >= 30
    assert container["PortMappings"][0]["ContainerPort"] == 8000


def test_the_task_role_is_wired_to_the_topic_and_the_users_queues(
    user_synthesis: UserSynthesis,
) -> None:
    topic_id, _ = user_synthesis.one("AWS::SNS::Topic")
    _, task = user_synthesis.one("AWS::ECS::TaskDefinition")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    (policy,) = [
        resource["Properties"]
        for resource in user_synthesis.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in resource["Properties"]["Roles"]
    ]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["PublishToClusterTopic"]["Action"] == "sns:Publish"
    assert statements["PublishToClusterTopic"]["Resource"] == {"Ref": topic_id}
    queues = json.dumps(statements["OwnQueue"]["Resource"])
    assert f":{user_app.QUEUE_PREFIX}-{'?' * 16}" in queues


def test_the_cleanup_function_ships_the_packaged_handler_and_the_library(
    user_synthesis: UserSynthesis,
) -> None:
    topic_id, _ = user_synthesis.one("AWS::SNS::Topic")
    _, function = user_synthesis.one("AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    assert (variables["QUEUE_PREFIX"], variables["TOPIC_ARN"]) == (
        user_app.QUEUE_PREFIX,
        {"Ref": topic_id},
    )
    asset = user_synthesis.outdir / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "handler.py").is_file()
    assert (asset / "socketio_cloud" / "cleanup" / "aws.py").is_file()


def test_the_users_stack_passes_cdk_nag(user_synthesis: UserSynthesis) -> None:
    assert user_synthesis.report.get("pluginReports", []) == []


def test_the_clusters_variables_cannot_be_replaced_by_the_apps_environment() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from socketio_cloud_cdk import ClusterTopic, SocketIoService

    stack = cdk.Stack(cdk.App(), "Clash")
    with pytest.raises(ValueError, match="SIO_TOPIC_ARN"):
        SocketIoService(
            stack,
            "Service",
            vpc=ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1),
            topic=ClusterTopic(stack, "Topic").topic,
            image=ecs.ContainerImage.from_registry(user_app.IMAGE),
            environment={"SIO_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:other"},
        )
