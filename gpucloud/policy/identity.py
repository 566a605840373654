"""Identity rules: what IAM documents allow, and whether IAM itself would accept them (parliament)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy.core import UNKNOWN, Finding, Stack, _as_list, _linked, _policy_documents, _statements

SESSION_ACTIONS = ("ssm:ResumeSession", "ssm:TerminateSession")


AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"


# parliament findings that are advice, not faults: our own rules judge wildcard resources (no-admin-wildcard,
# tenant-foreign-data, session-scope) with the tenant in mind.
IAM_LINT_ADVICE = frozenset({"RESOURCE_STAR", "RESOURCE_EFFECTIVELY_STAR"})


# Global condition keys AWS documents that parliament 1.6.4's key list predates (IAM User Guide, "AWS global
# condition context keys", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html,
# recorded 2026-11-27). Any other unknown condition fails the plan.
IAM_LINT_KNOWN_GLOBAL_KEYS = frozenset({"aws:sourceorgid"})


TRUST_POLICY_HAS_NO_RESOURCE = "Statement contains neither Resource nor NotResource"


def _no_admin_wildcard(stack: Stack) -> Iterator[Finding]:
    for res in stack.resources:
        for document in _policy_documents(res):
            for statement in _statements(document):
                actions = _as_list(statement.get("Action"))
                targets = _as_list(statement.get("Resource"))
                if statement.get("Effect") == "Allow" and "*" in actions and "*" in targets:
                    yield res.urn, "a statement allows * on *"


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    service = action.split(":", 1)[0]
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    return statement.get("Effect") == "Allow" and any(a in (action, f"{service}:*", "*") for a in actions)


def _sessions_scoped(stack: Stack) -> Iterator[Finding]:
    for res in stack.resources:
        for document in _policy_documents(res):
            for statement in _statements(document):
                for action in SESSION_ACTIONS:
                    if _allows(statement, action) and "*" in _as_list(statement.get("Resource")):
                        yield res.urn, f"{action} on *: resumes or ends anyone's session; scope it to the caller's own"


def _trusts_ec2(role: RecordedResource) -> bool:
    for statement in _statements(role.inputs.get("assumeRolePolicy")):
        principal = statement.get("Principal") or {}
        services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        if "ec2.amazonaws.com" in services:
            return True
    return False


def _no_managed_policy_on_nodes(stack: Stack) -> Iterator[Finding]:
    for role in stack.of_type("aws:iam/role:Role"):
        if not _trusts_ec2(role):
            continue
        for arn in _as_list(role.inputs.get("managedPolicyArns")):
            if str(arn).startswith(AWS_MANAGED_POLICY):
                yield role.urn, f"node role carries the AWS managed policy {arn}"
        for attachment in _linked(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role", role):
            arn = str(attachment.inputs.get("policyArn", ""))
            if arn.startswith(AWS_MANAGED_POLICY):
                yield attachment.urn, f"node role carries the AWS managed policy {arn}"


def _iam_lint(stack: Stack) -> Iterator[Finding]:
    """Every IAM document, as parliament reads it: unknown actions, conditions and malformed ARNs fail."""
    for res in stack.resources:
        trust = res.inputs.get("assumeRolePolicy")
        for document in _policy_documents(res):
            text = document if isinstance(document, str) else json.dumps(document)
            if UNKNOWN in text:
                continue  # judged once `pulumi up` knows every value
            for issue, detail in lint_policy(text):
                if document is trust and detail == TRUST_POLICY_HAS_NO_RESOURCE:
                    continue  # a role's trust policy names who may assume it, never a Resource (IAM User Guide)
                yield res.urn, f"{issue}: {detail}"


@cache
def lint_policy(text: str) -> tuple[tuple[str, str], ...]:
    """parliament's findings on one policy document, less advice (wildcards, which our rules judge) and the
    documented global condition keys parliament does not know yet."""
    from parliament import analyze_policy_string  # slow to import: only when a plan holds IAM documents

    findings = []
    for finding in analyze_policy_string(text).findings:
        if finding.issue in IAM_LINT_ADVICE:
            continue
        detail = str(finding.detail)
        if finding.issue == "UNKNOWN_CONDITION_FOR_ACTION" and any(
            key in detail.lower() for key in IAM_LINT_KNOWN_GLOBAL_KEYS
        ):
            continue
        findings.append((finding.issue, detail))
    return tuple(findings)
