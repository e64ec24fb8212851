"""The Azure components: every resource and property the deployment relies on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from socketio_cloud_pulumi.azure import SocketIoCloudAzure
from socketio_cloud_pulumi.settings import AzureSettings, iso_duration

from socketio_cloud.brokers.servicebus import (
    CLEANUP_DATA_ACTIONS,
    CLEANUP_ROLE,
    NODE_DATA_ACTIONS,
    NODE_ROLE,
    PAYLOAD_DATA_ACTIONS,
    PAYLOAD_ROLE,
    ROLE_DATA_ACTIONS,
    ROLE_DEFINITION_IDS,
)
from tests.pulumi import AZURE_IMAGE, AZURE_SUBSCRIPTION, MockedStack, env_of, run_program

pytestmark = pytest.mark.pulumi

Stack = MockedStack[SocketIoCloudAzure]

GROUP = "azure-native:resources:ResourceGroup"
NAMESPACE = "azure-native:servicebus:Namespace"
TOPIC = "azure-native:servicebus:Topic"
WORKSPACE = "azure-native:operationalinsights:Workspace"
ENVIRONMENT = "azure-native:app:ManagedEnvironment"
CONTAINER_APP = "azure-native:app:ContainerApp"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
POLICY = "azure-native:storage:ManagementPolicy"
BLOB = "azure-native:storage:Blob"
PLAN = "azure-native:web:AppServicePlan"
WEB_APP = "azure-native:web:WebApp"


def app_container(stack: Stack) -> dict[str, Any]:
    (container,) = stack.one(CONTAINER_APP).inputs["template"]["containers"]
    return dict(container)


def assignments_of(stack: Stack, identity: str) -> dict[str, str]:
    """Role name → scope of every assignment to the identity named ``identity``."""
    names = {guid: name for name, guid in ROLE_DEFINITION_IDS.items()}
    found: dict[str, str] = {}
    for assignment in stack.of_type(ASSIGNMENT):
        if assignment.inputs["principalId"] == f"{identity}-principal":
            guid = assignment.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
            found[names[guid]] = assignment.inputs["scope"]
    return found


def covers(granted: set[str], needed: frozenset[str]) -> bool:
    """Whether data actions ``granted`` (with ``*`` wildcards) include every one ``needed``."""
    from fnmatch import fnmatchcase

    return all(any(fnmatchcase(action, grant) for grant in granted) for action in needed)


# --- Service Bus -----------------------------------------------------------------------------


def test_namespace_is_standard_with_local_auth_off(azure_stack: Stack) -> None:
    namespace = azure_stack.one(NAMESPACE).inputs
    assert namespace["sku"] == {"name": "Standard", "tier": "Standard"}
    assert namespace["disableLocalAuth"] is True
    assert namespace["minimumTlsVersion"] == "1.2"
    assert namespace["location"] == "westeurope"


def test_topic_has_the_configured_name_and_default_ttl(
    azure_stack: Stack, azure_full_stack: Stack
) -> None:
    topic = azure_stack.one(TOPIC).inputs
    assert topic["topicName"] == "socket.io"
    assert topic["defaultMessageTimeToLive"] == "PT5M"
    assert topic["enableBatchedOperations"] is True
    assert azure_full_stack.one(TOPIC).inputs["defaultMessageTimeToLive"] == "PT2M"
    assert azure_full_stack.one(TOPIC).inputs["topicName"] == "chat"


@pytest.mark.parametrize(
    ("seconds", "duration"),
    [(300, "PT5M"), (60, "PT1M"), (3661, "PT1H1M1S"), (7200, "PT2H"), (0, "PT0S")],
)
def test_durations_are_written_the_iso_8601_way(seconds: int, duration: str) -> None:
    assert iso_duration(seconds) == duration


# --- Container Apps --------------------------------------------------------------------------


def test_app_keeps_websocket_sessions_on_one_replica(azure_stack: Stack) -> None:
    configuration = azure_stack.one(CONTAINER_APP).inputs["configuration"]
    # Sticky sessions work only with one active revision.
    assert configuration["activeRevisionsMode"] == "Single"
    ingress = configuration["ingress"]
    assert ingress["stickySessions"] == {"affinity": "sticky"}
    assert ingress["external"] is True
    assert ingress["allowInsecure"] is False
    assert ingress["targetPort"] == 8000
    assert ingress["transport"] == "auto"


def test_app_scales_on_concurrent_requests(azure_stack: Stack, azure_full_stack: Stack) -> None:
    scale = azure_stack.one(CONTAINER_APP).inputs["template"]["scale"]
    assert scale == {
        "minReplicas": 1,
        "maxReplicas": 4,
        "rules": [
            {"name": "concurrent-connections", "http": {"metadata": {"concurrentRequests": "200"}}}
        ],
    }
    full = azure_full_stack.one(CONTAINER_APP).inputs["template"]["scale"]
    assert (full["minReplicas"], full["maxReplicas"]) == (2, 8)
    assert full["rules"][0]["http"]["metadata"] == {"concurrentRequests": "100"}


def test_app_probes_the_health_check(azure_stack: Stack) -> None:
    probes = {probe["type"]: probe for probe in app_container(azure_stack)["probes"]}
    assert set(probes) == {"Startup", "Readiness", "Liveness"}
    for probe in probes.values():
        assert probe["httpGet"] == {"path": "/healthz", "port": 8000}
    assert probes["Liveness"]["periodSeconds"] * probes["Liveness"]["failureThreshold"] == 60


def test_app_gives_the_graceful_close_time_before_it_is_killed(azure_stack: Stack) -> None:
    template = azure_stack.one(CONTAINER_APP).inputs["template"]
    assert template["terminationGracePeriodSeconds"] > 5  # SIO_SHUTDOWN_TIMEOUT


def test_app_runs_the_image_as_the_node_identity(azure_stack: Stack) -> None:
    app = azure_stack.one(CONTAINER_APP).inputs
    assert app["containerAppName"] == "socketio-cloud"
    node = azure_stack.one(IDENTITY, "node")
    assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [node.id]}
    container = app_container(azure_stack)
    assert container["image"] == AZURE_IMAGE
    assert container["resources"] == {"cpu": 0.5, "memory": "1Gi"}
    assert app["managedEnvironmentId"] == azure_stack.one(ENVIRONMENT).id


def test_app_is_configured_for_the_clusters_topic(azure_stack: Stack) -> None:
    env = env_of(app_container(azure_stack)["env"])
    namespace = azure_stack.one(NAMESPACE)
    assert env == {
        "SIO_BACKEND": "servicebus",
        "SIO_SERVICEBUS_NAMESPACE": f"{namespace.name}mock1234.servicebus.windows.net",
        "SIO_SERVICEBUS_TOPIC": azure_stack.one(TOPIC).inputs["topicName"],
        "SIO_SUBSCRIPTION_PREFIX": "socket.io",
        "AZURE_CLIENT_ID": "node-client",
        "SIO_HEARTBEAT_INTERVAL": "5",
        "SIO_HEARTBEAT_TIMEOUT": "10",
        "SIO_SHUTDOWN_TIMEOUT": "5",
        "PORT": "8000",
    }


def test_environment_sends_logs_to_log_analytics(azure_stack: Stack) -> None:
    environment = azure_stack.one(ENVIRONMENT)
    logs = environment.inputs["appLogsConfiguration"]
    assert logs == {
        "destination": "log-analytics",
        "logAnalyticsConfiguration": {"customerId": "workspace-customer", "sharedKey": "log-key"},
    }
    assert "appLogsConfiguration" in environment.secrets
    workspace = azure_stack.one(WORKSPACE).inputs
    assert workspace["sku"] == {"name": "PerGB2018"}
    assert workspace["retentionInDays"] == 30


# --- roles -----------------------------------------------------------------------------------


def test_the_node_holds_one_role_on_the_topic_covering_its_calls(azure_stack: Stack) -> None:
    assert assignments_of(azure_stack, "node") == {NODE_ROLE: azure_stack.one(TOPIC).id}
    assert covers(set(ROLE_DATA_ACTIONS[NODE_ROLE]), NODE_DATA_ACTIONS)


def test_with_payload_storage_the_node_also_writes_blobs_in_its_container(
    azure_full_stack: Stack,
) -> None:
    payloads = azure_full_stack.one(CONTAINER, "container")
    assert assignments_of(azure_full_stack, "node") == {
        NODE_ROLE: azure_full_stack.one(TOPIC).id,
        PAYLOAD_ROLE: payloads.id,
    }
    assert covers(set(ROLE_DATA_ACTIONS[PAYLOAD_ROLE]), PAYLOAD_DATA_ACTIONS)


def test_the_cleanup_holds_one_role_on_the_topic_covering_its_calls(azure_stack: Stack) -> None:
    assert assignments_of(azure_stack, "cleanup") == {CLEANUP_ROLE: azure_stack.one(TOPIC).id}
    assert covers(set(ROLE_DATA_ACTIONS[CLEANUP_ROLE]), CLEANUP_DATA_ACTIONS)


def test_no_narrower_built_in_role_would_do(azure_stack: Stack) -> None:
    # Sender and Receiver together still lack Manage (create/delete own subscription).
    narrower = (
        ROLE_DATA_ACTIONS["Azure Service Bus Data Sender"]
        | ROLE_DATA_ACTIONS["Azure Service Bus Data Receiver"]
    )
    assert not covers(set(narrower), NODE_DATA_ACTIONS)


def test_role_ids_name_the_current_subscription(azure_stack: Stack) -> None:
    for assignment in azure_stack.of_type(ASSIGNMENT):
        definition = assignment.inputs["roleDefinitionId"]
        assert definition.startswith(
            f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.Authorization/"
            "roleDefinitions/"
        )
        assert assignment.inputs["principalType"] == "ServicePrincipal"


# --- payload storage -------------------------------------------------------------------------


def test_payload_storage_is_private_keyless_and_expires_blobs(azure_full_stack: Stack) -> None:
    account = azure_full_stack.one(ACCOUNT, "account").inputs
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    container = azure_full_stack.one(CONTAINER, "container").inputs
    assert container["containerName"] == "payloads"
    assert container["publicAccess"] == "None"
    (rule,) = azure_full_stack.one(POLICY).inputs["policy"]["rules"]
    assert rule["definition"]["actions"]["baseBlob"]["delete"] == {
        "daysAfterModificationGreaterThan": 2
    }
    assert rule["definition"]["filters"]["prefixMatch"] == ["payloads/"]
    env = env_of(app_container(azure_full_stack)["env"])
    assert env["SIO_LARGE_PAYLOAD_CONTAINER"] == "payloads"
    assert env["SIO_LARGE_PAYLOAD_ACCOUNT_URL"] == "https://accountmock1234.blob.core.windows.net/"


def test_no_payload_storage_unless_asked(azure_stack: Stack) -> None:
    assert [account.name for account in azure_stack.of_type(ACCOUNT)] == ["runtime"]
    assert "SIO_LARGE_PAYLOAD_CONTAINER" not in env_of(app_container(azure_stack)["env"])


# --- cleanup function ------------------------------------------------------------------------


def function_settings(stack: Stack) -> dict[str, Any]:
    web_app = stack.one(WEB_APP).inputs
    return env_of(web_app["siteConfig"]["appSettings"])


def test_cleanup_runs_on_a_linux_consumption_plan(azure_stack: Stack) -> None:
    plan = azure_stack.one(PLAN).inputs
    assert plan["sku"] == {"name": "Y1", "tier": "Dynamic"}
    assert plan["reserved"] is True
    web_app = azure_stack.one(WEB_APP).inputs
    assert web_app["kind"] == "functionapp,linux"
    assert web_app["serverFarmId"] == azure_stack.one(PLAN).id
    assert web_app["httpsOnly"] is True
    assert web_app["siteConfig"]["linuxFxVersion"] == "Python|3.11"
    cleanup = azure_stack.one(IDENTITY, "cleanup")
    assert web_app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [cleanup.id]}


def test_cleanup_timer_and_target_come_from_app_settings(
    azure_stack: Stack, azure_full_stack: Stack
) -> None:
    settings = function_settings(azure_stack)
    assert settings["SIO_CLEANUP_SCHEDULE"] == "0 */15 * * * *"
    assert settings["SIO_SERVICEBUS_TOPIC"] == "socket.io"
    assert settings["SIO_SERVICEBUS_NAMESPACE"].endswith(".servicebus.windows.net")
    assert settings["SIO_SUBSCRIPTION_PREFIX"] == "socket.io"
    assert settings["SIO_CLEANUP_STALE_AFTER"] == "900"
    assert settings["SIO_CLEANUP_DRY_RUN"] == "false"
    assert settings["AZURE_CLIENT_ID"] == "cleanup-client"
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert settings["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    full = function_settings(azure_full_stack)
    assert full["SIO_CLEANUP_SCHEDULE"] == "0 */5 * * * *"
    assert (full["SIO_CLEANUP_DRY_RUN"], full["SIO_SUBSCRIPTION_PREFIX"]) == ("true", "chat")


def test_cleanup_runs_the_packaged_folder(azure_stack: Stack) -> None:
    blob = azure_stack.one(BLOB)
    names = set(blob.inputs["source"].assets)
    assert {"function_app.py", "host.json", "requirements.txt"} <= names
    assert "socketio_cloud/brokers/servicebus.py" in names
    package_url = function_settings(azure_stack)["WEBSITE_RUN_FROM_PACKAGE"]
    assert package_url.startswith("https://runtimemock1234.blob.core.windows.net/")
    assert package_url.endswith("?sv=2022-11-02&sr=c&sp=r&sig=mock")
    # The package URL and the storage connection string carry keys.
    assert "siteConfig" in azure_stack.one(WEB_APP).secrets


# --- whole stack -----------------------------------------------------------------------------


def test_everything_that_takes_tags_has_them(azure_full_stack: Stack) -> None:
    tagged = {GROUP, NAMESPACE, WORKSPACE, ENVIRONMENT, CONTAINER_APP, IDENTITY, ACCOUNT, PLAN}
    tagged.add(WEB_APP)
    for resource in azure_full_stack:
        if resource.type in tagged:
            assert resource.inputs["tags"] == {"app": "socketio-cloud", "team": "rt"}, resource
    assert tagged <= azure_full_stack.types()


def test_everything_lives_in_the_clusters_resource_group(azure_stack: Stack) -> None:
    group = azure_stack.one(GROUP)
    for resource in azure_stack:
        if resource.type.startswith("azure-native:") and resource.type not in (GROUP, ASSIGNMENT):
            assert resource.inputs["resourceGroupName"] == f"{group.name}mock1234", resource.name


def test_without_an_image_everything_but_the_app_is_deployed(
    azure_settings: AzureSettings,
) -> None:
    stack = run_program(lambda: SocketIoCloudAzure("s", replace(azure_settings, image=None)))
    assert CONTAINER_APP not in stack.types()
    assert ENVIRONMENT not in stack.types()
    assert {TOPIC, WEB_APP, WORKSPACE} <= stack.types()
    assert assignments_of(stack, "node") == {}
