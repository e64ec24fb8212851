"""``cdk deploy`` with the real CDK CLI into moto's server, then a look at what it created.

moto drops a few properties silently (SNS topic tags, target-group and load-balancer
attributes, the ECS launch type and load balancers, S3 lifecycle rules) and skips some
resource types (topic and bucket policies, autoscaling); the template tests check those.
The deploy needs no Docker engine: the app image is a registry image and the cleanup
function's asset is a plain folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from socketio_cloud.brokers.aws import DEFAULT_QUEUE_PREFIX, node_queue_wildcard
from tests.cdk import CDK_DIR, REGISTRY_IMAGE, STACK_NAME
from tests.support.moto import AWS_ACCOUNT_ID, AWS_REGION, MotoServer
from tests.support.services import require_service

pytestmark = [
    pytest.mark.cdk,
    pytest.mark.aws,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    # moto's CloudFormation skips, with a warning, the resource types it does not model
    # (topic and bucket policies, autoscaling, ...); the template tests cover those.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

CDK_CLI = CDK_DIR / "node_modules" / ".bin" / "cdk"
#: Synthesis (a jsii process) plus the deploy take about 30 s here; leave room for a busy
#: machine, but never hang.
DEPLOY_TIMEOUT = 420
#: The bootstrap version the CDK CLI 2.1148 writes; the templates require at least 6.
BOOTSTRAP_VERSION = "33"
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{AWS_ACCOUNT_ID}-{AWS_REGION}"


def bootstrap(moto: MotoServer) -> None:
    """Create the bootstrap resources ``cdk deploy`` reads: the version, the assets bucket.

    These two are all the CLI needs here: it assumes the bootstrap roles through moto's STS,
    which does not check that they exist, and a registry image needs no ECR repository.
    Created with boto3 rather than by deploying the bootstrap template into moto.
    """
    moto.client("ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version",
        Value=BOOTSTRAP_VERSION,
        Type="String",
        Overwrite=True,
    )
    moto.client("s3").create_bucket(Bucket=ASSETS_BUCKET)


def cli_environment(moto: MotoServer, home: Path) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CDK_"))
    }
    environment.update(moto.environ())
    # cdk.json runs "python3 app.py": this interpreter's, as in an activated virtualenv.
    environment["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), environment.get("PATH", "")]
    )
    environment.update(
        {
            # With 127.0.0.1 the CLI builds a template URL whose host moto reads as a
            # bucket named "127".
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{moto.port}",
            # No shared config or credentials of the machine's user.
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            # Nothing but 127.0.0.1: no version check, notices or telemetry.
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }
    )
    return environment


def deploy(moto: MotoServer, tmp_path: Path, *context: str) -> dict[str, str]:
    """Run ``cdk deploy`` from cdk/ and return the stack's outputs."""
    outputs_file = tmp_path / "outputs.json"
    command = [
        str(CDK_CLI),
        "deploy",
        STACK_NAME,
        "--output",
        str(tmp_path / "cdk.out"),
        "--method=direct",
        "--require-approval",
        "never",
        "--no-notices",
        "--ci",
        "--outputs-file",
        str(outputs_file),
    ]
    for item in context:
        command += ["--context", item]
    completed = subprocess.run(
        command,
        cwd=CDK_DIR,
        env=cli_environment(moto, tmp_path),
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (
        f"cdk deploy failed ({completed.returncode})\n"
        f"stdout:\n{completed.stdout[-6000:]}\nstderr:\n{completed.stderr[-6000:]}"
    )
    outputs: dict[str, str] = json.loads(outputs_file.read_text())[STACK_NAME]
    return outputs


def output(outputs: dict[str, str], name: str) -> str:
    """An output by the name of its construct (CDK appends a hash to output names)."""
    (value,) = [value for key, value in outputs.items() if key.startswith(name)]
    return value


def physical_ids(moto: MotoServer) -> dict[str, tuple[str, str]]:
    """logical ID -> (type, physical ID) of the deployed stack's resources."""
    pages = moto.client("cloudformation").get_paginator("list_stack_resources")
    return {
        resource["LogicalResourceId"]: (
            resource["ResourceType"],
            resource.get("PhysicalResourceId", ""),
        )
        for page in pages.paginate(StackName=STACK_NAME)
        for resource in page["StackResourceSummaries"]
    }


def one_of_type(resources: dict[str, tuple[str, str]], resource_type: str) -> str:
    (physical_id,) = [pid for kind, pid in resources.values() if kind == resource_type]
    return physical_id


class Deployment(NamedTuple):
    #: Stack outputs by name.
    outputs: dict[str, str]
    #: logical ID -> (resource type, physical ID).
    resources: dict[str, tuple[str, str]]


@pytest.fixture(scope="module")
def deployed(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The stack deployed once into a freshly reset moto, shared by this module's tests."""
    require_service(
        CDK_CLI.exists() and shutil.which("node") is not None,
        "the CDK CLI is not installed: run scripts/bootstrap (npm ci in cdk/)",
    )
    moto_server.reset()
    try:
        bootstrap(moto_server)
        outputs = deploy(
            moto_server,
            tmp_path_factory.mktemp("cdk-deploy"),
            f"image={REGISTRY_IMAGE}",
            "largePayloadBucket=true",
        )
        yield Deployment(outputs, physical_ids(moto_server))
    finally:
        # Deleting a stack with ECS resources is unreliable on moto; a reset cleans up.
        moto_server.reset()


def test_stack_is_created(moto_server: MotoServer, deployed: Deployment) -> None:
    (stack,) = moto_server.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_topic_exists_encrypted_and_is_an_output(
    moto_server: MotoServer, deployed: Deployment
) -> None:
    outputs, resources = deployed
    topic_arn = output(outputs, "ClusterTopicTopicArn")
    assert topic_arn == one_of_type(resources, "AWS::SNS::Topic")
    attributes = moto_server.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"].endswith(":alias/aws/sns")
    assert topic_arn.split(":")[-1] == output(outputs, "ClusterTopicTopicName")


def test_cleanup_function_exists_with_its_code(
    moto_server: MotoServer, deployed: Deployment
) -> None:
    outputs, resources = deployed
    name = one_of_type(resources, "AWS::Lambda::Function")
    configuration = moto_server.client("lambda").get_function(FunctionName=name)["Configuration"]
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Handler"] == "handler.handler"
    assert configuration["Environment"]["Variables"]["TOPIC_ARN"] == output(
        outputs, "ClusterTopicTopicArn"
    )
    # The code asset the CLI uploaded: handler next to the library files it imports.
    s3 = moto_server.client("s3")
    archives = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=ASSETS_BUCKET)["Contents"]
        if item["Key"].endswith(".zip")
    ]
    (archive,) = archives
    body = s3.get_object(Bucket=ASSETS_BUCKET, Key=archive)["Body"].read()
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert {
        "handler.py",
        "socketio_cloud/__init__.py",
        "socketio_cloud/brokers/aws.py",
        "socketio_cloud/cleanup/aws.py",
    } <= names


def test_schedule_rule_invokes_the_cleanup_function(
    moto_server: MotoServer, deployed: Deployment
) -> None:
    resources = deployed.resources
    events = moto_server.client("events")
    rule_name = one_of_type(resources, "AWS::Events::Rule")
    rule = events.describe_rule(Name=rule_name)
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    assert rule["State"] == "ENABLED"
    function_name = one_of_type(resources, "AWS::Lambda::Function")
    (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["Arn"].endswith(f":function:{function_name}")


def test_ecs_service_runs_the_registry_image(moto_server: MotoServer, deployed: Deployment) -> None:
    outputs = deployed.outputs
    ecs = moto_server.client("ecs")
    cluster = output(outputs, "ServiceClusterName")
    (service,) = ecs.describe_services(
        cluster=cluster, services=[output(outputs, "ServiceServiceName")]
    )["services"]
    assert service["desiredCount"] == 2
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    (app,) = task["taskDefinition"]["containerDefinitions"]
    assert app["image"] == REGISTRY_IMAGE
    assert app["portMappings"][0]["containerPort"] == 8000
    assert app["stopTimeout"] == 45
    environment = {item["name"]: item["value"] for item in app["environment"]}
    assert environment["SIO_BACKEND"] == "aws"
    assert environment["SIO_TOPIC_ARN"] == output(outputs, "ClusterTopicTopicArn")
    assert environment["SIO_LARGE_PAYLOAD_BUCKET"] == output(outputs, "ServiceLargePayloadBucket")


def test_load_balancer_forwards_port_80_to_health_checked_targets(
    moto_server: MotoServer, deployed: Deployment
) -> None:
    outputs = deployed.outputs
    elb = moto_server.client("elbv2")
    (balancer,) = elb.describe_load_balancers()["LoadBalancers"]
    assert balancer["DNSName"] == output(outputs, "ServiceLoadBalancerDnsName")
    assert balancer["Scheme"] == "internet-facing"
    (listener,) = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    (action,) = listener["DefaultActions"]
    (target_group,) = elb.describe_target_groups(TargetGroupArns=[action["TargetGroupArn"]])[
        "TargetGroups"
    ]
    assert target_group["HealthCheckPath"] == "/healthz"
    assert (target_group["Port"], target_group["TargetType"]) == (8000, "ip")


def test_task_role_policy_is_scoped_to_the_cluster(
    moto_server: MotoServer, deployed: Deployment
) -> None:
    outputs, resources = deployed
    iam = moto_server.client("iam")
    (role,) = [
        pid
        for logical_id, (kind, pid) in resources.items()
        if kind == "AWS::IAM::Role" and logical_id.startswith("ServiceTaskRole")
    ]
    (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    resources_by_sid = {
        statement["Sid"]: statement["Resource"] for statement in document["Statement"]
    }
    assert resources_by_sid["OwnQueue"] == (
        f"arn:aws:sqs:{AWS_REGION}:{AWS_ACCOUNT_ID}:{node_queue_wildcard(DEFAULT_QUEUE_PREFIX)}"
    )
    assert resources_by_sid["PublishToClusterTopic"] == output(outputs, "ClusterTopicTopicArn")
    assert resources_by_sid["LargePayloads"].endswith("/socketio-cloud/*")
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def test_log_groups_keep_logs_for_a_month(moto_server: MotoServer, deployed: Deployment) -> None:
    resources = deployed.resources
    names = [pid for kind, pid in resources.values() if kind == "AWS::Logs::LogGroup"]
    assert len(names) == 2
    groups = moto_server.client("logs").describe_log_groups()["logGroups"]
    retention = {group["logGroupName"]: group.get("retentionInDays") for group in groups}
    assert [retention[name] for name in names] == [30, 30]
