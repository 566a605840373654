"""AccountIdentity: who may do what inside a tenant's account (created there, through its provider).

- the tenant admin role, assumed by the tenant's own principals: operate its tagged nodes, open and end
  its own Session Manager sessions (AWS's example 4: ``session/${aws:userid}-*``), use its own account's
  buckets and keys, and let EC2 use its keys for encrypted volumes (``kms:CreateGrant`` only with
  ``kms:GrantIsForAWSResource``). A permissions boundary caps it whatever is attached later: no IAM, no
  Organizations, no deleting the flow logs we keep;
- our operator role, assumed by our operations role: what ``gpucloud nodes configure`` uses to reach the
  tenant's nodes (the aws_ec2 inventory and Session Manager), and nothing else.

Both roles and the boundary live under the IAM path the organization's SCP protects (data/guardrails.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.policy_documents import Statement, document
from gpucloud.organization.guardrails import load_guardrails
from gpucloud.organization.roles import ADMIN_ROLE_NAME, DATA_OPERATOR_ROLE_NAME, OPERATOR_ROLE_NAME

# What a tenant admin may do to the tenant's own (tagged) nodes: granted by the admin policy and allowed
# by its permissions boundary, from this one list so the two cannot drift apart.
NODE_OPERATIONS = ("ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances", "ssm:StartSession")
# The Session Manager document a session may run: the default shell, which `aws ssm start-session` and
# Ansible's aws_ssm connection (amazon.aws, unless ansible_aws_ssm_document names another) both use
# (Session Manager, "Session document schema"; amazon.aws aws_ssm plugin source, recorded 2026-11-27).
SESSION_DOCUMENTS = ("SSM-SessionManagerRunShell",)

_OWN_ACCOUNT = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
STAGING_PREFIX = "i-"  # the aws_ssm connection's objects are named after the EC2 instance id


@dataclass(frozen=True, kw_only=True)
class AccountIdentityArgs:
    tenant: str
    admin_principals: Sequence[str]
    # Every account id of our organization, as AWS Organizations lists them at `pulumi up` (the offline registry
    # knows adopted accounts only): an admin principal in any of them is refused then.
    organization_account_ids: pulumi.Input[Sequence[str]]
    operations_role_arn: pulumi.Input[str]
    data_operations_role_arn: pulumi.Input[str]  # our data duty's role (offboarding), trusted by the data operator
    tags: Mapping[str, str]


def _trust(principals: Any) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}],
        },
        sort_keys=True,
    )


def operator_trust(operations_role_arn: str) -> str:
    """Our operations role may assume the operator role only in a session that names the person: a source identity
    is required (``sts:SourceIdentity`` present; `gpucloud ops credentials` sets it), and it carries on from the
    operations session, which needs ``sts:SetSourceIdentity`` here (IAM User Guide, "Monitor and control actions
    taken with assumed roles", recorded 2026-12-07). CloudTrail then names the person on every call."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": operations_role_arn},
                    "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    "Condition": {"StringLike": {"sts:SourceIdentity": "*"}},
                }
            ],
        },
        sort_keys=True,
    )


def outside_our_organization(principals: Sequence[str], organization_account_ids: Sequence[str]) -> list[str]:
    """``principals``, once none of them is of an account of our organization (ours, another tenant's, the tenant's
    own): else the error that names it. The same rule onboarding and `validate` apply to the accounts they know."""
    ours = set(organization_account_ids)
    inside = [p for p in principals if p.split(":")[4] in ours]
    if inside:
        raise ValueError(
            f"admin principal(s) {', '.join(inside)} belong to an account of our organization; "
            "an admin principal must be the tenant's own, outside it (README: One AWS account per tenant)"
        )
    return list(principals)


def _session_statements(tenant: str, sid: str) -> list[Statement]:
    facts = load_guardrails()
    return [
        {
            "Sid": f"{sid}Sessions",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{t.TENANT}": tenant}},
        },
        {
            "Sid": f"{sid}SessionDocuments",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": [f"arn:aws:ssm:*:*:document/{d}" for d in SESSION_DOCUMENTS],
        },
        {
            "Sid": f"{sid}OwnSessionsOnly",
            "Effect": "Allow",
            "Action": ["ssm:ResumeSession", "ssm:TerminateSession"],
            "Resource": facts.session_resource,
        },
    ]


def admin_statements(tenant: str) -> list[Statement]:
    """What the tenant admin role may do: granted by its policy and allowed by its boundary alike."""
    return [
        {
            "Sid": "OperateTenantNodes",
            "Effect": "Allow",
            "Action": [a for a in NODE_OPERATIONS if a.startswith("ec2:")],
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{t.TENANT}": tenant}},
        },
        *_session_statements(tenant, "Tenant"),
        {
            "Sid": "SeeOwnAccount",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ssm:DescribeInstanceInformation",
                "ssm:DescribeSessions",
                "ssm:GetConnectionStatus",
            ],
            "Resource": "*",
        },
        {
            "Sid": "OwnAccountData",
            "Effect": "Allow",
            "Action": [
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": _OWN_ACCOUNT,
        },
        {
            "Sid": "EncryptedVolumesOnStart",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {**_OWN_ACCOUNT, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def boundary_statements(tenant: str) -> list[Statement]:
    """The most the tenant's admins can ever do, and what they can never touch."""
    return [
        *admin_statements(tenant),
        # Our roles, the node role and this boundary are IAM: none of it is the tenant's to change.
        {"Sid": "NeverIam", "Effect": "Deny", "Action": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
        # The flow logs that go to our audit bucket stay.
        {"Sid": "KeepFlowLogs", "Effect": "Deny", "Action": "ec2:DeleteFlowLogs", "Resource": "*"},
    ]


def operator_statements(tenant: str) -> list[Statement]:
    """What our operators do in a tenant account: find the nodes, reach them through Session Manager."""
    return [
        {
            "Sid": "FindTenantNodes",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:DescribeTags", "ssm:DescribeInstanceInformation"],
            "Resource": "*",
        },
        *_session_statements(tenant, "Operator"),
        # The aws_ssm connection stages Ansible's files through the tenant's bucket, encrypted with its key, and
        # only there: it checks the bucket exists (HeadBucket, which needs s3:ListBucket), then puts, gets and
        # deletes objects under the instance's id ("<instance-id>/<path>": the aws_ssm connection and
        # plugin_utils/ssm/filetransfermanager.py of amazon.aws 10.1.2, read 2026-12-07). So objects only under i-*
        # keys, and the key only through S3: not the tenant's data under its other keys, nor its key for anything else.
        {
            "Sid": "StagingBucketExists",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::*",
            "Condition": _OWN_ACCOUNT,
        },
        {
            "Sid": "StageFilesUnderInstanceIds",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::*/{STAGING_PREFIX}*",
            "Condition": _OWN_ACCOUNT,
        },
        {
            "Sid": "StagingKeyThroughS3Only",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {**_OWN_ACCOUNT, "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
        },
    ]


def data_operator_statements() -> list[Statement]:
    """What offboarding's data steps do in a tenant account (``gpucloud tenant offboard`` prints them): expire a
    bucket's objects, delete the emptied bucket, schedule its key's deletion. No object is read or written; objects
    can be deleted (an expiry rule deletes them anyway, so s3:DeleteObject is said outright: parliament's
    RESOURCE_POLICY_PRIVILEGE_ESCALATION)."""
    return [
        {
            "Sid": "ExpireAndRemoveBuckets",
            "Effect": "Allow",
            "Action": [
                "s3:PutLifecycleConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:DeleteObject",
                "s3:DeleteBucket",
            ],
            "Resource": "arn:aws:s3:::*",
            "Condition": _OWN_ACCOUNT,
        },
        {
            "Sid": "RetireKeys",
            "Effect": "Allow",
            "Action": ["kms:ScheduleKeyDeletion", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": _OWN_ACCOUNT,
        },
    ]


@dataclass(frozen=True)
class _DutyRole:
    """One of our operators' roles in the tenant account, one duty each: trusted by that duty's operations role only
    in a session that names the person (``operator_trust``), with the duty's inline policy."""

    path: str
    tags: Mapping[str, str]
    opts: pulumi.ResourceOptions

    def make(
        self,
        name: str,
        *,
        role_name: str,
        trusted: pulumi.Input[str],
        description: str,
        max_session_s: int,
        statements: list[Statement],
    ) -> pulumi.Output[str]:
        role = aws.iam.Role(
            name,
            name=role_name,
            path=self.path,
            assume_role_policy=pulumi.Output.from_input(trusted).apply(operator_trust),
            description=description,
            max_session_duration=max_session_s,
            tags=dict(self.tags),
            opts=self.opts,
        )
        aws.iam.RolePolicy(f"{name}-access", role=role.id, policy=document(*statements), opts=self.opts)
        return role.arn


class AccountIdentity(pulumi.ComponentResource):
    operator_role_arn: pulumi.Output[str]
    data_operator_role_arn: pulumi.Output[str]
    admin_role_arn: pulumi.Output[str] | None  # None while the tenant names no admin principal

    def __init__(self, name: str, args: AccountIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:account:AccountIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        path = load_guardrails().iam_path
        tags = t.with_role(args.tags, "identity")
        duty = _DutyRole(path=path, tags=tags, opts=child)
        self.operator_role_arn = duty.make(
            f"{name}-operator",
            role_name=OPERATOR_ROLE_NAME,
            trusted=args.operations_role_arn,
            description=f"gpucloud operators configuring tenant {args.tenant}'s nodes",
            max_session_s=3600 * 4,
            statements=operator_statements(args.tenant),
        )
        self.data_operator_role_arn = duty.make(
            f"{name}-data-operator",
            role_name=DATA_OPERATOR_ROLE_NAME,
            trusted=args.data_operations_role_arn,
            description=f"gpucloud operators expiring and removing tenant {args.tenant}'s data when it leaves a region",
            max_session_s=3600,
            statements=data_operator_statements(),
        )
        self.admin_role_arn = None
        if args.admin_principals:
            boundary = aws.iam.Policy(
                f"{name}-admin-boundary",
                path=path,
                description=f"The most tenant {args.tenant}'s admins can ever do",
                policy=document(*boundary_statements(args.tenant)),
                tags=tags,
                opts=child,
            )
            admin = aws.iam.Role(
                f"{name}-admin",
                name=ADMIN_ROLE_NAME,
                path=path,
                assume_role_policy=pulumi.Output.from_input(args.organization_account_ids).apply(
                    lambda ids: _trust(outside_our_organization(args.admin_principals, ids))
                ),
                description=f"Administrators of tenant {args.tenant}",
                permissions_boundary=boundary.arn,
                max_session_duration=3600 * 4,
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-admin-access", role=admin.id, policy=document(*admin_statements(args.tenant)), opts=child
            )
            self.admin_role_arn = admin.arn
        self.register_outputs({"operator_role_arn": self.operator_role_arn, "admin_role_arn": self.admin_role_arn})
