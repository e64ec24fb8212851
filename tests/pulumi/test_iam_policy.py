"""Least privilege, as a policy over every grant of the mocked stacks (see iam_policy.py).

The deployed stacks pass; copies widened the ways a later edit might widen them fail, so the
policy cannot quietly stop checking.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from socketio_cloud_pulumi.azure import SocketIoCloudAzure
from socketio_cloud_pulumi.gcp import SocketIoCloudGcp

from socketio_cloud.brokers.servicebus import ROLE_DEFINITION_IDS
from tests.pulumi import AZURE_SUBSCRIPTION, PROJECT, MockedStack, Resource
from tests.pulumi.iam_policy import azure_violations, gcp_violations

pytestmark = pytest.mark.pulumi

GCP_PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
GCP_CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
AZURE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
NODE_MEMBER = f"serviceAccount:socketio-cloud-node@{PROJECT}.iam.gserviceaccount.com"


def widened(resources: list[Resource], name: str, **inputs: Any) -> list[Resource]:
    """A copy of ``resources`` in which the resource called ``name`` has ``inputs`` changed."""
    return [replace(r, inputs={**r.inputs, **inputs}) if r.name == name else r for r in resources]


def added(resources: list[Resource], typ: str, **inputs: Any) -> list[Resource]:
    return [*resources, Resource(typ, "widened", inputs, f"/mock/{typ}/widened")]


# --- Google Cloud ----------------------------------------------------------------------------


def test_gcp_stacks_grant_nothing_wide(
    gcp_stack: MockedStack[SocketIoCloudGcp], gcp_full_stack: MockedStack[SocketIoCloudGcp]
) -> None:
    assert gcp_violations(gcp_stack) == []
    assert gcp_violations(gcp_full_stack) == []


@pytest.mark.parametrize(
    "role",
    ["roles/owner", "roles/editor", "roles/pubsub.admin", "roles/pubsub.editor"],
)
def test_a_wide_predefined_role_on_the_project_is_rejected(
    gcp_stack: MockedStack[SocketIoCloudGcp], role: str
) -> None:
    resources = added(
        gcp_stack.resources, GCP_PROJECT_MEMBER, project=PROJECT, role=role, member=NODE_MEMBER
    )
    assert gcp_violations(resources) == [
        f"{GCP_PROJECT_MEMBER} widened grants the wide role {role}"
    ]


def test_a_predefined_role_on_the_topic_is_rejected(
    gcp_stack: MockedStack[SocketIoCloudGcp],
) -> None:
    resources = widened(gcp_stack.resources, "node-grants-topic", role="roles/pubsub.subscriber")
    assert gcp_violations(resources) == [
        "gcp:pubsub/topicIAMMember:TopicIAMMember node-grants-topic grants the wide role "
        "roles/pubsub.subscriber"
    ]


def test_topic_permissions_granted_on_the_project_are_rejected(
    gcp_stack: MockedStack[SocketIoCloudGcp],
) -> None:
    topic_role = f"projects/{PROJECT}/roles/socketio_cloud_node_topic"
    resources = widened(gcp_stack.resources, "node-grants-project", role=topic_role)
    (problem,) = gcp_violations(resources)
    assert "node-grants-project grants ['pubsub.topics.attachSubscription'," in problem
    assert problem.endswith("project-wide")


def test_a_custom_role_with_a_permission_no_call_needs_is_rejected(
    gcp_stack: MockedStack[SocketIoCloudGcp],
) -> None:
    (role,) = [
        r for r in gcp_stack.of_type(GCP_CUSTOM_ROLE) if r.name == "node-grants-project-role"
    ]
    permissions = [*role.inputs["permissions"], "pubsub.topics.delete"]
    resources = widened(gcp_stack.resources, role.name, permissions=permissions)
    assert gcp_violations(resources) == [
        f"custom role projects/{PROJECT}/roles/socketio_cloud_node_project holds "
        "['pubsub.topics.delete'], which no call needs",
        f"{GCP_PROJECT_MEMBER} node-grants-project grants ['pubsub.topics.delete'] project-wide",
    ]


def test_an_authoritative_project_binding_is_rejected(
    gcp_stack: MockedStack[SocketIoCloudGcp],
) -> None:
    typ = "gcp:projects/iAMBinding:IAMBinding"
    role = f"projects/{PROJECT}/roles/socketio_cloud_node_project"
    resources = added(gcp_stack.resources, typ, project=PROJECT, role=role, members=[NODE_MEMBER])
    assert gcp_violations(resources) == [
        f"{typ} widened is an authoritative binding on the whole project"
    ]


# --- Azure -----------------------------------------------------------------------------------


def test_azure_stacks_assign_nothing_wide(
    azure_stack: MockedStack[SocketIoCloudAzure],
    azure_full_stack: MockedStack[SocketIoCloudAzure],
) -> None:
    assert azure_violations(azure_stack) == []
    assert azure_violations(azure_full_stack) == []


@pytest.mark.parametrize(
    ("guid", "name"),
    [
        ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"),
        ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"),
    ],
)
def test_owner_or_contributor_is_rejected(
    azure_stack: MockedStack[SocketIoCloudAzure], guid: str, name: str
) -> None:
    definition = (
        f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{guid}"
    )
    resources = widened(azure_stack.resources, "node-topic", roleDefinitionId=definition)
    assert azure_violations(resources) == [
        f"role assignment node-topic grants the wide role {name}"
    ]


@pytest.mark.parametrize(
    "scope",
    [
        f"/subscriptions/{AZURE_SUBSCRIPTION}",
        f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/socketio-cloud",
    ],
)
def test_an_assignment_to_a_subscription_or_resource_group_is_rejected(
    azure_stack: MockedStack[SocketIoCloudAzure], scope: str
) -> None:
    resources = widened(azure_stack.resources, "cleanup-topic", scope=scope)
    assert azure_violations(resources) == [
        "role assignment cleanup-topic is scoped to a whole subscription or resource group"
    ]


def test_an_assignment_to_the_namespace_is_rejected(
    azure_stack: MockedStack[SocketIoCloudAzure],
) -> None:
    namespace = azure_stack.one("azure-native:servicebus:Namespace")
    resources = widened(azure_stack.resources, "node-topic", scope=namespace.id)
    assert azure_violations(resources) == [
        f"role assignment node-topic is scoped to {namespace.id}, not the topic or payload "
        "container"
    ]


def test_a_storage_role_on_the_topic_is_rejected(
    azure_stack: MockedStack[SocketIoCloudAzure],
) -> None:
    guid = ROLE_DEFINITION_IDS["Storage Blob Data Contributor"]
    resources = widened(azure_stack.resources, "node-topic", roleDefinitionId=f"/x/{guid}")
    assert azure_violations(resources) == [
        "role assignment node-topic grants Storage Blob Data Contributor on the topic"
    ]
