"""The Google Cloud components: every resource and property the deployment relies on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from socketio_cloud_pulumi.gcp import SocketIoCloudGcp, permissions_by_scope
from socketio_cloud_pulumi.settings import GcpSettings, SettingsError

from socketio_cloud.brokers.pubsub import (
    CLEANUP_PERMISSIONS,
    NODE_PERMISSIONS,
    PAYLOAD_PERMISSIONS,
)
from tests.pulumi import PROJECT, REGISTRY_IMAGE, MockedStack, env_of, run_program

pytestmark = pytest.mark.pulumi

Stack = MockedStack[SocketIoCloudGcp]

TOPIC = "gcp:pubsub/topic:Topic"
SERVICE = "gcp:cloudrunv2/service:Service"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
TOPIC_MEMBER = "gcp:pubsub/topicIAMMember:TopicIAMMember"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET = "gcp:storage/bucket:Bucket"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
JOB = "gcp:cloudscheduler/job:Job"
REPOSITORY = "gcp:artifactregistry/repository:Repository"

NODE_EMAIL = f"socketio-cloud-node@{PROJECT}.iam.gserviceaccount.com"
CLEANUP_EMAIL = f"socketio-cloud-cleanup@{PROJECT}.iam.gserviceaccount.com"
SCHEDULER_EMAIL = f"socketio-cloud-scheduler@{PROJECT}.iam.gserviceaccount.com"


def container(stack: Stack) -> dict[str, Any]:
    (app,) = stack.one(SERVICE).inputs["template"]["containers"]
    return dict(app)


def granted_permissions(stack: Stack, email: str) -> dict[str, set[str]]:
    """Permissions granted to ``email``, by the IAM resource type that grants them."""
    roles = {
        f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}": set(r.inputs["permissions"])
        for r in stack.of_type(CUSTOM_ROLE)
    }
    granted: dict[str, set[str]] = {}
    for typ in (PROJECT_MEMBER, TOPIC_MEMBER, BUCKET_MEMBER):
        for binding in stack.of_type(typ):
            if binding.inputs["member"] == f"serviceAccount:{email}":
                granted.setdefault(typ, set()).update(roles[binding.inputs["role"]])
    return granted


# --- topic -----------------------------------------------------------------------------------


def test_topic_has_the_configured_id_labels_and_shortest_retention(gcp_stack: Stack) -> None:
    topic = gcp_stack.one(TOPIC).inputs
    assert topic["name"] == "socket-io"
    assert topic["project"] == PROJECT
    assert topic["labels"] == {"app": "socketio-cloud", "socketio-cloud-role": "cluster-topic"}
    assert topic["messageRetentionDuration"] == "600s"


# --- Cloud Run service -----------------------------------------------------------------------


def test_service_keeps_websocket_sessions_on_one_instance(gcp_stack: Stack) -> None:
    template = gcp_stack.one(SERVICE).inputs["template"]
    assert template["sessionAffinity"] is True
    assert template["timeout"] == "3600s"
    assert template["maxInstanceRequestConcurrency"] == 250


def test_service_scales_between_the_configured_instances(
    gcp_stack: Stack, gcp_full_stack: Stack
) -> None:
    assert gcp_stack.one(SERVICE).inputs["template"]["scaling"] == {
        "minInstanceCount": 1,
        "maxInstanceCount": 4,
    }
    full = gcp_full_stack.one(SERVICE).inputs["template"]
    assert full["scaling"] == {"minInstanceCount": 2, "maxInstanceCount": 10}
    assert full["maxInstanceRequestConcurrency"] == 500
    assert full["timeout"] == "1800s"


def test_service_runs_the_image_with_cpu_always_allocated(gcp_stack: Stack) -> None:
    service = gcp_stack.one(SERVICE).inputs
    assert service["name"] == "socketio-cloud"
    assert service["location"] == "europe-west1"
    assert service["ingress"] == "INGRESS_TRAFFIC_ALL"
    app = container(gcp_stack)
    assert app["image"] == REGISTRY_IMAGE
    assert app["ports"] == {"containerPort": 8000, "name": "http1"}
    assert app["resources"]["cpuIdle"] is False
    assert app["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_service_waits_for_the_health_check_and_restarts_a_node_out_of_the_cluster(
    gcp_stack: Stack,
) -> None:
    app = container(gcp_stack)
    for probe in (app["startupProbe"], app["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/healthz", "port": 8000}
    assert app["livenessProbe"]["periodSeconds"] * app["livenessProbe"]["failureThreshold"] == 60


def test_service_is_configured_for_the_clusters_topic(gcp_stack: Stack) -> None:
    env = env_of(container(gcp_stack)["envs"])
    assert env == {
        "SIO_BACKEND": "pubsub",
        "SIO_GCP_PROJECT": PROJECT,
        "SIO_PUBSUB_TOPIC": gcp_stack.one(TOPIC).inputs["name"],
        "SIO_SUBSCRIPTION_PREFIX": "socket.io",
        "SIO_HEARTBEAT_INTERVAL": "5",
        "SIO_HEARTBEAT_TIMEOUT": "10",
        "SIO_SHUTDOWN_TIMEOUT": "5",
    }
    # Cloud Run sets PORT itself from the container port and rejects it as a variable.
    assert "PORT" not in env


def test_service_runs_as_the_node_service_account(gcp_stack: Stack) -> None:
    assert gcp_stack.one(SERVICE).inputs["template"]["serviceAccount"] == NODE_EMAIL
    assert gcp_stack.one(ACCOUNT, "node").inputs["accountId"] == "socketio-cloud-node"


def test_service_is_public_unless_configured_otherwise(
    gcp_stack: Stack, gcp_full_stack: Stack
) -> None:
    public = gcp_stack.one(RUN_INVOKER, "public").inputs
    assert public == {
        "project": PROJECT,
        "location": "europe-west1",
        "name": "socketio-cloud",
        "role": "roles/run.invoker",
        "member": "allUsers",
    }
    assert [r.name for r in gcp_full_stack.of_type(RUN_INVOKER)] == ["scheduler-invoker"]


# --- grants ----------------------------------------------------------------------------------


def test_the_node_gets_exactly_the_node_permissions(gcp_stack: Stack) -> None:
    granted = granted_permissions(gcp_stack, NODE_EMAIL)
    assert set().union(*granted.values()) == NODE_PERMISSIONS
    assert granted[TOPIC_MEMBER] == {p for p in NODE_PERMISSIONS if p.startswith("pubsub.topics")}
    assert all(p.startswith("pubsub.subscriptions.") for p in granted[PROJECT_MEMBER])


def test_with_a_payload_bucket_the_node_may_also_read_and_write_its_objects(
    gcp_full_stack: Stack,
) -> None:
    granted = granted_permissions(gcp_full_stack, NODE_EMAIL)
    assert set().union(*granted.values()) == NODE_PERMISSIONS | PAYLOAD_PERMISSIONS
    assert granted[BUCKET_MEMBER] == PAYLOAD_PERMISSIONS
    (binding,) = gcp_full_stack.of_type(BUCKET_MEMBER)
    (payloads,) = [b for b in gcp_full_stack.of_type(BUCKET) if b.name == "bucket"]
    assert binding.inputs["bucket"] == f"{payloads.name}-mock1234"


def test_the_cleanup_gets_exactly_the_cleanup_permissions(gcp_stack: Stack) -> None:
    granted = granted_permissions(gcp_stack, CLEANUP_EMAIL)
    assert set().union(*granted.values()) == CLEANUP_PERMISSIONS
    assert granted[TOPIC_MEMBER] == {"pubsub.topics.get"}


def test_topic_grants_name_the_clusters_topic(gcp_full_stack: Stack) -> None:
    for binding in gcp_full_stack.of_type(TOPIC_MEMBER):
        assert binding.inputs["topic"] == "chat-cluster"


def test_custom_roles_have_stable_ids_per_scope(gcp_full_stack: Stack) -> None:
    ids = sorted(r.inputs["roleId"] for r in gcp_full_stack.of_type(CUSTOM_ROLE))
    assert ids == [
        "socketio_cloud_cleanup_project",
        "socketio_cloud_cleanup_topic",
        "socketio_cloud_node_bucket",
        "socketio_cloud_node_project",
        "socketio_cloud_node_topic",
    ]
    assert {r.inputs["stage"] for r in gcp_full_stack.of_type(CUSTOM_ROLE)} == {"GA"}


def test_permissions_are_grouped_by_the_resource_they_are_checked_on() -> None:
    assert permissions_by_scope(frozenset({"pubsub.topics.publish", "storage.objects.get"})) == {
        "bucket": frozenset({"storage.objects.get"}),
        "topic": frozenset({"pubsub.topics.publish"}),
    }
    with pytest.raises(ValueError, match=r"pubsub\.snapshots\.create"):
        permissions_by_scope(frozenset({"pubsub.snapshots.create"}))


# --- payload bucket, repository --------------------------------------------------------------


def test_payload_bucket_is_private_and_expires_objects(gcp_full_stack: Stack) -> None:
    bucket = gcp_full_stack.one(BUCKET, "bucket").inputs
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["location"] == "europe-west1"
    assert bucket["lifecycleRules"] == [{"action": {"type": "Delete"}, "condition": {"age": 2}}]
    env = env_of(container(gcp_full_stack)["envs"])
    assert env["SIO_LARGE_PAYLOAD_BUCKET"] == "bucket-mock1234"


def test_no_payload_bucket_unless_asked(gcp_stack: Stack) -> None:
    assert [b.name for b in gcp_stack.of_type(BUCKET)] == ["source"]
    assert gcp_stack.of_type(BUCKET_MEMBER) == []
    assert "SIO_LARGE_PAYLOAD_BUCKET" not in env_of(container(gcp_stack)["envs"])


def test_image_repository_keeps_the_newest_versions(gcp_stack: Stack) -> None:
    repository = gcp_stack.one(REPOSITORY).inputs
    assert repository["format"] == "DOCKER"
    assert repository["repositoryId"] == "socketio-cloud"
    assert repository["location"] == "europe-west1"
    assert repository["cleanupPolicyDryRun"] is False
    keep, delete = repository["cleanupPolicies"]
    assert keep["action"] == "KEEP" and keep["mostRecentVersions"]["keepCount"] == 10
    assert delete["action"] == "DELETE" and delete["condition"]["olderThan"] == "2592000s"


# --- cleanup ---------------------------------------------------------------------------------


def test_cleanup_function_runs_the_packaged_folder_as_its_own_account(gcp_stack: Stack) -> None:
    function = gcp_stack.one(FUNCTION).inputs
    assert function["name"] == "socketio-cloud-cleanup"
    build = function["buildConfig"]
    assert build["runtime"] == "python312"
    assert build["entryPoint"] == "cleanup"
    source = gcp_stack.one("gcp:storage/bucketObject:BucketObject")
    assert build["source"]["storageSource"] == {
        "bucket": "source-mock1234",
        "object": f"{source.name}-mock1234",
    }
    service = function["serviceConfig"]
    assert service["serviceAccountEmail"] == CLEANUP_EMAIL
    assert service["maxInstanceCount"] == 1
    assert service["maxInstanceRequestConcurrency"] == 1


def test_cleanup_source_is_the_function_folder_with_the_library_beside_it(
    gcp_stack: Stack,
) -> None:
    archive = gcp_stack.one("gcp:storage/bucketObject:BucketObject").inputs["source"]
    names = set(archive.assets)
    assert {"main.py", "requirements.txt"} <= names
    assert {"socketio_cloud/__init__.py", "socketio_cloud/brokers/pubsub.py"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_cleanup_function_is_configured_for_the_clusters_topic(gcp_full_stack: Stack) -> None:
    env = gcp_full_stack.one(FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    assert env == {
        "SIO_GCP_PROJECT": PROJECT,
        "SIO_PUBSUB_TOPIC": "chat-cluster",
        "SIO_SUBSCRIPTION_PREFIX": "chat",
        "SIO_CLEANUP_STALE_AFTER": "600",
        "SIO_CLEANUP_DRY_RUN": "true",
    }


def test_scheduler_calls_the_function_on_schedule_with_its_own_identity(
    gcp_stack: Stack, gcp_full_stack: Stack
) -> None:
    job = gcp_stack.one(JOB).inputs
    assert job["schedule"] == "*/15 * * * *"
    assert job["timeZone"] == "Etc/UTC"
    assert job["retryConfig"] == {"retryCount": 0}
    target = job["httpTarget"]
    assert target["uri"] == "https://socketio-cloud-cleanup.run.app"
    assert target["httpMethod"] == "POST"
    assert target["oidcToken"] == {
        "serviceAccountEmail": SCHEDULER_EMAIL,
        "audience": "https://socketio-cloud-cleanup.run.app",
    }
    assert gcp_stack.one(RUN_INVOKER, "scheduler-invoker").inputs == {
        "project": PROJECT,
        "location": "europe-west1",
        "name": "socketio-cloud-cleanup",
        "role": "roles/run.invoker",
        "member": f"serviceAccount:{SCHEDULER_EMAIL}",
    }
    assert gcp_full_stack.one(JOB).inputs["schedule"] == "*/5 * * * *"


# --- whole stack -----------------------------------------------------------------------------


def test_everything_that_takes_labels_has_them(gcp_full_stack: Stack) -> None:
    labelled = {TOPIC, SERVICE, BUCKET, FUNCTION, REPOSITORY}
    for resource in gcp_full_stack:
        if resource.type in labelled:
            assert resource.inputs["labels"].items() >= {"team": "rt"}.items(), resource.name
    assert labelled <= gcp_full_stack.types()


def test_without_an_image_everything_but_the_service_is_deployed(
    gcp_settings: GcpSettings,
) -> None:
    stack = run_program(lambda: SocketIoCloudGcp("s", replace(gcp_settings, image=None)))
    assert SERVICE not in stack.types()
    assert {TOPIC, REPOSITORY, FUNCTION, JOB} <= stack.types()
    assert granted_permissions(stack, NODE_EMAIL) == {}


def test_a_missing_cleanup_folder_stops_the_deployment(
    gcp_settings: GcpSettings, tmp_path: Any
) -> None:
    settings = replace(gcp_settings, cleanup_source=tmp_path / "absent")
    with pytest.raises(SettingsError, match="absent is missing"):
        run_program(lambda: SocketIoCloudGcp("s", settings))
