"""Tests of the Pulumi programs in pulumi/: every resource they declare, checked offline.

The programs run under Pulumi's unit-test mocks (``pulumi.runtime.set_mocks``): no engine, no
cloud. :class:`RecordingMocks` keeps the inputs of every resource the program registers, as the
provider would receive them (camelCase keys, outputs resolved), and answers the few provider
functions the programs call. :func:`run_program` runs a build function and returns them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pulumi

REPO_ROOT = Path(__file__).resolve().parents[2]
PULUMI_DIR = REPO_ROOT / "pulumi"

# The component package lives in pulumi/, next to the programs, as it does for `pulumi up`.
if str(PULUMI_DIR) not in sys.path:
    sys.path.append(str(PULUMI_DIR))

T = TypeVar("T")

PROJECT = "sio-test-project"
AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
REGISTRY_IMAGE = "europe-west1-docker.pkg.dev/sio-test-project/socketio-cloud/app:test"
AZURE_IMAGE = "ghcr.io/socketio-cloud/app:test"

# The input that holds the physical name of an Azure resource, when the program sets one.
_AZURE_NAME_KEYS = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:servicebus:Namespace": "namespaceName",
    "azure-native:servicebus:Topic": "topicName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:storage:Blob": "blobName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:app:ContainerApp": "containerAppName",
    "azure-native:app:ManagedEnvironment": "environmentName",
}
# How the mock monitor marks a secret value.
_SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


@dataclass(frozen=True)
class Resource:
    """One registered resource: its type token, logical name, inputs (secrets unwrapped),
    mocked id, and which of its top-level inputs were secret."""

    type: str
    name: str
    inputs: dict[str, Any]
    id: str
    secrets: frozenset[str] = frozenset()


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource and fills in the outputs the programs read back."""

    def __init__(self) -> None:
        self.resources: list[Resource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id = f"/mock/{args.typ}/{args.name}"
        secrets = frozenset(key for key, value in args.inputs.items() if _is_secret(value))
        inputs = {key: _reveal(value) for key, value in args.inputs.items()}
        outputs = {**inputs, **_computed_outputs(args.typ, args.name, inputs)}
        self.resources.append(Resource(args.typ, args.name, inputs, resource_id, secrets))
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answers: dict[str, dict[str, Any]] = {
            "azure-native:authorization:getClientConfig": {
                "subscriptionId": AZURE_SUBSCRIPTION,
                "tenantId": "00000000-0000-0000-0000-000000000002",
                "clientId": "00000000-0000-0000-0000-000000000003",
                "objectId": "00000000-0000-0000-0000-000000000004",
            },
            "azure-native:operationalinsights:getSharedKeys": {"primarySharedKey": "log-key"},
            "azure-native:storage:listStorageAccountKeys": {
                "keys": [{"keyName": "key1", "value": "account-key", "permissions": "FULL"}]
            },
            "azure-native:storage:listStorageAccountServiceSAS": {
                "serviceSasToken": "sv=2022-11-02&sr=c&sp=r&sig=mock"
            },
        }
        if args.token not in answers:
            raise AssertionError(f"the program called an unmocked function {args.token}")
        return answers[args.token], []


def _is_secret(value: Any) -> bool:
    if isinstance(value, list):
        return any(_is_secret(item) for item in value)
    if not isinstance(value, dict):
        return False
    key, signature = _SECRET_SIGNATURE
    return value.get(key) == signature or any(_is_secret(item) for item in value.values())


def _reveal(value: Any) -> Any:
    """``value`` with every secret wrapper replaced by the value it wraps."""
    if isinstance(value, dict):
        key, signature = _SECRET_SIGNATURE
        if value.get(key) == signature:
            return _reveal(value["value"])
        return {item_key: _reveal(item) for item_key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item) for item in value]
    return value


def _computed_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs a provider computes and the programs use."""
    if typ == "gcp:projects/iAMCustomRole:IAMCustomRole":
        return {"name": f"projects/{inputs['project']}/roles/{inputs['roleId']}"}
    if typ == "gcp:serviceaccount/account:Account":
        return {"email": f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"}
    if typ == "gcp:cloudrunv2/service:Service":
        return {"uri": f"https://{inputs['name']}-mock.a.run.app"}
    if typ == "gcp:cloudfunctionsv2/function:Function":
        config = {**inputs.get("serviceConfig", {}), "uri": f"https://{inputs['name']}.run.app"}
        return {"serviceConfig": config}
    if typ.startswith("gcp:storage/"):
        return {"name": inputs.get("name") or f"{name}-mock1234"}
    if typ.startswith("azure-native:"):
        physical = inputs.get(_AZURE_NAME_KEYS.get(typ, "name"))
        outputs: dict[str, Any] = {"name": inputs.get("name") or physical or f"{name}mock1234"}
        identity = inputs.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Given as a list of ids, returned as a map from id to the identity's details.
            identities: dict[str, Any] = {key: {} for key in identity["userAssignedIdentities"]}
            outputs["identity"] = {**identity, "userAssignedIdentities": identities}
        if typ == "azure-native:managedidentity:UserAssignedIdentity":
            outputs |= {"principalId": f"{name}-principal", "clientId": f"{name}-client"}
        elif typ == "azure-native:storage:StorageAccount":
            account = outputs["name"]
            outputs["primaryEndpoints"] = {"blob": f"https://{account}.blob.core.windows.net/"}
        elif typ == "azure-native:operationalinsights:Workspace":
            outputs["customerId"] = f"{name}-customer"
        elif typ == "azure-native:app:ContainerApp":
            outputs["latestRevisionFqdn"] = (
                f"{inputs['containerAppName']}.mock.azurecontainerapps.io"
            )
        return outputs
    return {}


@dataclass
class MockedStack(Generic[T]):
    """The resources a program registered, and what its build function returned."""

    resources: list[Resource]
    result: T
    exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type == typ]

    def one(self, typ: str, name: str | None = None) -> Resource:
        """The only resource of ``typ`` (named ``name`` when given)."""
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"{len(found)} resources of {typ} named {name}"
        return found[0]

    def types(self) -> set[str]:
        return {resource.type for resource in self.resources}

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)


def run_program(build: Callable[[], T], config: dict[str, str] | None = None) -> MockedStack[T]:
    """Run ``build`` as a Pulumi program under the mocks; ``config`` is the stack config
    (``"project:key": value``)."""
    mocks = RecordingMocks()
    # Pulumi runs the program on the thread's current event loop; pytest-asyncio leaves
    # none behind after an async test, so give this run its own
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(mocks, project="socketio-cloud", stack="test", preview=False)
    pulumi.runtime.set_all_config(config or {})
    holder: dict[str, T] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator,unused-ignore]
    def program() -> None:
        holder["result"] = build()

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
        asyncio.set_event_loop(None)
        loop.close()
    return MockedStack(list(mocks.resources), holder["result"])


def env_of(container_env: list[dict[str, Any]]) -> dict[str, Any]:
    """``[{"name": N, "value": V}, ...]`` as a mapping."""
    return {item["name"]: item.get("value") for item in container_env}
