"""The app and the stack: settings from the context, network, image, names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cdk import (
    REGISTRY_IMAGE,
    STACK_NAME,
    Synthesis,
    cdk_json_context,
    jsii_quiet_environment,
    load_cdk_app,
)

pytestmark = pytest.mark.cdk


def build(**context: str) -> Any:
    """The stack built (not synthesized) by cdk/app.py from cdk.json plus ``context``."""
    import aws_cdk as cdk

    app = cdk.App(context={**cdk_json_context(), **context})
    return load_cdk_app().build(app)


def test_cdk_json_defaults_match_the_settings_defaults() -> None:
    import aws_cdk as cdk
    from socketio_cloud_cdk import ClusterSettings

    app = cdk.App(context=cdk_json_context())
    assert load_cdk_app().settings_from_context(app.node) == ClusterSettings()


def test_context_values_given_on_the_command_line_are_converted() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_logs as logs

    app = cdk.App(
        context={
            "desiredCount": "4",
            "maxCapacity": "8",
            "heartbeatInterval": "2.5",
            "largePayloadBucket": "true",
            "cleanupDryRun": "0",
            "logRetentionDays": "90",
            "image": REGISTRY_IMAGE,
            "vpcId": "",
        }
    )
    settings = load_cdk_app().settings_from_context(app.node)
    assert settings.desired_count == 4
    assert settings.max_capacity == 8
    assert settings.heartbeat_interval == 2.5
    assert settings.large_payload_bucket is True
    assert settings.cleanup_dry_run is False
    assert settings.log_retention == logs.RetentionDays.THREE_MONTHS
    assert settings.image == REGISTRY_IMAGE
    assert settings.vpc_id is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("logRetentionDays", "10"), ("desiredCount", "two"), ("largePayloadBucket", "maybe")],
)
def test_invalid_context_values_are_refused_with_their_key(key: str, value: str) -> None:
    import aws_cdk as cdk

    app = cdk.App(context={key: value})
    with pytest.raises(ValueError, match=key):
        load_cdk_app().settings_from_context(app.node)


def test_new_vpc_has_public_subnets_only_and_no_nat_gateway(
    default_synthesis: Synthesis,
) -> None:
    assertions = default_synthesis.assertions
    assertions.resource_count_is("AWS::EC2::NatGateway", 0)
    assertions.resource_count_is("AWS::EC2::EIP", 0)
    subnets = default_synthesis.resources("AWS::EC2::Subnet").values()
    assert len(subnets) == 2
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets)
    assertions.resource_count_is("AWS::EC2::InternetGateway", 1)


def test_existing_vpc_is_looked_up_in_the_cli_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_cdk import aws_ec2 as ec2

    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    stack = build(image=REGISTRY_IMAGE, vpcId="vpc-0123456789abcdef0")
    assert (stack.account, stack.region) == ("123456789012", "eu-west-1")
    assert not isinstance(stack.vpc, ec2.Vpc)


def test_every_taggable_resource_carries_the_project_tag(default_synthesis: Synthesis) -> None:
    tagged = [
        resource
        for resource in default_synthesis.template["Resources"].values()
        if "Tags" in resource.get("Properties", {})
    ]
    assert len(tagged) > 10
    for resource in tagged:
        tags = resource["Properties"]["Tags"]
        pairs = tags.items() if isinstance(tags, dict) else [(t["Key"], t["Value"]) for t in tags]
        assert ("project", "socketio-cloud") in pairs, resource["Type"]


def test_resources_keep_their_logical_ids(default_synthesis: Synthesis) -> None:
    # Renaming one of these replaces the resource: the topic's ARN would change under
    # running nodes, and logs would be lost.
    stack = default_synthesis.stack
    assert default_synthesis.logical_id(stack.topic.topic) == "ClusterTopicA89D350A"
    assert default_synthesis.logical_id(stack.service.log_group) == "ServiceLogs205D48C6"
    assert default_synthesis.logical_id(stack.cleanup.log_group) == "CleanupLogs5A23BA09"
    assert default_synthesis.logical_id(stack.service.service) == "Service9571FDD8"
    assert default_synthesis.stack.stack_name == STACK_NAME


def test_physical_names_are_left_to_cloudformation(default_synthesis: Synthesis) -> None:
    named = {
        "AWS::SNS::Topic": "TopicName",
        "AWS::ECS::Cluster": "ClusterName",
        "AWS::ECS::Service": "ServiceName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name",
        "AWS::ElasticLoadBalancingV2::TargetGroup": "Name",
        "AWS::Events::Rule": "Name",
    }
    for resource_type, name_property in named.items():
        for resource in default_synthesis.resources(resource_type).values():
            assert name_property not in resource["Properties"], resource_type


def test_image_asset_is_built_from_the_app_directory(
    full_synthesis: Synthesis, app_directory: Path
) -> None:
    import json

    definitions = full_synthesis.properties(full_synthesis.stack.service.task_definition)
    image = definitions["ContainerDefinitions"][0]["Image"]
    assert "cdk-hnb659fds-container-assets" in image["Fn::Sub"]
    assets = json.loads((full_synthesis.outdir / f"{STACK_NAME}.assets.json").read_text())
    (docker_image,) = assets["dockerImages"].values()
    assert docker_image["source"]["dockerFile"] == "app/Dockerfile"
    source = full_synthesis.outdir / docker_image["source"]["directory"]
    dockerfile = (app_directory / "app/Dockerfile").read_text()
    assert (source / "app/Dockerfile").read_text() == dockerfile
    assert (source / "adapters/socketio_cloud/__init__.py").is_file()
    # the ignore file beside the Dockerfile keeps the rest of the repository out
    assert not (source / "tests").exists() and not (source / ".venv").exists()


def test_without_an_image_flag_the_context_needs_the_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="-c image="):
        build(imageContext=str(tmp_path))


def test_a_registry_image_needs_no_app_directory(tmp_path: Path) -> None:
    stack = build(image=REGISTRY_IMAGE, imageContext=str(tmp_path / "missing"))
    assert stack.service.container.image_name == REGISTRY_IMAGE


@pytest.mark.parametrize(
    ("context", "keys"),
    [
        ({"desiredCount": "7"}, ["desiredCount", "maxCapacity"]),
        ({"heartbeatInterval": "10"}, ["heartbeatInterval", "heartbeatTimeout"]),
        ({"queuePrefix": "chat.eu"}, ["queuePrefix"]),
    ],
)
def test_contradicting_context_values_are_refused_with_their_keys(
    context: dict[str, str], keys: list[str]
) -> None:
    import aws_cdk as cdk

    app = cdk.App(context={**cdk_json_context(), **context})
    with pytest.raises(ValueError) as caught:
        load_cdk_app().settings_from_context(app.node)
    for key in keys:
        assert key in str(caught.value)


@pytest.mark.parametrize(
    ("context", "key"),
    [({"desiredCount": "abc"}, "desiredCount"), ({"minCapacity": "5"}, "minCapacity")],
)
def test_cdk_synth_with_a_wrong_setting_prints_one_line_naming_the_key(
    tmp_path: Path, context: dict[str, str], key: str
) -> None:
    """What ``cdk synth -c desiredCount=abc`` runs: the app, with the context in
    CDK_CONTEXT_JSON; it must end with one line, not a Python traceback."""
    import json
    import os
    import subprocess
    import sys

    from tests.cdk import CDK_DIR

    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), **context}),
        "CDK_OUTDIR": str(tmp_path),
        **jsii_quiet_environment(),
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=CDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("socketio-cloud CDK app: context ")
    assert key in lines[0]
    assert "expected an integer" in lines[0] or "maxCapacity" in lines[0]
    assert "Traceback" not in result.stderr
