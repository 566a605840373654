"""Organization rules: the service control policies the org stack attaches, judged by what they deny.

A guardrail is only as good as the requests it stops, so these rules ask the attached SCP documents the questions
an auditor asks (``gpucloud.organization.scp_eval``), rather than looking for statement names: can the account's
root user act, can a role the tenant made itself buy capacity or take over one of ours, and do the documents stay
within what AWS Organizations accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from gpucloud.organization.guardrails import ACCOUNT_GUARDRAILS, load_guardrails, our_principals
from gpucloud.organization.scp_eval import Request, denying_statements
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy.core import UNKNOWN, Finding, Stack, links

SCP_TYPE = "aws:organizations/policy:Policy"
SCP_KIND = "SERVICE_CONTROL_POLICY"
ATTACHMENT_TYPE = "aws:organizations/policyAttachment:PolicyAttachment"
OU_TYPE = "aws:organizations/organizationalUnit:OrganizationalUnit"
# Principals of a tenant account the rules ask about (a made-up account id: SCPs match any).
TENANT_MADE_ROLE = "arn:aws:iam::123456789012:role/made-by-the-tenant"
# ... and one a tenant made under the name AWS gives the access role (in an adopted account, someone makes it by hand).
TENANT_MADE_ACCESS_ROLE = "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"
QUARANTINE_OU_NAME = "gpucloud-quarantine"
TENANT_OU_NAMES = ("gpucloud-tenants", QUARANTINE_OU_NAME)  # where tenant accounts live
# What a quarantined account's own principals may no longer do: anything at all (a sample of the everyday).
EVERYDAY = ("ec2:RunInstances", "s3:GetObject", "iam:CreateUser", "sts:AssumeRole", "ssm:StartSession")
ROOT_USER = "arn:aws:iam::123456789012:root"


def _scps(stack: Stack) -> list[RecordedResource]:
    return [
        r for r in stack.of_type(SCP_TYPE) if r.inputs.get("type", "SERVICE_CONTROL_POLICY") == "SERVICE_CONTROL_POLICY"
    ]


def _document(scp: RecordedResource) -> Mapping[str, Any] | None:
    content = scp.inputs.get("content")
    if not isinstance(content, str) or content == UNKNOWN:
        return None
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _known_documents(attached: list[RecordedResource]) -> list[Mapping[str, Any]] | None:
    """The documents of ``attached``; None while any is unknown (until `pulumi up`: CrossGuard runs the rule then)."""
    documents = [_document(scp) for scp in attached]
    return None if any(doc is None for doc in documents) else [doc for doc in documents if doc is not None]


def _account_level(stack: Stack) -> list[RecordedResource]:
    """The SCPs of this stack that each account stack attaches to its own account (tenant-protect)."""
    names = {f"gpucloud-{name}" for name in ACCOUNT_GUARDRAILS}
    return [scp for scp in _scps(stack) if scp.inputs.get("name") in names]


def _governing(stack: Stack) -> dict[str, tuple[RecordedResource, list[RecordedResource]]]:
    """What binds an account in each OU of the stack: the SCPs on the OU and those every tenant account carries."""
    per_account = _account_level(stack)
    return {urn: (ou, [*attached, *per_account]) for urn, (ou, attached) in _targets(stack).items()}


def _targets(stack: Stack) -> dict[str, tuple[RecordedResource, list[RecordedResource]]]:
    """Each OU of the stack that SCPs are attached to: the OU and the SCPs on it (by the OU's URN)."""
    scps = _scps(stack)
    found: dict[str, tuple[RecordedResource, list[RecordedResource]]] = {}
    for ou in stack.of_type(OU_TYPE):
        attached = [
            scp
            for attachment in stack.of_type(ATTACHMENT_TYPE)
            if links(attachment, "targetId", ou)
            for scp in scps
            if links(attachment, "policyId", scp)
        ]
        found[ou.urn] = (ou, attached)
    return found


def _scp_limits(stack: Stack) -> Iterator[Finding]:
    facts = load_guardrails()
    for scp in _scps(stack):
        content = scp.inputs.get("content")
        if isinstance(content, str) and len(content) > facts.scp_max_characters:
            yield scp.urn, f"{len(content)} characters, over AWS's {facts.scp_max_characters} for an SCP"
    for ou, attached in _targets(stack).values():
        ours = facts.scp_max_per_target - 1  # AWS's FullAWSAccess takes one place on every target
        if len(attached) > ours:
            yield (
                ou.urn,
                f"{len(attached)} SCPs attached; AWS allows {facts.scp_max_per_target}, FullAWSAccess included",
            )


def _context(stack: Stack) -> dict[str, str]:
    """What a well-formed request from a tenant account carries, so that only the statement under test can deny it:
    a served region (else the region statement denies everything) and IMDSv2 settings the guardrails accept."""
    regions = getattr(stack.config, "served_regions", ()) or ("us-east-1",)
    return {
        "aws:RequestedRegion": regions[0],
        "ec2:MetadataHttpTokens": "required",
        "ec2:MetadataHttpPutResponseHopLimit": "1",
    }


def _requests(principal: str, context: Mapping[str, str]) -> Iterator[Request]:
    facts = load_guardrails()
    for item in facts.tenant_must_not:
        resource = item["resource"].replace("{path}", facts.iam_path).replace("{org_path}", facts.org_role_path)
        yield Request(item["action"], principal, resource, context)


def _quarantine_shut(stack: Stack) -> Iterator[Finding]:
    """In the quarantine OU (a leaving tenant's account, before it is closed or leaves the organization), a role
    the tenant made and the root user may do nothing at all."""
    for ou, attached in _governing(stack).values():
        if ou.inputs.get("name") != QUARANTINE_OU_NAME:
            continue
        known = _known_documents(attached)
        if known is None:
            continue
        context = _context(stack)
        for principal in (TENANT_MADE_ROLE, TENANT_MADE_ACCESS_ROLE, ROOT_USER):
            for action in EVERYDAY:
                if not denying_statements(known, Request(action, principal, "*", context)):
                    yield ou.urn, f"{principal} may {action} in quarantine: no SCP on this OU denies it"


def _guardrails_hold(stack: Stack) -> Iterator[Finding]:
    """On every OU with guardrails the root user may do nothing at all; on the OUs tenant accounts live in (with the
    SCPs each account there carries), no role the tenant made (under any name, the access role's included) nor the
    root user may do what a tenant must not."""
    for ou, attached in _governing(stack).values():
        known = _known_documents(attached) if attached else None
        if known is None:
            continue
        context = _context(stack)
        tenants_live_here = ou.inputs.get("name") in TENANT_OU_NAMES  # our core OU: the root user part only
        for principal in (TENANT_MADE_ROLE, TENANT_MADE_ACCESS_ROLE, ROOT_USER) if tenants_live_here else ():
            for request in _requests(principal, context):
                if not denying_statements(known, request):
                    who = "the root user" if principal == ROOT_USER else "a role the tenant made"
                    yield ou.urn, f"{who} may {request.action} on {request.resource}: no SCP on this OU denies it"
        for action in ("ec2:RunInstances", "iam:CreateUser", "iam:CreateAccessKey", "s3:GetObject"):
            if not denying_statements(known, Request(action, ROOT_USER, "*", context)):
                yield ou.urn, f"the root user may {action}: no SCP on this OU denies the root user"


# Condition operators under which a principal pattern exempts (the statement applies to everyone else).
_EXEMPTING_OPERATORS = ("arnnotlike", "arnnotequals", "stringnotlike", "stringnotequals")


def _exempted_principals(statement: Mapping[str, Any]) -> Iterator[str]:
    """The principal ARN patterns a Deny statement exempts (its Condition's negated aws:PrincipalArn tests)."""
    condition = statement.get("Condition") or {}
    for operator, tests in condition.items() if isinstance(condition, Mapping) else ():
        base = operator.split(":")[-1].lower().removesuffix("ifexists")
        if base not in _EXEMPTING_OPERATORS or not isinstance(tests, Mapping):
            continue
        for key, values in tests.items():
            if key.lower() == "aws:principalarn":
                yield from [values] if isinstance(values, str) else values


def _exemption_by_path(stack: Stack) -> Iterator[Finding]:
    """An SCP statement exempts only our organization path (roles only our deployer can make), never a role by a
    name a tenant could give a role of its own."""
    allowed = our_principals()
    for scp in _scps(stack):
        doc = _document(scp)
        statements = (doc or {}).get("Statement", [])
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
                continue
            for pattern in _exempted_principals(statement):
                if pattern != allowed:
                    sid = statement.get("Sid", "a statement")
                    yield (
                        scp.urn,
                        (f"{sid} exempts {pattern}: a tenant can make a role that matches it; exempt {allowed} only"),
                    )


# What may live in the management account (the stacks' default provider): the organization and its settings.
ORGANIZATION_TYPES = (
    "aws:organizations/",
    "aws:iam/organizationsFeatures:OrganizationsFeatures",
    "aws:cloudtrail/organizationDelegatedAdminAccount:OrganizationDelegatedAdminAccount",
)
NOT_IN_ANY_ACCOUNT = ("pulumi:", "random:", "pulumi-python:dynamic:")  # providers, stack references, values, carves


def _nothing_of_ours_in_management(stack: Stack) -> Iterator[Finding]:
    """Every stack runs with management-account credentials; what it makes through the default provider lands
    there, where no SCP binds anyone (AWS: keep every resource in another account). Only the organization's own."""
    for res in stack.resources:
        if not res.custom or res.provider or res.type.startswith(NOT_IN_ANY_ACCOUNT):
            continue
        if not res.type.startswith(ORGANIZATION_TYPES):
            yield res.urn, f"{res.type} would land in the management account; build it through an account's provider"
