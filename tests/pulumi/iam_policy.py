"""Least-privilege policy for the mocked stacks: every grant a program declares, judged.

:func:`gcp_violations` and :func:`azure_violations` walk every IAM binding or role assignment
of a recorded stack and return what breaks the rules (an empty list when nothing does):

Google Cloud
- no basic or service-wide role (``roles/owner``, ``roles/editor``, ``roles/pubsub.editor``...);
- the only predefined role is ``roles/run.invoker``, granted on a Cloud Run service;
- custom roles hold only permissions a node, emitter, cleanup or payload offload needs;
- a grant on the project (or wider) may only carry ``pubsub.subscriptions.*`` permissions,
  the ones IAM cannot scope to a subscription that does not exist yet, and never as an
  authoritative binding or policy.

Azure
- no Owner, Contributor or User Access Administrator, nor any role outside the kit's list;
- every assignment is scoped to the cluster's Service Bus topic (Service Bus data roles) or to
  the payload container (Storage Blob Data Contributor): never a namespace, account, resource
  group or subscription.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from socketio_cloud.brokers import pubsub, servicebus
from tests.pulumi import Resource

__all__ = ["azure_violations", "gcp_violations"]

WIDE_GCP_ROLES = frozenset(
    {
        "roles/owner",
        "roles/editor",
        "roles/viewer",
        "roles/pubsub.admin",
        "roles/pubsub.editor",
        "roles/pubsub.subscriber",
        "roles/pubsub.publisher",
        "roles/storage.admin",
        "roles/storage.objectAdmin",
        "roles/iam.serviceAccountUser",
        "roles/resourcemanager.projectIamAdmin",
    }
)
ALLOWED_PREDEFINED_ROLES = {"roles/run.invoker": "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"}
KIT_PERMISSIONS = (
    pubsub.NODE_PERMISSIONS
    | pubsub.EMITTER_PERMISSIONS
    | pubsub.CLEANUP_PERMISSIONS
    | pubsub.PAYLOAD_PERMISSIONS
)
PROJECT_GRANTABLE_PREFIX = "pubsub.subscriptions."

_GCP_IAM_TYPE = re.compile(r"^gcp:[^:]+/\w*[iI][aA][mM](Member|Binding|Policy):")
_GCP_WIDE_SCOPE = re.compile(r"^gcp:(projects|organizations|folder)/")

WIDE_AZURE_ROLE_IDS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
SERVICEBUS_ROLES = {
    servicebus.NODE_ROLE,
    servicebus.EMITTER_ROLE,
    servicebus.CLEANUP_ROLE,
    "Azure Service Bus Data Receiver",
}
_ROLE_NAMES = {guid: name for name, guid in servicebus.ROLE_DEFINITION_IDS.items()}
_AZURE_WIDE_SCOPE = re.compile(r"^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/?$", re.I)
PAYLOAD_CONTAINER = "payloads"


def gcp_violations(resources: Iterable[Resource]) -> list[str]:
    """Every breach of the Google Cloud rules above in ``resources``."""
    resources = list(resources)
    problems: list[str] = []
    custom_roles: dict[str, frozenset[str]] = {}
    for resource in resources:
        if resource.type == "gcp:projects/iAMCustomRole:IAMCustomRole":
            inputs = resource.inputs
            name = f"projects/{inputs['project']}/roles/{inputs['roleId']}"
            permissions = frozenset(inputs.get("permissions", []))
            custom_roles[name] = permissions
            extra = permissions - KIT_PERMISSIONS
            if extra:
                problems.append(f"custom role {name} holds {sorted(extra)}, which no call needs")
    for resource in resources:
        if not _GCP_IAM_TYPE.match(resource.type):
            continue
        label = f"{resource.type} {resource.name}"
        role = resource.inputs.get("role", "")
        if role in WIDE_GCP_ROLES:
            problems.append(f"{label} grants the wide role {role}")
            continue
        if role.startswith("roles/"):
            if ALLOWED_PREDEFINED_ROLES.get(role) != resource.type:
                problems.append(f"{label} grants the predefined role {role}")
        elif role not in custom_roles:
            problems.append(f"{label} grants {role}, not a custom role of this stack")
        if _GCP_WIDE_SCOPE.match(resource.type):
            if not resource.type.endswith(":IAMMember"):
                problems.append(f"{label} is an authoritative binding on the whole project")
            permissions = custom_roles.get(role, frozenset({role}))
            wide = sorted(p for p in permissions if not p.startswith(PROJECT_GRANTABLE_PREFIX))
            if wide:
                problems.append(f"{label} grants {wide} project-wide")
    return problems


def azure_violations(resources: Iterable[Resource]) -> list[str]:
    """Every breach of the Azure rules above in ``resources``."""
    resources = list(resources)
    topics = {r.id for r in resources if r.type == "azure-native:servicebus:Topic"}
    containers = {
        r.id
        for r in resources
        if r.type == "azure-native:storage:BlobContainer"
        and r.inputs.get("containerName") == PAYLOAD_CONTAINER
    }
    problems: list[str] = []
    for resource in resources:
        if resource.type != "azure-native:authorization:RoleAssignment":
            continue
        label = f"role assignment {resource.name}"
        guid = str(resource.inputs.get("roleDefinitionId", "")).rsplit("/", 1)[-1]
        scope = str(resource.inputs.get("scope", ""))
        if guid in WIDE_AZURE_ROLE_IDS:
            problems.append(f"{label} grants the wide role {WIDE_AZURE_ROLE_IDS[guid]}")
            continue
        role = _ROLE_NAMES.get(guid)
        if role is None:
            problems.append(f"{label} grants role {guid}, not one the kit needs")
            continue
        if _AZURE_WIDE_SCOPE.match(scope):
            problems.append(f"{label} is scoped to a whole subscription or resource group")
        elif scope in topics:
            if role not in SERVICEBUS_ROLES:
                problems.append(f"{label} grants {role} on the topic")
        elif scope in containers:
            if role != servicebus.PAYLOAD_ROLE:
                problems.append(f"{label} grants {role} on the payload container")
        else:
            problems.append(f"{label} is scoped to {scope}, not the topic or payload container")
    return problems
