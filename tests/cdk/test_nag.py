"""cdk-nag's AwsSolutions rules: no finding left, every acknowledgment justified and needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cdk import Synthesis, synthesize

pytestmark = pytest.mark.cdk


def acknowledgments(synthesis: Synthesis) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledged cdk-nag rule in the stack.

    CDK acknowledges some of its own template rules (``CloudFormation-Validate::...``);
    those are not ours to justify.
    """
    import aws_cdk as cdk

    found = []
    for construct in synthesis.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for key, reason in entry.data.items():
                # CDK records an acknowledged cdk-nag rule as "Annotation::<rule id>".
                rule = key.split("::", 1)[1] if key.startswith("Annotation::") else key
                if rule.startswith("AwsSolutions-"):
                    found.append((construct.node.path, rule, reason))
    return found


@pytest.mark.parametrize("variant", ["default_synthesis", "full_synthesis"])
def test_stack_passes_aws_solutions_checks(variant: str, request: pytest.FixtureRequest) -> None:
    synthesis: Synthesis = request.getfixturevalue(variant)
    # the only report allowed: the HTTP-only stack's clear-text warning, on purpose
    allowed = [("Annotation::warning-annotation", "SocketIoCloud/Service")]
    assert synthesis.violations() == (allowed if variant == "default_synthesis" else [])
    assert synthesis.error is None


@pytest.mark.parametrize("variant", ["default_synthesis", "full_synthesis"])
def test_every_acknowledgment_gives_a_reason(variant: str, request: pytest.FixtureRequest) -> None:
    synthesis: Synthesis = request.getfixturevalue(variant)
    found = acknowledgments(synthesis)
    assert found
    for path, rule, reason in found:
        assert len(reason.split()) >= 8, (path, rule, reason)


def test_every_acknowledgment_answers_a_real_finding(
    full_synthesis: Synthesis,
    app_directory: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Synthesized again with acknowledgments ignored, cdk-nag must report exactly them.

    An acknowledgment that matches no finding is stale (it would hide a future finding
    unnoticed); a finding without acknowledgment would have failed the checks above.
    """
    import aws_cdk as cdk

    monkeypatch.setattr(cdk.Validations, "acknowledge", lambda self, *rules: None)
    raw = synthesize(
        tmp_path,
        builtin_validation=False,
        imageContext=str(app_directory),
        customerManagedKey="true",
        largePayloadBucket="true",
        certificateArn="arn:aws:acm:us-east-1:123456789012:certificate/raw",
    )
    findings = set(raw.violations())
    assert raw.error is not None

    acknowledged = {(path, rule) for path, rule, _ in acknowledgments(full_synthesis)}
    answered = {
        (path, rule)
        for path, rule in acknowledged
        for finding_rule, finding_path in findings
        if finding_rule == rule and (finding_path + "/").startswith(path + "/")
    }
    assert acknowledged - answered == set(), "stale acknowledgments"
    unanswered = {
        (finding_rule, finding_path)
        for finding_rule, finding_path in findings
        if not any(
            finding_rule == rule and (finding_path + "/").startswith(path + "/")
            for path, rule in acknowledged
        )
    }
    assert unanswered == set()
