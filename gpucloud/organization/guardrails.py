"""The service control policies on the tenant OU, and the AWS facts (data/guardrails.yaml) they rest on.

Each statement says, in its comment, what it prevents. An SCP never grants anything: it caps what any
principal of a tenant account can do, the account's root user included, whatever IAM later allows there.
Our own stacks act in tenant accounts through the organization's access role, which the protective
statements exempt; nothing exempts anyone from the IMDSv2, region, capacity and RAM statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from gpucloud.datafiles import load_data_file, require

Document = dict[str, Any]
GUARDRAIL_NAMES = ("tenant-baseline", "tenant-regions", "tenant-protect")


@dataclass(frozen=True, kw_only=True)
class Guardrails:
    global_services: tuple[str, ...]
    capacity_purchase_actions: tuple[str, ...]
    ssm_agent_actions: tuple[str, ...]
    session_resource: str
    instance_quotas: dict[str, dict[str, str]]  # family letter -> {service, code, name}
    account_reopen_days: int
    iam_path: str
    scp_max_characters: int
    scp_max_per_target: int

    def quota_for(self, instance_type: str) -> dict[str, str] | None:
        """The On-Demand vCPU quota an instance type counts against (by its family letter), if recorded."""
        return self.instance_quotas.get(instance_type[:1])


@cache
def load_guardrails() -> Guardrails:
    where = "gpucloud/data/guardrails.yaml"
    doc = load_data_file("guardrails.yaml")
    return Guardrails(
        global_services=tuple(require(doc, "global_services", list, where)),
        capacity_purchase_actions=tuple(require(doc, "capacity_purchase_actions", list, where)),
        ssm_agent_actions=tuple(require(doc, "ssm_agent_actions", list, where)),
        session_resource=require(doc, "session_resource", str, where),
        instance_quotas=require(doc, "instance_quotas", dict, where),
        account_reopen_days=require(doc, "account_reopen_days", int, where),
        iam_path=require(doc, "iam_path", str, where),
        scp_max_characters=require(doc, "scp_max_characters", int, where),
        scp_max_per_target=require(doc, "scp_max_per_target", int, where),
    )


def _document(*statements: Document) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _except_our_access(access_role_name: str) -> dict[str, Any]:
    """The condition that exempts our own stacks, which act in a tenant account through its access role."""
    return {"ArnNotLike": {"aws:PrincipalARN": [f"arn:aws:iam::*:role/{access_role_name}"]}}


def service_control_policies(served_regions: tuple[str, ...], access_role_name: str) -> dict[str, Document]:
    """The SCPs on the tenant OU, by name (each under the SCP size limit, together under the count limit)."""
    facts = load_guardrails()
    path = facts.iam_path
    ours = _except_our_access(access_role_name)
    baseline = _document(
        # A tenant cannot take its account (and our capacity in it) out of the organization and its guardrails.
        {
            "Sid": "NoLeavingTheOrganization",
            "Effect": "Deny",
            "Action": "organizations:LeaveOrganization",
            "Resource": "*",
        },
        # No instance starts without IMDSv2: credentials on a node never answer a plain (SSRF-able) GET.
        {
            "Sid": "RunInstancesOnlyWithImdsV2",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"StringNotEquals": {"ec2:MetadataHttpTokens": "required"}},
        },
        # ... and no container more than one hop away from the node reaches the metadata service.
        {
            "Sid": "ImdsHopLimitAtMostTwo",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"NumericGreaterThan": {"ec2:MetadataHttpPutResponseHopLimit": "2"}},
        },
        # Nobody but our stacks turns IMDSv2 off on a running instance.
        {
            "Sid": "NoWeakeningInstanceMetadata",
            "Effect": "Deny",
            "Action": "ec2:ModifyInstanceMetadataOptions",
            "Resource": "*",
            "Condition": ours,
        },
        # Capacity is ours to buy: a tenant account never reserves, buys blocks or commits to Savings Plans.
        {
            "Sid": "NoCapacityPurchases",
            "Effect": "Deny",
            "Action": list(facts.capacity_purchase_actions),
            "Resource": "*",
        },
        # Nothing is shared out of a tenant account (not to another tenant, not to the world).
        {
            "Sid": "NoSharingOut",
            "Effect": "Deny",
            "Action": ["ram:CreateResourceShare", "ram:AssociateResourceShare", "ram:UpdateResourceShare"],
            "Resource": "*",
        },
    )
    regions = _document(
        # Only the regions we serve (global services, whose endpoints live in us-east-1, are exempt).
        {
            "Sid": "OnlyServedRegions",
            "Effect": "Deny",
            "NotAction": list(facts.global_services),
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(served_regions)}},
        },
    )
    protect = _document(
        # Our roles and policies in the tenant account (operator, node, boundary) stay as our stacks made them.
        {
            "Sid": "ProtectGpucloudIam",
            "Effect": "Deny",
            "Action": [
                "iam:AttachRolePolicy",
                "iam:DeleteRole",
                "iam:DeleteRolePermissionsBoundary",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
            ],
            "Resource": [
                f"arn:aws:iam::*:role{path}*",
                f"arn:aws:iam::*:policy{path}*",
                f"arn:aws:iam::*:role/{access_role_name}",
            ],
            "Condition": ours,
        },
        # Flow logs of the tenant's VPCs keep flowing to our audit bucket.
        {
            "Sid": "ProtectFlowLogs",
            "Effect": "Deny",
            "Action": ["ec2:DeleteFlowLogs"],
            "Resource": "*",
            "Condition": ours,
        },
        # Our audit trail (the organization trail) and any trail we make are not stopped or changed.
        {
            "Sid": "ProtectAuditTrail",
            "Effect": "Deny",
            "Action": [
                "cloudtrail:StopLogging",
                "cloudtrail:DeleteTrail",
                "cloudtrail:UpdateTrail",
                "cloudtrail:PutEventSelectors",
                "cloudtrail:PutInsightSelectors",
            ],
            "Resource": "*",
            "Condition": ours,
        },
        # Our audit destinations: the S3 Block Public Access of the account stays on.
        {
            "Sid": "ProtectAccountPublicAccessBlock",
            "Effect": "Deny",
            "Action": ["s3:PutAccountPublicAccessBlock"],
            "Resource": "*",
            "Condition": ours,
        },
    )
    return dict(zip(GUARDRAIL_NAMES, (baseline, regions, protect), strict=True))


def minified(document: Document) -> str:
    """The text AWS stores and measures against the SCP size limit (whitespace does not count there)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
