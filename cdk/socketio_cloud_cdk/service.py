"""The Socket.IO service: Fargate tasks of the app behind a public Application Load Balancer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from aws_cdk import (
    Acknowledgment,
    Annotations,
    ArnFormat,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from .settings import aws_facts

__all__ = ["CONTAINER_PORT", "SocketIoService"]

#: The port the app listens on (its ``PORT`` variable) and the target group forwards to.
CONTAINER_PORT = 8000
CONTAINER_NAME = "app"
HEALTH_CHECK_PATH = "/healthz"

#: SQS queue names allow letters, digits, ``-`` and ``_`` up to 80 characters; the node adds
#: ``-`` and 16 hex characters to the prefix.
_QUEUE_PREFIX = aws_facts.QUEUE_PREFIX_PATTERN


#: What an HTTP-only deployment says at synthesis and in its outputs.
CLEAR_TEXT_WARNING = (
    "HTTP only: websocket and polling traffic crosses the internet in clear text. "
    "Deploy with -c certificateArn=<ACM certificate ARN> for HTTPS (port 80 then redirects)."
)


class SocketIoService(Construct):
    """The app on ECS Fargate behind an internet-facing ALB, scaled on CPU.

    Websocket-friendly balancing: sticky sessions (a load-balancer cookie, so the HTTP
    long-polling requests of one Engine.IO session reach the same task), an idle timeout of an
    hour (websockets are quiet between pings), a modest deregistration delay, and a stop
    timeout long enough for a stopping node to delete its queue and SNS subscription.

    The task role may only touch the cluster's own queues (``<queue_prefix>-*``) and topic,
    and, when ``large_payload_bucket`` is set, objects under ``large_payload_prefix`` of a
    bucket whose objects expire after a day.

    ``image`` is any container image that keeps the container contract (docs/your-app.md):
    it listens on ``PORT``, answers ``GET /healthz`` with 200 once its node joined the
    cluster, reads the cluster's ``SIO_*`` variables (``socketio_cloud.from_env()``) and
    closes its manager on SIGTERM within ``stop_timeout``. ``environment`` adds the app's own
    variables; the cluster's (``PORT``, ``SIO_BACKEND``, ``SIO_TOPIC_ARN``,
    ``SIO_QUEUE_PREFIX``, ``SIO_HEARTBEAT_*``, ``SIO_LARGE_PAYLOAD_BUCKET``, ``AWS_REGION``)
    come from the other parameters and cannot be replaced there.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        topic: sns.ITopic,
        image: ecs.ContainerImage,
        topic_key: kms.IKey | None = None,
        queue_prefix: str = aws_facts.DEFAULT_QUEUE_PREFIX,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
        desired_count: int = 2,
        min_capacity: int = 2,
        max_capacity: int = 6,
        cpu_target_percent: int = 60,
        cpu: int = 256,
        memory_mib: int = 512,
        certificate_arn: str | None = None,
        large_payload_bucket: bool = False,
        large_payload_prefix: str = "socketio-cloud/",
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        idle_timeout: Duration | None = None,
        stickiness_duration: Duration | None = None,
        deregistration_delay: Duration | None = None,
        stop_timeout: Duration | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not _QUEUE_PREFIX.match(queue_prefix):
            raise ValueError(f"queue_prefix {queue_prefix!r}: use 1-63 of A-Z a-z 0-9 - _")
        if not min_capacity <= desired_count <= max_capacity:
            raise ValueError("need min_capacity <= desired_count <= max_capacity")
        if not 0 < heartbeat_interval < heartbeat_timeout:
            raise ValueError("need 0 < heartbeat_interval < heartbeat_timeout")

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )

        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="socketio-cloud node: its own SQS queue and the cluster topic",
        )
        self._grant_cluster_access(topic, topic_key, queue_prefix)

        self.bucket: s3.Bucket | None = None
        cluster_environment = {
            "PORT": str(CONTAINER_PORT),
            "SIO_BACKEND": "aws",
            "SIO_TOPIC_ARN": topic.topic_arn,
            "SIO_QUEUE_PREFIX": queue_prefix,
            "SIO_HEARTBEAT_INTERVAL": f"{heartbeat_interval:g}",
            "SIO_HEARTBEAT_TIMEOUT": f"{heartbeat_timeout:g}",
            "AWS_REGION": Stack.of(self).region,
        }
        if large_payload_bucket:
            self.bucket = self._large_payload_bucket(large_payload_prefix)
            cluster_environment["SIO_LARGE_PAYLOAD_BUCKET"] = self.bucket.bucket_name
        # The app's own variables; those of the cluster above are what the task role and
        # the cleanup are scoped to, so they cannot be replaced.
        clashes = sorted(set(environment or {}) & set(cluster_environment))
        if clashes:
            raise ValueError(
                f"environment: {', '.join(clashes)} are set by SocketIoService "
                "(use its parameters instead)"
            )
        container_environment = {**cluster_environment, **(environment or {})}

        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=cpu,
            memory_limit_mib=memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=ecs.CpuArchitecture.X86_64,
            ),
        )
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=image,
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=CONTAINER_PORT, name="http")],
            environment=container_environment,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=self.log_group),
            # ECS sends SIGTERM, then SIGKILL after this: the node needs the time to send
            # ADAPTER_CLOSE, unsubscribe and delete its queue (a few API calls).
            stop_timeout=stop_timeout or Duration.seconds(45),
        )
        Validations.of(self.task_definition).acknowledge(
            Acknowledgment(
                id="AwsSolutions-ECS2",
                reason="The environment holds only non-secret settings (topic ARN, queue "
                "prefix, heartbeat periods); AWS credentials come from the task role.",
            )
        )
        if not isinstance(image, ecs.RepositoryImage):
            # Image assets and ECR images make CDK grant the execution role an ECR login.
            Validations.of(self.task_definition).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="ecr:GetAuthorizationToken, granted by CDK to pull from ECR, has no "
                    "resource-level permissions; pulls are scoped to the image's repository.",
                )
            )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=desired_count,
            # Tasks get public IPs in public subnets: no NAT gateway to pay for.
            assign_public_ip=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(60),
        )

        scaling = self.service.auto_scale_task_count(
            min_capacity=min_capacity, max_capacity=max_capacity
        )
        scaling.scale_on_cpu_utilization(
            "CpuScaling",
            target_utilization_percent=cpu_target_percent,
            # Scaling in drops the websockets of the stopped task (clients reconnect), so
            # it waits longer than scaling out.
            scale_in_cooldown=Duration.seconds(300),
            scale_out_cooldown=Duration.seconds(60),
        )

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            # Websockets stay open between Engine.IO pings; the default 60 s is too short
            # for quiet clients behind proxies with longer ping intervals.
            idle_timeout=idle_timeout or Duration.seconds(3600),
            drop_invalid_header_fields=True,
        )
        Validations.of(self.load_balancer).acknowledge(
            Acknowledgment(
                id="AwsSolutions-ELB2",
                reason="Access logs need a dedicated bucket with a regional ELB policy; the "
                "app logs connections itself. Enable them when auditing needs them.",
            )
        )
        for security_group in self.load_balancer.connections.security_groups:
            Validations.of(security_group).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-EC23",
                    reason="A public Socket.IO endpoint: browsers connect from anywhere, on the "
                    "listener ports only.",
                )
            )

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=vpc,
            port=CONTAINER_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[self.service],
            # Long-polling requests of one Engine.IO session must reach the same task.
            stickiness_cookie_duration=stickiness_duration or Duration.days(1),
            deregistration_delay=deregistration_delay or Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_CHECK_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )

        scheme = "http"
        if certificate_arn:
            scheme = "https"
            self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                default_target_groups=[self.target_group],
            )
            self.load_balancer.add_redirect(source_port=80, target_port=443)
        else:
            self.load_balancer.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                default_target_groups=[self.target_group],
            )
            # it deploys (a first try needs no domain), but nobody should miss that it is
            # unencrypted: a warning at every synthesis and an output next to the URL
            Annotations.of(self).add_warning(CLEAR_TEXT_WARNING)
            CfnOutput(self, "Transport", value=CLEAR_TEXT_WARNING)

        dns_name = self.load_balancer.load_balancer_dns_name
        CfnOutput(self, "LoadBalancerDnsName", value=dns_name)
        CfnOutput(self, "ServiceUrl", value=f"{scheme}://{dns_name}")
        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        CfnOutput(self, "ServiceName", value=self.service.service_name)
        if self.bucket is not None:
            CfnOutput(self, "LargePayloadBucketName", value=self.bucket.bucket_name)

    def _grant_cluster_access(
        self, topic: sns.ITopic, topic_key: kms.IKey | None, queue_prefix: str
    ) -> None:
        stack = Stack.of(self)
        # arn:<partition>:sqs:<region>:<account>:<prefix>-???????????????? : the node queues
        # of this cluster (<prefix>-<16-character uid>) and no other queue of the account,
        # not even those of a cluster whose prefix extends this one (<prefix>-eu-<uid>).
        # A node's uid is chosen at start, so IAM cannot narrow this to the node's own queue.
        queue_pattern = aws_facts.node_queue_wildcard(queue_prefix)
        queues_arn = stack.format_arn(
            service="sqs", resource=queue_pattern, arn_format=ArnFormat.NO_RESOURCE_NAME
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                sid="OwnQueue",
                # Every action below is authorized against the queue's ARN: CreateQueue,
                # TagQueue (liveness mark), SetQueueAttributes (policy letting the topic
                # deliver), ReceiveMessage / DeleteMessage (DeleteMessageBatch too),
                # DeleteQueue on close, GetQueueUrl / GetQueueAttributes (queue ARN).
                actions=[
                    "sqs:CreateQueue",
                    "sqs:TagQueue",
                    "sqs:UntagQueue",
                    "sqs:ListQueueTags",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:DeleteQueue",
                ],
                resources=[queues_arn],
            )
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishToClusterTopic",
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
            )
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                sid="SubscribeOwnQueue",
                # Only an SQS queue of this cluster may be subscribed: a compromised task
                # cannot subscribe an outside endpoint (HTTP, e-mail, another account's queue).
                actions=["sns:Subscribe"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"sns:Protocol": "sqs"},
                    "ArnLike": {"sns:Endpoint": queues_arn},
                },
            )
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageClusterSubscriptions",
                # IAM authorizes Unsubscribe and Get/SetSubscriptionAttributes (raw delivery,
                # filter policy) against the topic the subscription belongs to; it has no
                # resource or condition key for one subscription, so the narrowest
                # statement is "subscriptions of the cluster topic", none of another topic.
                actions=[
                    "sns:Unsubscribe",
                    "sns:GetSubscriptionAttributes",
                    "sns:SetSubscriptionAttributes",
                ],
                resources=[topic.topic_arn],
            )
        )
        if topic_key is not None:
            # Publishing to a topic encrypted with a customer managed key encrypts a data key
            # with it (the AWS managed alias/aws/sns key needs no grant).
            topic_key.grant(self.task_role, "kms:GenerateDataKey*", "kms:Decrypt")
            Validations.of(self.task_role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    reason="The SNS documentation asks publishers to encrypted topics for "
                    "kms:GenerateDataKey*; the grant is on the topic's key only.",
                )
            )

    def _large_payload_bucket(self, key_prefix: str) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "LargePayloads",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Payloads are read within seconds of being written; a day is a generous bound.
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.DESTROY,
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="Objects are transient message payloads that expire after a day; server "
                "access logs would need another bucket and outlive the data they describe.",
            )
        )
        # The transport writes <key_prefix><sender uid>/<random> and reads only under the
        # prefix (its default, "socketio-cloud/", unless the app configures another).
        objects_arn = bucket.arn_for_objects(f"{key_prefix}*")
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                sid="LargePayloads",
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[objects_arn],
            )
        )
        # cdk-nag names the bucket's ARN by the bucket's logical ID in its finding.
        bucket_id = Stack.of(self).get_logical_id(cast(s3.CfnBucket, bucket.node.default_child))
        Validations.of(self.task_role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{key_prefix}*]",
                reason="Each large payload is a new object named by the sender at run time, under "
                "the cluster's prefix of the payload bucket.",
            )
        )
        return bucket
