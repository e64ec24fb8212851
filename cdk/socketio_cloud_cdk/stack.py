"""The stack: a whole socketio-cloud cluster, composed from the constructs of this package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Duration, IgnoreMode, Stack, Tags, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from constructs import Construct

from .cleanup import CleanupFunction
from .service import SocketIoService
from .settings import ClusterSettings
from .topic import ClusterTopic

__all__ = ["SocketIoCloudStack", "docker_ignore"]


def docker_ignore(context: Path, dockerfile: str) -> list[str]:
    """The ignore patterns ``docker build`` applies to ``context`` for ``dockerfile``: those of
    ``<dockerfile>.dockerignore`` beside it, else of the context's ``.dockerignore``."""
    for candidate in (context / f"{dockerfile}.dockerignore", context / ".dockerignore"):
        if candidate.is_file():
            lines = candidate.read_text().splitlines()
            return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return []


class SocketIoCloudStack(Stack):
    """Topic, service and cleanup function of one cluster, configured by ``settings``.

    ``image`` runs any container image (``ecs.ContainerImage.from_asset(...)`` of your own
    Dockerfile, ``from_ecr_repository(...)``, ...) instead of ``settings.image`` or the
    reference app built from ``settings.image_context``.

    Logical IDs are fixed by the construct ids below; keep them when refactoring, or
    CloudFormation replaces the resources (the topic's ARN would change under running nodes).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ClusterSettings,
        image: ecs.ContainerImage | None = None,
        **stack_options: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_options)
        self.settings = settings
        for key, value in settings.tags.items():
            Tags.of(self).add(key, value)

        self.vpc = self._vpc(settings)

        topic_key = None
        if settings.customer_managed_key:
            topic_key = kms.Key(
                self,
                "TopicKey",
                description="socketio-cloud cluster topic",
                enable_key_rotation=True,
            )
        self.topic = ClusterTopic(self, "ClusterTopic", encryption_key=topic_key)

        if image is None:
            image = self._image(settings)

        self.service = SocketIoService(
            self,
            "Service",
            vpc=self.vpc,
            topic=self.topic.topic,
            topic_key=topic_key,
            image=image,
            queue_prefix=settings.queue_prefix,
            heartbeat_interval=settings.heartbeat_interval,
            heartbeat_timeout=settings.heartbeat_timeout,
            desired_count=settings.desired_count,
            min_capacity=settings.min_capacity,
            max_capacity=settings.max_capacity,
            cpu_target_percent=settings.cpu_target_percent,
            cpu=settings.cpu,
            memory_mib=settings.memory_mib,
            certificate_arn=settings.certificate_arn,
            large_payload_bucket=settings.large_payload_bucket,
            log_retention=settings.log_retention,
            environment=settings.environment,
        )

        self.cleanup = CleanupFunction(
            self,
            "Cleanup",
            handler_directory=settings.cleanup_handler_directory,
            package_directory=settings.library_package_directory,
            queue_prefix=settings.queue_prefix,
            topic=self.topic.topic,
            period=Duration.seconds(settings.cleanup_period),
            stale_after=Duration.seconds(settings.stale_after),
            grace_period=Duration.seconds(settings.grace_period),
            dry_run=settings.cleanup_dry_run,
            log_retention=settings.log_retention,
        )

    def _image(self, settings: ClusterSettings) -> ecs.ContainerImage:
        if settings.image:
            return ecs.ContainerImage.from_registry(settings.image)
        if not (settings.image_context / settings.dockerfile).is_file():
            raise FileNotFoundError(
                f"no {settings.dockerfile} in {settings.image_context}: build the app image "
                "from there, or pass a registry image with -c image=<repository:tag>"
            )
        return ecs.ContainerImage.from_asset(
            str(settings.image_context),
            file=settings.dockerfile,
            # the same context app/Dockerfile.dockerignore gives `docker build`
            exclude=docker_ignore(settings.image_context, settings.dockerfile),
            ignore_mode=IgnoreMode.DOCKER,
        )

    def _vpc(self, settings: ClusterSettings) -> ec2.IVpc:
        if settings.vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=settings.max_azs,
            # Public subnets only: the load balancer and the tasks (with public IPs) live
            # there, so no NAT gateway (about 33 USD a month each) is needed.
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                )
            ],
            # True would add a custom-resource Lambda to strip the default security group's
            # rules; nothing here uses that group.
            restrict_default_security_group=False,
        )
        Validations.of(vpc).acknowledge(
            Acknowledgment(
                id="AwsSolutions-VPC7",
                reason="The VPC carries only load-balancer and task traffic, which the app "
                "logs; flow logs would add an always-on cost. Add them when auditing needs them.",
            )
        )
        return vpc
