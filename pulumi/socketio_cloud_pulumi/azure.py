"""Azure components of a socketio-cloud cluster, and the cluster composed of them.

Service Bus namespace and topic, Log Analytics, the Container Apps service of the app, the
cleanup Function App with a timer trigger, and the optional payload storage. Role assignments
come from :mod:`socketio_cloud.brokers.servicebus` and are scoped to the topic (or the payload
container), never to a namespace, resource group or subscription.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import (
    app,
    authorization,
    managedidentity,
    operationalinsights,
    resources,
    servicebus,
    storage,
    web,
)

from socketio_cloud.brokers.servicebus import (
    CLEANUP_ROLE,
    NODE_ROLE,
    PAYLOAD_ROLE,
    ROLE_DEFINITION_IDS,
)

from .function_source import function_archive
from .settings import AzureSettings, iso_duration

__all__ = [
    "AzureCleanupFunction",
    "ContainerAppService",
    "LogAnalytics",
    "PayloadStorage",
    "ServiceBusCluster",
    "SocketIoCloudAzure",
    "role_definition_id",
]

#: The app's health check: 200 once the node joined the cluster, 503 before.
HEALTH_PATH = "/healthz"
#: Read access to the function package ends then; redeploy (or raise it) before.
PACKAGE_SAS_EXPIRY = "2030-01-01T00:00:00Z"


def role_definition_id(role: str) -> pulumi.Output[str]:
    """The full id of the built-in ``role`` in the current Azure subscription."""
    guid = ROLE_DEFINITION_IDS[role]
    config = authorization.get_client_config_output()
    return config.subscription_id.apply(
        lambda subscription: (
            f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{guid}"
        )
    )


def _child(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent)


def _assign(
    name: str,
    *,
    role: str,
    scope: pulumi.Input[str],
    identity: managedidentity.UserAssignedIdentity,
    parent: pulumi.Resource,
) -> authorization.RoleAssignment:
    return authorization.RoleAssignment(
        name,
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=role_definition_id(role),
        scope=scope,
        description=f"socketio-cloud: {role}",
        opts=_child(parent),
    )


class ServiceBusCluster(pulumi.ComponentResource):
    """A Standard Service Bus namespace and the cluster's topic.

    Local (SAS key) authentication is off: nodes and the cleanup use managed identities.
    """

    def __init__(
        self,
        name: str,
        *,
        resource_group: resources.ResourceGroup,
        location: str,
        topic_name: str,
        message_ttl: int,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:azure:ServiceBusCluster", name, None, opts)
        self.namespace = servicebus.Namespace(
            "namespace",
            resource_group_name=resource_group.name,
            location=location,
            # Standard is the cheapest tier with topics.
            sku=servicebus.SBSkuArgs(
                name=servicebus.SkuName.STANDARD, tier=servicebus.SkuTier.STANDARD
            ),
            minimum_tls_version="1.2",
            disable_local_auth=True,
            tags=dict(tags),
            opts=_child(self),
        )
        self.topic = servicebus.Topic(
            "topic",
            resource_group_name=resource_group.name,
            namespace_name=self.namespace.name,
            topic_name=topic_name,
            # Cluster messages are stale within seconds; nodes set shorter TTLs on their
            # own subscriptions, this bounds anything else.
            default_message_time_to_live=iso_duration(message_ttl),
            max_size_in_megabytes=1024,
            enable_batched_operations=True,
            opts=_child(self),
        )
        #: The namespace's host name, as the SDK takes it (``<ns>.servicebus.windows.net``).
        self.fully_qualified_namespace = self.namespace.name.apply(
            lambda namespace: f"{namespace}.servicebus.windows.net"
        )
        self.register_outputs({"topic": self.topic.name})


class LogAnalytics(pulumi.ComponentResource):
    """The Log Analytics workspace the Container Apps environment writes to."""

    def __init__(
        self,
        name: str,
        *,
        resource_group: resources.ResourceGroup,
        location: str,
        retention_days: int,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:azure:LogAnalytics", name, None, opts)
        self.workspace = operationalinsights.Workspace(
            "workspace",
            resource_group_name=resource_group.name,
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=retention_days,
            tags=dict(tags),
            opts=_child(self),
        )
        keys = operationalinsights.get_shared_keys_output(
            resource_group_name=resource_group.name, workspace_name=self.workspace.name
        )
        self.customer_id = self.workspace.customer_id
        key: pulumi.Output[str] = keys.primary_shared_key.apply(lambda key: key or "")
        self.shared_key: pulumi.Output[str] = pulumi.Output.secret(key)
        self.register_outputs({})


class PayloadStorage(pulumi.ComponentResource):
    """A private storage account and container for payloads over the Service Bus limit.

    Shared keys are off (the node writes with its managed identity); blobs expire.
    """

    def __init__(
        self,
        name: str,
        *,
        resource_group: resources.ResourceGroup,
        location: str,
        retention_days: int,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:azure:PayloadStorage", name, None, opts)
        self.account = storage.StorageAccount(
            "account",
            resource_group_name=resource_group.name,
            location=location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            tags=dict(tags),
            opts=_child(self),
        )
        self.container = storage.BlobContainer(
            "container",
            resource_group_name=resource_group.name,
            account_name=self.account.name,
            container_name="payloads",
            public_access=storage.PublicAccess.NONE,
            opts=_child(self),
        )
        # Payloads are read within seconds of being written; a day is a generous bound.
        storage.ManagementPolicy(
            "expiry",
            resource_group_name=resource_group.name,
            account_name=self.account.name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name="expire-payloads",
                        type="Lifecycle",
                        enabled=True,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(
                                blob_types=["blockBlob"], prefix_match=["payloads/"]
                            ),
                            actions=storage.ManagementPolicyActionArgs(
                                base_blob=storage.ManagementPolicyBaseBlobArgs(
                                    delete=storage.DateAfterModificationArgs(
                                        days_after_modification_greater_than=retention_days
                                    )
                                )
                            ),
                        ),
                    )
                ]
            ),
            opts=_child(self),
        )
        self.account_url = self.account.primary_endpoints.apply(lambda endpoints: endpoints.blob)
        self.register_outputs({"container": self.container.name})


class ContainerAppService(pulumi.ComponentResource):
    """The app on Azure Container Apps: websockets with sticky sessions, HTTP scaling,
    health probes, configured for the ``servicebus`` backend.

    Its user-assigned identity holds :data:`NODE_ROLE` on the topic (and
    :data:`PAYLOAD_ROLE` on the payload container when there is one), nothing else.
    """

    def __init__(
        self,
        name: str,
        *,
        settings: AzureSettings,
        image: str,
        resource_group: resources.ResourceGroup,
        cluster: ServiceBusCluster,
        logs: LogAnalytics,
        payloads: PayloadStorage | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:azure:ContainerAppService", name, None, opts)
        tags = dict(settings.tags)
        self.identity = managedidentity.UserAssignedIdentity(
            "node",
            resource_group_name=resource_group.name,
            location=settings.location,
            tags=tags,
            opts=_child(self),
        )
        assignments = [
            _assign(
                "node-topic",
                role=NODE_ROLE,
                scope=cluster.topic.id,
                identity=self.identity,
                parent=self,
            )
        ]
        if payloads is not None:
            assignments.append(
                _assign(
                    "node-payloads",
                    role=PAYLOAD_ROLE,
                    scope=payloads.container.id,
                    identity=self.identity,
                    parent=self,
                )
            )

        self.environment = app.ManagedEnvironment(
            "environment",
            resource_group_name=resource_group.name,
            location=settings.location,
            app_logs_configuration=app.AppLogsConfigurationArgs(
                destination="log-analytics",
                log_analytics_configuration=app.LogAnalyticsConfigurationArgs(
                    customer_id=logs.customer_id, shared_key=logs.shared_key
                ),
            ),
            tags=tags,
            opts=_child(self),
        )

        env: dict[str, pulumi.Input[str]] = {
            "SIO_BACKEND": "servicebus",
            "SIO_SERVICEBUS_NAMESPACE": cluster.fully_qualified_namespace,
            "SIO_SERVICEBUS_TOPIC": cluster.topic.name,
            "SIO_SUBSCRIPTION_PREFIX": settings.subscription_prefix,
            # DefaultAzureCredential picks the user-assigned identity by its client id.
            "AZURE_CLIENT_ID": self.identity.client_id,
            "SIO_HEARTBEAT_INTERVAL": f"{settings.heartbeat_interval:g}",
            "SIO_HEARTBEAT_TIMEOUT": f"{settings.heartbeat_timeout:g}",
            "SIO_SHUTDOWN_TIMEOUT": f"{settings.shutdown_timeout:g}",
            "PORT": str(settings.target_port),
        }
        if payloads is not None:
            env["SIO_LARGE_PAYLOAD_CONTAINER"] = payloads.container.name
            env["SIO_LARGE_PAYLOAD_ACCOUNT_URL"] = payloads.account_url

        def probe(kind: str, period: int, failures: int) -> app.ContainerAppProbeArgs:
            return app.ContainerAppProbeArgs(
                type=kind,
                http_get=app.ContainerAppProbeHttpGetArgs(
                    path=HEALTH_PATH, port=settings.target_port
                ),
                period_seconds=period,
                failure_threshold=failures,
                timeout_seconds=2,
            )

        self.app = app.ContainerApp(
            "app",
            resource_group_name=resource_group.name,
            location=settings.location,
            container_app_name=settings.name,
            managed_environment_id=self.environment.id,
            identity=app.ManagedServiceIdentityArgs(
                type="UserAssigned", user_assigned_identities=[self.identity.id]
            ),
            configuration=app.ConfigurationArgs(
                active_revisions_mode="Single",
                ingress=app.IngressArgs(
                    external=True,
                    target_port=settings.target_port,
                    # "auto" serves HTTP/1.1 (with websocket upgrades) and HTTP/2.
                    transport="auto",
                    allow_insecure=False,
                    # A client's polling requests and its websocket upgrade must reach the
                    # replica holding its Engine.IO session.
                    sticky_sessions=app.IngressStickySessionsArgs(affinity="sticky"),
                ),
            ),
            template=app.TemplateArgs(
                # SIGTERM, then this long before SIGKILL: room for the graceful close.
                termination_grace_period_seconds=int(settings.shutdown_timeout) + 10,
                containers=[
                    app.ContainerArgs(
                        name="app",
                        image=image,
                        resources=app.ContainerResourcesArgs(
                            cpu=settings.cpu, memory=settings.memory
                        ),
                        env=[
                            app.EnvironmentVarArgs(name=key, value=value)
                            for key, value in env.items()
                        ],
                        probes=[
                            probe("Startup", 2, 30),
                            probe("Readiness", 5, 2),
                            # Restart a node that stays out of the cluster for a minute.
                            probe("Liveness", 10, 6),
                        ],
                    )
                ],
                scale=app.ScaleArgs(
                    min_replicas=settings.min_replicas,
                    max_replicas=settings.max_replicas,
                    rules=[
                        app.ScaleRuleArgs(
                            name="concurrent-connections",
                            http=app.HttpScaleRuleArgs(
                                metadata={"concurrentRequests": str(settings.concurrent_requests)}
                            ),
                        )
                    ],
                ),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=assignments),
        )
        self.url = self.app.latest_revision_fqdn.apply(lambda fqdn: f"https://{fqdn}")
        self.register_outputs({"url": self.url})


class AzureCleanupFunction(pulumi.ComponentResource):
    """``functions/azure_cleanup`` in a Function App (Linux consumption plan) whose timer
    trigger deletes subscriptions of the topic that stayed idle past ``stale_after``.

    The trigger reads its NCRONTAB schedule from the ``SIO_CLEANUP_SCHEDULE`` app setting
    (``schedule="%SIO_CLEANUP_SCHEDULE%"``). Its identity holds :data:`CLEANUP_ROLE` on the
    topic only. The runtime's own storage account holds the code package.
    """

    def __init__(
        self,
        name: str,
        *,
        settings: AzureSettings,
        resource_group: resources.ResourceGroup,
        cluster: ServiceBusCluster,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:azure:AzureCleanupFunction", name, None, opts)
        tags = dict(settings.tags)
        archive = function_archive(settings.cleanup_source, settings.library_package)

        # The Functions runtime needs a storage account with keys (AzureWebJobsStorage).
        self.account = storage.StorageAccount(
            "runtime",
            resource_group_name=resource_group.name,
            location=settings.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
            allow_blob_public_access=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            tags=tags,
            opts=_child(self),
        )
        container = storage.BlobContainer(
            "packages",
            resource_group_name=resource_group.name,
            account_name=self.account.name,
            public_access=storage.PublicAccess.NONE,
            opts=_child(self),
        )
        # The blob's name changes with its content, so a code change restarts the app.
        self.package = storage.Blob(
            "package",
            resource_group_name=resource_group.name,
            account_name=self.account.name,
            container_name=container.name,
            type=storage.BlobType.BLOCK,
            source=archive,
            opts=_child(self),
        )
        keys = storage.list_storage_account_keys_output(
            resource_group_name=resource_group.name, account_name=self.account.name
        )
        connection: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(self.account.name, keys.keys[0].value).apply(
                lambda values: (
                    "DefaultEndpointsProtocol=https;AccountName="
                    f"{values[0]};AccountKey={values[1]};EndpointSuffix=core.windows.net"
                )
            )
        )
        # Read-only, on the packages container only, over HTTPS.
        sas = storage.list_storage_account_service_sas_output(
            resource_group_name=resource_group.name,
            account_name=self.account.name,
            protocols=storage.HttpProtocol.HTTPS,
            shared_access_expiry_time=PACKAGE_SAS_EXPIRY,
            shared_access_start_time="2024-01-01T00:00:00Z",
            resource=storage.SignedResource.C,
            permissions=storage.Permissions.R,
            canonicalized_resource=pulumi.Output.concat(
                "/blob/", self.account.name, "/", container.name
            ),
        )
        package_url: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(
                self.account.name, container.name, self.package.name, sas.service_sas_token
            ).apply(
                lambda values: (
                    f"https://{values[0]}.blob.core.windows.net/{values[1]}/{values[2]}?{values[3]}"
                )
            )
        )

        self.identity = managedidentity.UserAssignedIdentity(
            "cleanup",
            resource_group_name=resource_group.name,
            location=settings.location,
            tags=tags,
            opts=_child(self),
        )
        assignment = _assign(
            "cleanup-topic",
            role=CLEANUP_ROLE,
            scope=cluster.topic.id,
            identity=self.identity,
            parent=self,
        )

        self.plan = web.AppServicePlan(
            "plan",
            resource_group_name=resource_group.name,
            location=settings.location,
            kind="functionapp",
            reserved=True,  # Linux
            sku=web.SkuDescriptionArgs(name="Y1", tier="Dynamic"),
            tags=tags,
            opts=_child(self),
        )
        app_settings: dict[str, pulumi.Input[str]] = {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": connection,
            "WEBSITE_RUN_FROM_PACKAGE": package_url,
            "AZURE_CLIENT_ID": self.identity.client_id,
            "SIO_SERVICEBUS_NAMESPACE": cluster.fully_qualified_namespace,
            "SIO_SERVICEBUS_TOPIC": cluster.topic.name,
            "SIO_SUBSCRIPTION_PREFIX": settings.subscription_prefix,
            "SIO_CLEANUP_SCHEDULE": settings.cleanup_schedule,
            "SIO_CLEANUP_STALE_AFTER": str(settings.stale_after),
            "SIO_CLEANUP_DRY_RUN": "true" if settings.cleanup_dry_run else "false",
        }
        self.function_app = web.WebApp(
            "function",
            resource_group_name=resource_group.name,
            location=settings.location,
            # No fixed name: function app names are global (<name>.azurewebsites.net).
            kind="functionapp,linux",
            reserved=True,
            server_farm_id=self.plan.id,
            https_only=True,
            identity=web.ManagedServiceIdentityArgs(
                type=web.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.identity.id],
            ),
            site_config=web.SiteConfigArgs(
                linux_fx_version=f"Python|{settings.python_version}",
                ftps_state="Disabled",
                min_tls_version="1.2",
                app_settings=[
                    web.NameValuePairArgs(name=key, value=value)
                    for key, value in app_settings.items()
                ],
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[assignment]),
        )
        self.register_outputs({"functionApp": self.function_app.name})


class SocketIoCloudAzure(pulumi.ComponentResource):
    """A whole cluster on Azure in one resource group, built from ``settings``.

    Child names are fixed; keep them when refactoring, or Pulumi replaces the resources.
    """

    def __init__(
        self,
        name: str,
        settings: AzureSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("socketio-cloud:azure:SocketIoCloudAzure", name, None, opts)
        self.settings = settings
        tags = settings.tags
        self.resource_group = resources.ResourceGroup(
            "group", location=settings.location, tags=dict(tags), opts=_child(self)
        )
        self.cluster = ServiceBusCluster(
            "cluster",
            resource_group=self.resource_group,
            location=settings.location,
            topic_name=settings.topic_name,
            message_ttl=settings.message_ttl,
            tags=tags,
            opts=_child(self),
        )
        self.logs = LogAnalytics(
            "logs",
            resource_group=self.resource_group,
            location=settings.location,
            retention_days=settings.log_retention_days,
            tags=tags,
            opts=_child(self),
        )
        self.payloads: PayloadStorage | None = None
        if settings.large_payload_container:
            self.payloads = PayloadStorage(
                "payloads",
                resource_group=self.resource_group,
                location=settings.location,
                retention_days=settings.payload_retention_days,
                tags=tags,
                opts=_child(self),
            )
        self.service: ContainerAppService | None = None
        if settings.image:
            self.service = ContainerAppService(
                "app",
                settings=settings,
                image=settings.image,
                resource_group=self.resource_group,
                cluster=self.cluster,
                logs=self.logs,
                payloads=self.payloads,
                opts=_child(self),
            )
        self.cleanup = AzureCleanupFunction(
            "cleanup",
            settings=settings,
            resource_group=self.resource_group,
            cluster=self.cluster,
            opts=_child(self),
        )
        self.register_outputs({})
