"""Google Cloud components of a socketio-cloud cluster, and the cluster composed of them.

Pub/Sub topic, Cloud Run service of the app, least-privilege grants, the scheduled cleanup
function, the image repository and the optional payload bucket. Every permission granted comes
from :mod:`socketio_cloud.brokers.pubsub`, where the transport and cleanup declare what they call.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp

from socketio_cloud.brokers.pubsub import (
    CLEANUP_PERMISSIONS,
    NODE_PERMISSIONS,
    PAYLOAD_PERMISSIONS,
    PERMISSION_SCOPES,
)

from .function_source import function_archive
from .settings import GcpSettings

__all__ = [
    "ArtifactRegistryRepository",
    "CloudRunService",
    "GcpCleanupJob",
    "PayloadBucket",
    "PubSubCluster",
    "PubSubGrants",
    "SocketIoCloudGcp",
    "permissions_by_scope",
]

#: The port the app listens on (Cloud Run passes it to the container as PORT).
APP_PORT = 8000
#: The app's health check: 200 once the node joined the cluster, 503 before.
HEALTH_PATH = "/healthz"


def permissions_by_scope(permissions: frozenset[str]) -> dict[str, frozenset[str]]:
    """``permissions`` grouped by the resource each is checked on: topic, project, bucket."""
    groups: dict[str, set[str]] = {}
    for permission in permissions:
        scope = next(
            (scope for prefix, scope in PERMISSION_SCOPES.items() if permission.startswith(prefix)),
            None,
        )
        if scope is None:
            raise ValueError(f"no known scope for permission {permission!r}")
        groups.setdefault(scope, set()).add(permission)
    return {scope: frozenset(group) for scope, group in sorted(groups.items())}


def _child(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent)


class PubSubCluster(pulumi.ComponentResource):
    """The cluster's Pub/Sub topic: every node publishes to it and subscribes to it.

    Its id is fixed (``topic_id``), since nodes and emitters are configured with it.
    """

    def __init__(
        self,
        name: str,
        *,
        project: str,
        topic_id: str,
        retention_seconds: int,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:PubSubCluster", name, None, opts)
        self.topic = gcp.pubsub.Topic(
            "topic",
            project=project,
            name=topic_id,
            labels={**labels, "socketio-cloud-role": "cluster-topic"},
            # Messages are only useful to nodes alive now; the topic keeps them the
            # shortest time Pub/Sub allows, so a backlog never builds up unseen.
            message_retention_duration=f"{retention_seconds}s",
            opts=_child(self),
        )
        self.register_outputs({"topic": self.topic.name})


class PubSubGrants(pulumi.ComponentResource):
    """Custom roles holding exactly ``permissions``, each granted on the narrowest resource
    its permissions are checked on: the topic, the payload bucket, or — for subscriptions,
    which nodes create at run time — the project.

    One custom role per scope, with id ``<role_id_prefix>_<scope>``; deleted custom roles keep
    their id for a while, see the README's teardown.
    """

    def __init__(
        self,
        name: str,
        *,
        project: str,
        role_id_prefix: str,
        title: str,
        permissions: frozenset[str],
        member: pulumi.Input[str],
        topic: gcp.pubsub.Topic,
        bucket: gcp.storage.Bucket | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:PubSubGrants", name, None, opts)
        self.roles: dict[str, gcp.projects.IAMCustomRole] = {}
        for scope, scoped in permissions_by_scope(permissions).items():
            role = gcp.projects.IAMCustomRole(
                f"{name}-{scope}-role",
                project=project,
                role_id=f"{role_id_prefix}_{scope}",
                title=f"{title} ({scope})",
                description=f"socketio-cloud: what {title.lower()} needs on the {scope}",
                permissions=sorted(scoped),
                stage="GA",
                opts=_child(self),
            )
            self.roles[scope] = role
            if scope == "topic":
                gcp.pubsub.TopicIAMMember(
                    f"{name}-{scope}",
                    project=project,
                    topic=topic.name,
                    role=role.name,
                    member=member,
                    opts=_child(self),
                )
            elif scope == "bucket":
                if bucket is None:
                    raise ValueError(f"{name}: bucket permissions without a bucket")
                gcp.storage.BucketIAMMember(
                    f"{name}-{scope}",
                    bucket=bucket.name,
                    role=role.name,
                    member=member,
                    opts=_child(self),
                )
            else:
                # Subscriptions are created at run time, so the grant names the project;
                # the role holds pubsub.subscriptions.* permissions only.
                gcp.projects.IAMMember(
                    f"{name}-{scope}",
                    project=project,
                    role=role.name,
                    member=member,
                    opts=_child(self),
                )
        self.register_outputs({})


class ArtifactRegistryRepository(pulumi.ComponentResource):
    """A Docker repository for the app image, keeping the ``keep_versions`` newest versions."""

    def __init__(
        self,
        name: str,
        *,
        project: str,
        region: str,
        repository_id: str,
        keep_versions: int,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:ArtifactRegistryRepository", name, None, opts)
        self.repository = gcp.artifactregistry.Repository(
            "repository",
            project=project,
            location=region,
            repository_id=repository_id,
            format="DOCKER",
            description="socketio-cloud app images",
            labels=dict(labels),
            # Apply the policies below, rather than only reporting what they would delete.
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-newest",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=keep_versions
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-older",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="ANY", older_than=f"{30 * 86400}s"
                    ),
                ),
            ],
            opts=_child(self),
        )
        #: Where to push: ``<region>-docker.pkg.dev/<project>/<repository>``.
        self.image_prefix = pulumi.Output.concat(
            region, "-docker.pkg.dev/", project, "/", self.repository.repository_id
        )
        self.register_outputs({"imagePrefix": self.image_prefix})


class PayloadBucket(pulumi.ComponentResource):
    """A private bucket for payloads over the Pub/Sub message limit; objects expire."""

    def __init__(
        self,
        name: str,
        *,
        project: str,
        region: str,
        retention_days: int,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:PayloadBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            "bucket",
            project=project,
            location=region,
            labels=dict(labels),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Payloads are read within seconds of being written; a day is a generous bound.
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=retention_days),
                )
            ],
            force_destroy=True,
            opts=_child(self),
        )
        self.register_outputs({"bucket": self.bucket.name})


class CloudRunService(pulumi.ComponentResource):
    """The app on Cloud Run: websockets with session affinity, configured for ``pubsub``.

    Its service account holds only the node's permissions (:data:`NODE_PERMISSIONS`, plus
    :data:`PAYLOAD_PERMISSIONS` on the bucket when there is one).
    """

    def __init__(
        self,
        name: str,
        *,
        settings: GcpSettings,
        image: str,
        topic: gcp.pubsub.Topic,
        bucket: gcp.storage.Bucket | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:CloudRunService", name, None, opts)
        project = settings.project
        self.service_account = gcp.serviceaccount.Account(
            "node",
            project=project,
            account_id=f"{settings.name}-node",
            display_name="socketio-cloud node",
            opts=_child(self),
        )
        member = self.service_account.email.apply(lambda email: f"serviceAccount:{email}")
        permissions = NODE_PERMISSIONS | (PAYLOAD_PERMISSIONS if bucket is not None else set())
        self.grants = PubSubGrants(
            "node-grants",
            project=project,
            role_id_prefix=f"{_role_id(settings.name)}_node",
            title="socketio-cloud node",
            permissions=frozenset(permissions),
            member=member,
            topic=topic,
            bucket=bucket,
            opts=_child(self),
        )

        env: dict[str, pulumi.Input[str]] = {
            "SIO_BACKEND": "pubsub",
            "SIO_GCP_PROJECT": project,
            "SIO_PUBSUB_TOPIC": topic.name,
            "SIO_SUBSCRIPTION_PREFIX": settings.subscription_prefix,
            "SIO_HEARTBEAT_INTERVAL": f"{settings.heartbeat_interval:g}",
            "SIO_HEARTBEAT_TIMEOUT": f"{settings.heartbeat_timeout:g}",
            # Cloud Run gives a stopping instance 10 s between SIGTERM and SIGKILL.
            "SIO_SHUTDOWN_TIMEOUT": f"{settings.shutdown_timeout:g}",
        }
        if bucket is not None:
            env["SIO_LARGE_PAYLOAD_BUCKET"] = bucket.name

        probe_get = gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
            path=HEALTH_PATH, port=APP_PORT
        )
        self.service = gcp.cloudrunv2.Service(
            "service",
            project=project,
            location=settings.region,
            name=settings.name,
            ingress="INGRESS_TRAFFIC_ALL",
            deletion_protection=False,
            labels=dict(settings.labels),
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=self.service_account.email,
                labels=dict(settings.labels),
                # A client's Engine.IO polling requests and its websocket upgrade must reach
                # the instance holding its session.
                session_affinity=True,
                # Cloud Run closes a websocket when its request times out; clients reconnect.
                timeout=f"{settings.request_timeout}s",
                max_instance_request_concurrency=settings.concurrency,
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=settings.min_instances,
                    max_instance_count=settings.max_instances,
                ),
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        name="app",
                        image=image,
                        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                            container_port=APP_PORT, name="http1"
                        ),
                        envs=[
                            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=key, value=value)
                            for key, value in env.items()
                        ],
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits={"cpu": settings.cpu, "memory": settings.memory},
                            # Nodes pull, heartbeat and refresh liveness between requests:
                            # CPU stays allocated (instance-based billing).
                            cpu_idle=False,
                            startup_cpu_boost=True,
                        ),
                        startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                            http_get=probe_get,
                            period_seconds=2,
                            timeout_seconds=2,
                            failure_threshold=30,
                        ),
                        # Restart a node that stays out of the cluster for a minute.
                        liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                                path=HEALTH_PATH, port=APP_PORT
                            ),
                            period_seconds=10,
                            timeout_seconds=5,
                            failure_threshold=6,
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.grants]),
        )
        if settings.public:
            # Browsers connect directly; the Socket.IO app does its own authentication.
            gcp.cloudrunv2.ServiceIamMember(
                "public",
                project=project,
                location=settings.region,
                name=self.service.name,
                role="roles/run.invoker",
                member="allUsers",
                opts=_child(self),
            )
        self.url = self.service.uri
        self.register_outputs({"url": self.url})


class GcpCleanupJob(pulumi.ComponentResource):
    """``functions/gcp_cleanup`` as a Cloud Functions (2nd gen) function, run by Cloud
    Scheduler: it deletes subscriptions of the cluster whose liveness mark is stale.

    Its service account holds only :data:`CLEANUP_PERMISSIONS`; the scheduler's service
    account may only invoke this function.
    """

    def __init__(
        self,
        name: str,
        *,
        settings: GcpSettings,
        topic: gcp.pubsub.Topic,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:GcpCleanupJob", name, None, opts)
        project, region = settings.project, settings.region
        archive = function_archive(settings.cleanup_source, settings.library_package)
        self.source_bucket = gcp.storage.Bucket(
            "source",
            project=project,
            location=region,
            labels=dict(settings.labels),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=True,
            opts=_child(self),
        )
        # The object's name changes with its content, so a code change redeploys the function.
        self.source = gcp.storage.BucketObject(
            "source", bucket=self.source_bucket.name, source=archive, opts=_child(self)
        )

        self.service_account = gcp.serviceaccount.Account(
            "cleanup",
            project=project,
            account_id=f"{settings.name}-cleanup",
            display_name="socketio-cloud cleanup",
            opts=_child(self),
        )
        self.grants = PubSubGrants(
            "cleanup-grants",
            project=project,
            role_id_prefix=f"{_role_id(settings.name)}_cleanup",
            title="socketio-cloud cleanup",
            permissions=CLEANUP_PERMISSIONS,
            member=self.service_account.email.apply(lambda email: f"serviceAccount:{email}"),
            topic=topic,
            opts=_child(self),
        )

        self.function = gcp.cloudfunctionsv2.Function(
            "function",
            project=project,
            location=region,
            name=f"{settings.name}-cleanup",
            description="socketio-cloud: delete subscriptions that crashed nodes left behind",
            labels=dict(settings.labels),
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=settings.cleanup_runtime,
                entry_point=settings.cleanup_entry_point,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=self.source_bucket.name, object=self.source.name
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=self.service_account.email,
                # One run at a time is plenty, and two would race on the same deletions.
                min_instance_count=0,
                max_instance_count=1,
                max_instance_request_concurrency=1,
                available_memory="256M",
                timeout_seconds=300,
                # Cloud Scheduler calls from outside any VPC; the call still needs a token
                # of an identity holding run.invoker, which only the scheduler has.
                ingress_settings="ALLOW_ALL",
                all_traffic_on_latest_revision=True,
                environment_variables={
                    "SIO_GCP_PROJECT": project,
                    "SIO_PUBSUB_TOPIC": topic.name,
                    "SIO_SUBSCRIPTION_PREFIX": settings.subscription_prefix,
                    "SIO_CLEANUP_STALE_AFTER": str(settings.stale_after),
                    "SIO_CLEANUP_DRY_RUN": "true" if settings.cleanup_dry_run else "false",
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.grants]),
        )

        self.scheduler_account = gcp.serviceaccount.Account(
            "scheduler",
            project=project,
            account_id=f"{settings.name}-scheduler",
            display_name="socketio-cloud cleanup scheduler",
            opts=_child(self),
        )
        # A 2nd gen function is served by the Cloud Run service of the same name.
        gcp.cloudrunv2.ServiceIamMember(
            "scheduler-invoker",
            project=project,
            location=region,
            name=self.function.name,
            role="roles/run.invoker",
            member=self.scheduler_account.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=_child(self),
        )
        uri = self.function.service_config.apply(lambda config: (config and config.uri) or "")
        self.job = gcp.cloudscheduler.Job(
            "schedule",
            project=project,
            region=region,
            name=f"{settings.name}-cleanup",
            description="socketio-cloud: run the orphaned-subscription cleanup",
            schedule=settings.cleanup_schedule,
            time_zone="Etc/UTC",
            attempt_deadline="320s",
            # The next run retries anyway; no retry storms against a failing function.
            retry_config=gcp.cloudscheduler.JobRetryConfigArgs(retry_count=0),
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                uri=uri,
                http_method="POST",
                oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
                    service_account_email=self.scheduler_account.email, audience=uri
                ),
            ),
            opts=_child(self),
        )
        self.register_outputs({"function": self.function.name})


class SocketIoCloudGcp(pulumi.ComponentResource):
    """A whole cluster on Google Cloud, built from ``settings``.

    Child names are fixed; keep them when refactoring, or Pulumi replaces the resources (the
    topic would be deleted under running nodes).
    """

    def __init__(
        self,
        name: str,
        settings: GcpSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:gcp:SocketIoCloudGcp", name, None, opts)
        self.settings = settings
        self.cluster = PubSubCluster(
            "cluster",
            project=settings.project,
            topic_id=settings.topic_id,
            retention_seconds=settings.topic_retention,
            labels=settings.labels,
            opts=_child(self),
        )
        self.repository = ArtifactRegistryRepository(
            "images",
            project=settings.project,
            region=settings.region,
            repository_id=settings.name,
            keep_versions=settings.keep_image_versions,
            labels=settings.labels,
            opts=_child(self),
        )
        self.payloads: PayloadBucket | None = None
        if settings.large_payload_bucket:
            self.payloads = PayloadBucket(
                "payloads",
                project=settings.project,
                region=settings.region,
                retention_days=settings.payload_retention_days,
                labels=settings.labels,
                opts=_child(self),
            )
        self.service: CloudRunService | None = None
        if settings.image:
            self.service = CloudRunService(
                "app",
                settings=settings,
                image=settings.image,
                topic=self.cluster.topic,
                bucket=self.payloads.bucket if self.payloads else None,
                opts=_child(self),
            )
        self.cleanup = GcpCleanupJob(
            "cleanup", settings=settings, topic=self.cluster.topic, opts=_child(self)
        )
        self.register_outputs({})


def _role_id(name: str) -> str:
    # Custom role ids allow letters, digits, '_' and '.'.
    return name.replace("-", "_")
