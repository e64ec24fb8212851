"""A CDK app of someone else's: their own chat image on the socketio-cloud constructs.

Written as a user would, against the installed ``socketio-cloud-cdk`` package (nothing from
this repository's cdk/ folder): its own stack, VPC and image, the cluster's topic, service and
cleanup function from the package, cdk-nag's AwsSolutions checks at synthesis.
``tests/cdk/test_reuse.py`` runs it as ``cdk synth`` would and reads what it wrote.
"""

from __future__ import annotations

import os
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from cdk_nag import AwsSolutionsChecks
from constructs import Construct
from socketio_cloud_cdk import CleanupFunction, ClusterTopic, SocketIoService

STACK_NAME = "AcmeChat"
IMAGE = "public.ecr.aws/acme/chat:1.4.2"
ENVIRONMENT = {"CHAT_WELCOME": "Welcome to Acme chat", "SIO_LOG_LEVEL": "warning"}
QUEUE_PREFIX = "acme-chat"


class ChatStack(cdk.Stack):
    """The user's stack: their VPC, the cluster's constructs, their image."""

    def __init__(self, scope: Construct, construct_id: str, **options: Any) -> None:
        super().__init__(scope, construct_id, **options)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                )
            ],
            restrict_default_security_group=False,
        )
        cdk.Validations.of(vpc).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-VPC7", reason="Flow logs are not needed for this chat."
            )
        )
        self.topic = ClusterTopic(self, "Topic")
        self.service = SocketIoService(
            self,
            "Chat",
            vpc=vpc,
            topic=self.topic.topic,
            image=ecs.ContainerImage.from_registry(IMAGE),
            environment=ENVIRONMENT,
            queue_prefix=QUEUE_PREFIX,
            certificate_arn=os.environ["ACME_CERTIFICATE_ARN"],
        )
        self.cleanup = CleanupFunction(
            self, "Cleanup", queue_prefix=QUEUE_PREFIX, topic=self.topic.topic
        )


def main() -> None:
    app = cdk.App()
    ChatStack(app, STACK_NAME)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
