"""The service control policies on the tenant OU, and the AWS facts (data/guardrails.yaml) they rest on.

Each statement says, in its comment, what it prevents. An SCP never grants anything: it caps what any
principal of a tenant account can do, the account's root user included, whatever IAM later allows there.
Our own stacks act in tenant accounts through our deployer role, on an IAM path (``/gpucloud-org/``) no one else
can create a role on; the protective statements exempt that path, never a role name a tenant could make. Nothing
exempts anyone from the root, IMDSv2, region, capacity and RAM statements.

Where each attaches: ``tenant-baseline`` and ``tenant-regions`` on the tenant and quarantine OUs, so an account
is bound from the moment it is created there; ``tenant-protect`` on each tenant account, by its account stack,
once our deployer role exists there (nothing but the deployer could create the deployer under that SCP).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from gpucloud.datafiles import load_data_file, require
from gpucloud.organization.landing_zone import load_landing_zone

Document = dict[str, Any]
OU_GUARDRAILS = ("tenant-baseline", "tenant-regions")  # on the tenant and quarantine OUs
ACCOUNT_GUARDRAILS = ("tenant-protect",)  # on each tenant account, once our deployer role is there
GUARDRAIL_NAMES = OU_GUARDRAILS + ACCOUNT_GUARDRAILS


@dataclass(frozen=True, kw_only=True)
class Guardrails:
    global_services: tuple[str, ...]
    capacity_purchase_actions: tuple[str, ...]
    quota_increase_actions: tuple[str, ...]
    root_principal_pattern: str
    root_access_features: tuple[str, ...]
    iam_service_principal: str
    ssm_agent_actions: tuple[str, ...]
    session_resource: str
    instance_quotas: dict[str, dict[str, str]]  # family letter -> {service, code, name}
    account_reopen_days: int
    iam_path: str
    org_role_path: str
    scp_max_characters: int
    scp_max_per_target: int
    s3_bucket_policy_max_bytes: int
    tenant_must_not: tuple[dict[str, str], ...]  # requests no tenant principal may make (the guardrails-hold rule)

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
        quota_increase_actions=tuple(require(doc, "quota_increase_actions", list, where)),
        root_principal_pattern=require(doc, "root_principal_pattern", str, where),
        root_access_features=tuple(require(doc, "root_access_features", list, where)),
        iam_service_principal=require(doc, "iam_service_principal", str, where),
        ssm_agent_actions=tuple(require(doc, "ssm_agent_actions", list, where)),
        session_resource=require(doc, "session_resource", str, where),
        instance_quotas=require(doc, "instance_quotas", dict, where),
        account_reopen_days=require(doc, "account_reopen_days", int, where),
        iam_path=require(doc, "iam_path", str, where),
        org_role_path=require(doc, "org_role_path", str, where),
        scp_max_characters=require(doc, "scp_max_characters", int, where),
        scp_max_per_target=require(doc, "scp_max_per_target", int, where),
        s3_bucket_policy_max_bytes=require(doc, "s3_bucket_policy_max_bytes", int, where),
        tenant_must_not=tuple(require(doc, "tenant_must_not", list, where)),
    )


def _document(*statements: Document) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def our_principals() -> str:
    """The ARN pattern of the principals our SCPs exempt: roles on our organization path, which only our deployer
    role (itself on that path) can create in a tenant account."""
    return f"arn:aws:iam::*:role{load_guardrails().org_role_path}*"


def _held_in_the_organization() -> tuple[Document, Document]:
    """What every account of ours and of a tenant carries: its root user does nothing (its password is recoverable
    by whoever holds the account's mailbox, and IAM's boundaries bind only the roles we make; only a privileged
    session our management account opens, sts:AssumeRoot with aws:AssumedRoot set, passes: AWS's own example SCP),
    and it never leaves the organization and its guardrails (with our capacity or our audit record in it)."""
    facts = load_guardrails()
    return (
        {
            "Sid": "NoRootUser",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "ArnLike": {"aws:PrincipalArn": facts.root_principal_pattern},
                "Null": {"aws:AssumedRoot": "true"},
            },
        },
        {
            "Sid": "NoLeavingTheOrganization",
            "Effect": "Deny",
            "Action": "organizations:LeaveOrganization",
            "Resource": "*",
        },
    )


def _except_ours() -> dict[str, Any]:
    """The condition that exempts our own stacks, which act in a tenant account through our deployer role."""
    return {"ArnNotLike": {"aws:PrincipalARN": [our_principals()]}}


def service_control_policies(served_regions: tuple[str, ...]) -> dict[str, Document]:
    """The tenant guardrails, by name (each under the SCP size limit, together under the count limit)."""
    facts = load_guardrails()
    path = facts.iam_path
    ours = _except_ours()
    baseline = _document(
        *_held_in_the_organization(),
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
        # Capacity is ours to buy: a tenant account never reserves, buys blocks, training plans, Dedicated Hosts,
        # reserved offerings of any service, Marketplace subscriptions, or commits to Savings Plans (all billed to
        # our payer account). guardrails.yaml names each action's page.
        {
            "Sid": "NoCapacityPurchases",
            "Effect": "Deny",
            "Action": list(facts.capacity_purchase_actions),
            "Resource": "*",
        },
        # Bucket names under our audit prefix are ours: the organization trail records (and bills us for) every
        # object call on them, and tenants' audit buckets are found by it (landing_zone.yaml, audit_bucket_prefix).
        {
            "Sid": "NoBucketsUnderOurAuditPrefix",
            "Effect": "Deny",
            "Action": "s3:CreateBucket",
            "Resource": f"arn:aws:s3:::{load_landing_zone().audit_bucket_prefix}*",
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
                # Creating under our path too: a tenant that made gpucloud/gpucloud-tenant-admin first would own it
                # (or break our stack); tags and instance profiles, which a trust or a node launch can rest on.
                "iam:CreateRole",
                "iam:CreatePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:TagPolicy",
                "iam:UntagPolicy",
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
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
                f"arn:aws:iam::*:instance-profile{path}*",
                # ... and our deployer's path: a role made there would be exempt from every statement here.
                f"arn:aws:iam::*:role{facts.org_role_path}*",
            ],
            "Condition": ours,
        },
        # Flow logs are ours to make and remove: the tenant's VPCs keep flowing to our audit bucket, and no tenant
        # points a flow log of its own at it (fake records under another prefix, our storage bill).
        {
            "Sid": "ProtectFlowLogs",
            "Effect": "Deny",
            "Action": ["ec2:CreateFlowLogs", "ec2:DeleteFlowLogs"],
            "Resource": "*",
            "Condition": ours,
        },
        # The account's On-Demand quotas are what we sold it; our stacks raise them (quotas.yaml), the tenant does not.
        {
            "Sid": "NoQuotaIncreases",
            "Effect": "Deny",
            "Action": list(facts.quota_increase_actions),
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
        # AWS Config keeps recording (our Config rules judge the account from it): the tenant stack's recorder and
        # delivery channel are not stopped, changed or removed (AWS Config API reference names each action).
        {
            "Sid": "ProtectConfigRecording",
            "Effect": "Deny",
            "Action": [
                "config:StopConfigurationRecorder",
                "config:DeleteConfigurationRecorder",
                "config:PutConfigurationRecorder",
                "config:DeleteDeliveryChannel",
                "config:PutDeliveryChannel",
            ],
            "Resource": "*",
            "Condition": ours,
        },
        # The account-level S3 Block Public Access that the account stack turns on stays on.
        {
            "Sid": "ProtectAccountPublicAccessBlock",
            "Effect": "Deny",
            "Action": ["s3:PutAccountPublicAccessBlock"],
            "Resource": "*",
            "Condition": ours,
        },
    )
    return dict(zip(GUARDRAIL_NAMES, (baseline, regions, protect), strict=True))


CORE_NAME = "core-baseline"


def core_policy() -> Document:
    """The SCP of our own accounts' OU (log archive, security, capacity): their root users do nothing (their
    e-mails are ours too, but a recovered password must still open nothing) and no account leaves the
    organization. Nothing else: the capacity account buys capacity, the security account runs the trail."""
    return _document(*_held_in_the_organization())


QUARANTINE_NAME = "quarantine"


def quarantine_policy() -> Document:
    """The SCP of the quarantine OU, where a leaving tenant's account waits to be closed or to leave the
    organization: nobody in it does anything but our stacks (which remove what is ours there). Never an account
    left in our organization, billed to us, with its guardrails gone."""
    return _document(
        {
            "Sid": "NothingButOurStacks",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": _except_ours(),
        },
    )


def minified(document: Document) -> str:
    """The text AWS stores and measures against the SCP size limit (whitespace does not count there)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
