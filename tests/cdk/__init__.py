"""Tests of the CDK app in cdk/: synthesized templates, cdk-nag, a local deploy into moto.

Helpers here synthesize the app the way ``cdk synth`` does: ``cdk/app.py`` builds the stack
from the context of ``cdk/cdk.json`` (feature flags included) plus the test's overrides.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from socketio_cloud.brokers.aws import DEFAULT_QUEUE_PREFIX, node_queue_wildcard

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_DIR = REPO_ROOT / "cdk"
STACK_NAME = "SocketIoCloud"
#: Any registry image will do: synthesis and moto's ECS never pull it.
REGISTRY_IMAGE = "public.ecr.aws/socketio-cloud/app:test"
#: The HTTPS variant's certificate (never looked up at synthesis).
CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/0b3c5d1e-7f00-4a1b-9c2d-3e4f5a6b7c8d"
)

#: The IAM resource of the default prefix's queues, as the stack writes it.
QUEUES_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":sqs:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            f":{node_queue_wildcard(DEFAULT_QUEUE_PREFIX)}",
        ],
    ]
}

# The construct package lives in cdk/, next to app.py, as it does for the CDK CLI.
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))


def jsii_quiet_environment() -> dict[str, str]:
    """Variables that keep jsii's banners about the Node.js version out of a CDK app's
    stderr (they are not the app's output)."""
    import shutil
    import subprocess

    major = ""
    node = shutil.which("node")
    if node is not None:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        major = version.strip().lstrip("v").split(".")[0]
    return {
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": major,
    }


def load_cdk_app() -> ModuleType:
    """Import cdk/app.py under a name that cannot clash with the repository's app/ folder."""
    spec = importlib.util.spec_from_file_location("socketio_cloud_cdk_app", CDK_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk/cdk.json: the app's defaults and the CDK feature flags."""
    context: dict[str, Any] = json.loads((CDK_DIR / "cdk.json").read_text())["context"]
    return context


@dataclass
class Synthesis:
    """One synthesized app: its stack construct, template, assembly and validation outcome."""

    stack: Any
    #: The template for ``aws_cdk.assertions`` ...
    assertions: Any
    #: ... and as plain JSON, for exact comparisons.
    template: dict[str, Any]
    outdir: Path
    #: cdk's validation report (cdk-nag's findings), empty when nothing was reported.
    report: dict[str, Any]
    #: The message of a failed synthesis (validation errors), None when it passed.
    error: str | None

    def logical_id(self, construct: Any) -> str:
        """The logical ID of an L2 construct's CloudFormation resource."""
        return str(self.stack.get_logical_id(construct.node.default_child))

    def ref(self, construct: Any) -> dict[str, str]:
        return {"Ref": self.logical_id(construct)}

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }

    def properties(self, construct: Any) -> dict[str, Any]:
        properties: dict[str, Any] = self.template["Resources"][self.logical_id(construct)][
            "Properties"
        ]
        return properties

    def violations(self) -> list[tuple[str, str]]:
        """(rule, construct path) of every finding in the validation report."""
        return [
            (violation["ruleName"], construct["constructPath"])
            for plugin in self.report.get("pluginReports", [])
            for violation in plugin["violations"]
            for construct in violation["violatingConstructs"]
        ]


def synthesize(outdir: Path, *, builtin_validation: bool = True, **context: Any) -> Synthesis:
    """Synthesize cdk/app.py with cdk-nag into ``outdir``; validation errors are recorded.

    ``builtin_validation`` False skips CDK's own template rules (several seconds) for
    variants whose template the default synthesis already had checked.
    """
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    app_module = load_cdk_app()
    app = cdk.App(
        context={**cdk_json_context(), **context},
        outdir=str(outdir),
        builtin_cloud_formation_validation=builtin_validation,
    )
    stack = app_module.build(app)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # jsii raises the JavaScript error as a RuntimeError
        if "ValidationFailed" not in str(exc):
            raise
        error = str(exc)
    # The template is written before validation runs, so it is there either way.
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return Synthesis(
        stack=stack,
        assertions=Template.from_json(template),
        template=template,
        outdir=outdir,
        report=report,
        error=error,
    )
