"""SocketIoService: Fargate tasks behind a public ALB, with a least-privilege task role."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from socketio_cloud.brokers import aws as aws_facts
from tests.cdk import CERTIFICATE_ARN, QUEUES_ARN, REGISTRY_IMAGE, Synthesis

pytestmark = pytest.mark.cdk

QUEUE_ACTIONS = [
    "sqs:CreateQueue",
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListQueueTags",
    "sqs:ReceiveMessage",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
    "sqs:UntagQueue",
]

SUBSCRIPTION_ACTIONS = [
    "sns:GetSubscriptionAttributes",
    "sns:SetSubscriptionAttributes",
    "sns:Unsubscribe",
]
TOPIC_ACTIONS = ["sns:Publish", "sns:Subscribe", *SUBSCRIPTION_ACTIONS]


def task_role_statements(topic_ref: Any) -> list[dict[str, Any]]:
    """The task role's cluster statements, as narrow as IAM can express them."""
    return [
        {
            "Sid": "ManageClusterSubscriptions",
            "Effect": "Allow",
            "Action": SUBSCRIPTION_ACTIONS,
            "Resource": topic_ref,
        },
        {"Sid": "OwnQueue", "Effect": "Allow", "Action": QUEUE_ACTIONS, "Resource": QUEUES_ARN},
        {
            "Sid": "PublishToClusterTopic",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": topic_ref,
        },
        {
            "Sid": "SubscribeOwnQueue",
            "Effect": "Allow",
            "Action": "sns:Subscribe",
            "Resource": topic_ref,
            "Condition": {
                "StringEquals": {"sns:Protocol": "sqs"},
                "ArnLike": {"sns:Endpoint": QUEUES_ARN},
            },
        },
    ]


def check_no_wider_than_a_node_needs(statements: list[dict[str, Any]], topic_ref: Any) -> None:
    """Fail on any statement of the task role that grants more than a node needs."""
    for statement in statements:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        resource = statement["Resource"]
        assert resource != "*" and "*" not in json.dumps(resource).replace(
            "GenerateDataKey*", ""
        ), f"wildcard resource in {statement.get('Sid')}"
        if any(action.startswith("sqs:") for action in actions):
            assert resource == QUEUES_ARN, f"{statement.get('Sid')} reaches other queues"
        if "sns:Subscribe" in actions:
            assert statement.get("Condition") == {
                "StringEquals": {"sns:Protocol": "sqs"},
                "ArnLike": {"sns:Endpoint": QUEUES_ARN},
            }, "sns:Subscribe must be limited to this cluster's SQS queues"
        if any(action.startswith("sns:") for action in actions):
            assert resource == topic_ref, f"{statement.get('Sid')} reaches other topics"


def container(synthesis: Synthesis) -> dict[str, Any]:
    definitions = synthesis.properties(synthesis.stack.service.task_definition)
    (definition,) = definitions["ContainerDefinitions"]
    return dict(definition)


def environment(synthesis: Synthesis) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container(synthesis)["Environment"]}


def policy_statements(synthesis: Synthesis, role: Any) -> list[dict[str, Any]]:
    """The statements of every inline policy attached to ``role``, ordered by Sid."""
    role_ref = synthesis.ref(role)
    statements = [
        statement
        for policy in synthesis.resources("AWS::IAM::Policy").values()
        if role_ref in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    return sorted(statements, key=lambda statement: statement.get("Sid", ""))


def attributes(properties: dict[str, Any], key: str) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in properties[key]}


def test_service_runs_on_fargate_in_public_subnets(default_synthesis: Synthesis) -> None:
    service = default_synthesis.properties(default_synthesis.stack.service.service)
    assert service["LaunchType"] == "FARGATE"
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    public_subnets = [default_synthesis.ref(s) for s in default_synthesis.stack.vpc.public_subnets]
    assert network["Subnets"] == public_subnets
    assert service["DesiredCount"] == 2
    assert service["HealthCheckGracePeriodSeconds"] == 60


def test_deployments_roll_back_when_the_circuit_breaker_trips(
    default_synthesis: Synthesis,
) -> None:
    service = default_synthesis.properties(default_synthesis.stack.service.service)
    assert service["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        "MaximumPercent": 200,
        "MinimumHealthyPercent": 100,
    }


def test_task_definition_is_a_small_fargate_task(default_synthesis: Synthesis) -> None:
    task = default_synthesis.properties(default_synthesis.stack.service.task_definition)
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert (task["Cpu"], task["Memory"]) == ("256", "512")


def test_container_listens_on_port_8000_and_has_time_to_delete_its_queue(
    default_synthesis: Synthesis,
) -> None:
    app = container(default_synthesis)
    assert app["Image"] == REGISTRY_IMAGE
    assert app["PortMappings"] == [{"ContainerPort": 8000, "Name": "http", "Protocol": "tcp"}]
    assert app["Essential"] is True
    assert 30 <= app["StopTimeout"] <= 60


def test_container_is_configured_by_the_app_contract(default_synthesis: Synthesis) -> None:
    topic_ref = default_synthesis.ref(default_synthesis.stack.topic.topic)
    assert environment(default_synthesis) == {
        "PORT": "8000",
        "SIO_BACKEND": "aws",
        "SIO_TOPIC_ARN": topic_ref,
        "SIO_QUEUE_PREFIX": aws_facts.DEFAULT_QUEUE_PREFIX,
        "SIO_HEARTBEAT_INTERVAL": "5",
        "SIO_HEARTBEAT_TIMEOUT": "10",
        "AWS_REGION": {"Ref": "AWS::Region"},
    }


def test_container_logs_go_to_a_log_group_with_retention(default_synthesis: Synthesis) -> None:
    log_group = default_synthesis.stack.service.log_group
    logging = container(default_synthesis)["LogConfiguration"]
    assert logging["LogDriver"] == "awslogs"
    assert logging["Options"]["awslogs-group"] == default_synthesis.ref(log_group)
    assert default_synthesis.properties(log_group)["RetentionInDays"] == 30


def test_load_balancer_is_public_with_an_idle_timeout_for_websockets(
    default_synthesis: Synthesis,
) -> None:
    balancer = default_synthesis.properties(default_synthesis.stack.service.load_balancer)
    assert balancer["Scheme"] == "internet-facing"
    assert balancer["Type"] == "application"
    assert attributes(balancer, "LoadBalancerAttributes")["idle_timeout.timeout_seconds"] == (
        "3600"
    )


def test_http_listener_forwards_to_the_tasks(default_synthesis: Synthesis) -> None:
    target_group = default_synthesis.ref(default_synthesis.stack.service.target_group)
    default_synthesis.assertions.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 1)
    default_synthesis.assertions.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": target_group}],
        },
    )


def test_an_http_only_stack_says_loudly_that_traffic_is_clear_text(
    default_synthesis: Synthesis, full_synthesis: Synthesis
) -> None:
    from aws_cdk.assertions import Annotations, Match

    warnings = Annotations.from_stack(default_synthesis.stack).find_warning(
        "*", Match.string_like_regexp("clear text")
    )
    assert warnings, "no synthesis warning for an HTTP-only load balancer"
    outputs = default_synthesis.template["Outputs"]
    [transport] = [value for key, value in outputs.items() if key.startswith("ServiceTransport")]
    assert "clear text" in transport["Value"] and "certificateArn" in transport["Value"]
    # with a certificate: no warning, no such output
    assert not Annotations.from_stack(full_synthesis.stack).find_warning(
        "*", Match.string_like_regexp("clear text")
    )
    assert not [k for k in full_synthesis.template["Outputs"] if k.startswith("ServiceTransport")]


def test_target_group_is_sticky_and_checks_healthz(default_synthesis: Synthesis) -> None:
    targets = default_synthesis.properties(default_synthesis.stack.service.target_group)
    assert (targets["Port"], targets["Protocol"], targets["TargetType"]) == (8000, "HTTP", "ip")
    assert targets["HealthCheckPath"] == "/healthz"
    assert targets["Matcher"] == {"HttpCode": "200"}
    assert attributes(targets, "TargetGroupAttributes") == {
        "stickiness.enabled": "true",
        "stickiness.type": "lb_cookie",
        "stickiness.lb_cookie.duration_seconds": "86400",
        "deregistration_delay.timeout_seconds": "30",
    }


def test_tasks_admit_traffic_from_the_load_balancer_only(default_synthesis: Synthesis) -> None:
    service = default_synthesis.stack.service
    (task_group,) = service.service.connections.security_groups
    (balancer_group,) = service.load_balancer.connections.security_groups
    assert "SecurityGroupIngress" not in default_synthesis.properties(task_group)
    ingress = [
        rule["Properties"]
        for rule in default_synthesis.resources("AWS::EC2::SecurityGroupIngress").values()
    ]
    assert ingress == [
        {
            "IpProtocol": "tcp",
            "Description": "Load balancer to target",
            "FromPort": 8000,
            "ToPort": 8000,
            "GroupId": {"Fn::GetAtt": [default_synthesis.logical_id(task_group), "GroupId"]},
            "SourceSecurityGroupId": {
                "Fn::GetAtt": [default_synthesis.logical_id(balancer_group), "GroupId"]
            },
        }
    ]


def test_https_listener_uses_the_certificate_and_port_80_redirects(
    full_synthesis: Synthesis,
) -> None:
    target_group = full_synthesis.ref(full_synthesis.stack.service.target_group)
    full_synthesis.assertions.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 2)
    full_synthesis.assertions.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": CERTIFICATE_ARN}],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": target_group}],
        },
    )
    full_synthesis.assertions.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [
                {
                    "Type": "redirect",
                    "RedirectConfig": {
                        "Port": "443",
                        "Protocol": "HTTPS",
                        "StatusCode": "HTTP_301",
                    },
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("variant", "expected"),
    [("default_synthesis", (2, 6, 60)), ("full_synthesis", (3, 10, 50))],
)
def test_task_count_scales_on_cpu(
    variant: str, expected: tuple[int, int, int], request: pytest.FixtureRequest
) -> None:
    synthesis: Synthesis = request.getfixturevalue(variant)
    minimum, maximum, target = expected
    (scalable_target,) = synthesis.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert scalable_target["Properties"]["MinCapacity"] == minimum
    assert scalable_target["Properties"]["MaxCapacity"] == maximum
    assert scalable_target["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"
    synthesis.assertions.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                },
                "TargetValue": target,
            },
        },
    )


def test_task_role_reaches_only_the_cluster_queues_and_topic(
    default_synthesis: Synthesis,
) -> None:
    service = default_synthesis.stack.service
    topic_ref = default_synthesis.ref(default_synthesis.stack.topic.topic)
    statements = policy_statements(default_synthesis, service.task_role)
    assert statements == task_role_statements(topic_ref)
    check_no_wider_than_a_node_needs(statements, topic_ref)
    # every call the transport makes (brokers/aws.py) is granted
    assert set(aws_facts.NODE_ACTIONS) <= {*TOPIC_ACTIONS, *QUEUE_ACTIONS}
    role = default_synthesis.properties(service.task_role)
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        }
    ]


@pytest.mark.parametrize(
    "widen",
    [
        lambda s: s[1].update(
            Resource=json.loads(json.dumps(QUEUES_ARN).replace("????????????????", "*"))
        ),
        lambda s: s[3].pop("Condition"),
        lambda s: s[3]["Condition"].pop("ArnLike"),
        lambda s: s[0].update(Resource="*"),
    ],
    ids=["queue wildcard", "unconditional subscribe", "any endpoint", "any subscription"],
)
def test_a_wider_task_role_fails_the_permissions_check(widen: Any) -> None:
    topic_ref = {"Ref": "ClusterTopic"}
    statements = copy.deepcopy(task_role_statements(topic_ref))
    check_no_wider_than_a_node_needs(statements, topic_ref)
    widen(statements)
    with pytest.raises(AssertionError):
        check_no_wider_than_a_node_needs(statements, topic_ref)


def test_task_role_may_use_a_customer_key_and_the_payload_prefix(
    full_synthesis: Synthesis,
) -> None:
    service = full_synthesis.stack.service
    key = full_synthesis.stack.topic.customer_key
    assert service.bucket is not None
    statements = policy_statements(full_synthesis, service.task_role)
    assert [statement.get("Sid") for statement in statements] == [
        None,
        "LargePayloads",
        "ManageClusterSubscriptions",
        "OwnQueue",
        "PublishToClusterTopic",
        "SubscribeOwnQueue",
    ]
    assert statements[0] == {
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": {"Fn::GetAtt": [full_synthesis.logical_id(key), "Arn"]},
    }
    assert statements[1] == {
        "Sid": "LargePayloads",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": {
            "Fn::Join": [
                "",
                [
                    {"Fn::GetAtt": [full_synthesis.logical_id(service.bucket), "Arn"]},
                    "/socketio-cloud/*",
                ],
            ]
        },
    }


def test_execution_role_only_writes_the_service_logs(default_synthesis: Synthesis) -> None:
    service = default_synthesis.stack.service
    assert policy_statements(default_synthesis, service.task_definition.execution_role) == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [default_synthesis.logical_id(service.log_group), "Arn"]},
        }
    ]


def test_no_payload_bucket_unless_asked(default_synthesis: Synthesis) -> None:
    default_synthesis.assertions.resource_count_is("AWS::S3::Bucket", 0)
    assert "SIO_LARGE_PAYLOAD_BUCKET" not in environment(default_synthesis)


def test_payload_bucket_is_private_encrypted_and_expires_objects(
    full_synthesis: Synthesis,
) -> None:
    bucket = full_synthesis.stack.service.bucket
    assert bucket is not None
    properties = full_synthesis.properties(bucket)
    assert properties["LifecycleConfiguration"]["Rules"] == [
        {
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "ExpirationInDays": 1,
            "Status": "Enabled",
        }
    ]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    full_synthesis.assertions.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": full_synthesis.ref(bucket),
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": "s3:*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        "Principal": {"AWS": "*"},
                    }
                ]
            },
        },
    )
    assert environment(full_synthesis)["SIO_LARGE_PAYLOAD_BUCKET"] == full_synthesis.ref(bucket)


def test_service_rejects_inconsistent_settings() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_sns as sns
    from socketio_cloud_cdk import SocketIoService

    stack = cdk.Stack(cdk.App(), "Bad")
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, restrict_default_security_group=False)
    topic = sns.Topic(stack, "Topic")
    image = ecs.ContainerImage.from_registry(REGISTRY_IMAGE)
    for index, settings in enumerate(
        [
            {"queue_prefix": "no spaces"},
            {"queue_prefix": "x" * 64},
            {"desired_count": 1, "min_capacity": 2},
            {"heartbeat_interval": 10.0, "heartbeat_timeout": 5.0},
        ]
    ):
        with pytest.raises(ValueError):
            SocketIoService(stack, f"Service{index}", vpc=vpc, topic=topic, image=image, **settings)
