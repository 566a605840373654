"""OrganizationFoundation: the tenant OU, its guardrails (SCPs), centralized root access, and the organization's
audit trail.

Runs in our management account. The organization trail writes every member account's API calls into an
audit bucket of ours, encrypted with our key; the bucket and key policies admit CloudTrail only for this
very trail (``aws:SourceArn``), as AWS's CloudTrail bucket-policy guidance shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from gpucloud.components.policy_documents import Statement
from gpucloud.components.region_foundation import AUDIT_RETENTION_DAYS
from gpucloud.components.secure_bucket import SecureBucket, SecureBucketArgs
from gpucloud.config import OrgConfig
from gpucloud.organization.guardrails import (
    OU_GUARDRAILS,
    QUARANTINE_NAME,
    load_guardrails,
    minified,
    quarantine_policy,
    service_control_policies,
)

CLOUDTRAIL = "cloudtrail.amazonaws.com"
TRAIL_NAME = "gpucloud-organization"


@dataclass(frozen=True, kw_only=True)
class OrganizationFoundationArgs:
    config: OrgConfig
    tags: Mapping[str, str]


def trail_arn(region: str, account: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{TRAIL_NAME}"


def _trail_bucket_statements(
    bucket_arn: pulumi.Output[str], account: pulumi.Output[str], cfg: OrgConfig
) -> list[pulumi.Input[Statement]]:
    """CloudTrail's documented bucket policy for an organization trail, bound to this trail by aws:SourceArn."""
    return [
        pulumi.Output.all(bucket_arn, account).apply(
            lambda v: {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "s3:GetBucketAcl",
                "Resource": v[0],
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn(cfg.region, v[1])}},
            }
        ),
        pulumi.Output.all(bucket_arn, account).apply(
            lambda v: {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "s3:PutObject",
                "Resource": [f"{v[0]}/AWSLogs/{v[1]}/*", f"{v[0]}/AWSLogs/{cfg.organization_id}/*"],
                "Condition": {
                    "StringEquals": {
                        "s3:x-amz-acl": "bucket-owner-full-control",
                        "aws:SourceArn": trail_arn(cfg.region, v[1]),
                    }
                },
            }
        ),
    ]


class OrganizationFoundation(pulumi.ComponentResource):
    def __init__(self, name: str, args: OrganizationFoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:org:OrganizationFoundation", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        # CloudTrail's documented key policy (CloudTrail User Guide, "Configure AWS KMS key policies for
        # CloudTrail", recorded 2026-11-27): encrypt for this trail only; DescribeKey takes no encryption context.
        trail_uses_key = account.apply(
            lambda acct: {
                "Sid": "CloudTrailEncryptsThisTrail",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn(cfg.region, acct)},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{acct}:trail/*"},
                },
            }
        )
        trail_describes_key = account.apply(
            lambda acct: {
                "Sid": "CloudTrailDescribesKey",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn(cfg.region, acct)}},
            }
        )
        key = EncryptionKey(
            f"{name}-audit",
            EncryptionKeyArgs(
                description="gpucloud organization audit trail",
                alias="gpucloud/organization/audit",
                tags=t.with_role(args.tags, "security"),
                extra_statements=(trail_uses_key, trail_describes_key),
            ),
            opts=child,
        )
        audit = SecureBucket(
            f"{name}-audit",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "audit"),
                extra_statements=lambda arn: _trail_bucket_statements(arn, account, cfg),
                object_expiry_days=AUDIT_RETENTION_DAYS,
            ),
            opts=child,
        )
        ou = aws.organizations.OrganizationalUnit(
            f"{name}-tenants", name="gpucloud-tenants", parent_id=cfg.root_id, tags=dict(args.tags), opts=child
        )
        # A leaving tenant's account waits here (moved, or the quarantine SCP attached to it directly when adopted)
        # until it is closed or leaves the organization: the guardrails, and the quarantine SCP that stops all but
        # our stacks.
        quarantine = aws.organizations.OrganizationalUnit(
            f"{name}-quarantine", name="gpucloud-quarantine", parent_id=cfg.root_id, tags=dict(args.tags), opts=child
        )
        policy_ids: dict[str, pulumi.Output[str]] = {}
        for policy_name, doc in service_control_policies(cfg.served_regions).items():
            scp = aws.organizations.Policy(
                f"{name}-{policy_name}",
                name=f"gpucloud-{policy_name}",
                description=f"gpucloud guardrails on tenant accounts: {policy_name}",
                type="SERVICE_CONTROL_POLICY",
                content=minified(doc),
                tags=dict(args.tags),
                opts=child,
            )
            policy_ids[policy_name] = scp.id
            if policy_name not in OU_GUARDRAILS:
                continue  # tenant-protect: each account stack attaches it, once our deployer role is there
            aws.organizations.PolicyAttachment(
                f"{name}-{policy_name}-on-tenants", policy_id=scp.id, target_id=ou.id, opts=child
            )
            aws.organizations.PolicyAttachment(
                f"{name}-{policy_name}-on-quarantine", policy_id=scp.id, target_id=quarantine.id, opts=child
            )
        shut = aws.organizations.Policy(
            f"{name}-{QUARANTINE_NAME}",
            name=f"gpucloud-{QUARANTINE_NAME}",
            description="gpucloud quarantine: nothing but our stacks acts in a leaving tenant's account",
            type="SERVICE_CONTROL_POLICY",
            content=minified(quarantine_policy()),
            tags=dict(args.tags),
            opts=child,
        )
        aws.organizations.PolicyAttachment(
            f"{name}-{QUARANTINE_NAME}-on-quarantine", policy_id=shut.id, target_id=quarantine.id, opts=child
        )
        self._shut_root_users(name)
        aws.cloudtrail.Trail(
            f"{name}-trail",
            name=TRAIL_NAME,
            s3_bucket_name=audit.bucket,
            kms_key_id=key.arn,
            is_organization_trail=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            tags=dict(args.tags),
            # CloudTrail checks the bucket policy when the trail is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[audit]),
        )
        self.exports: dict[str, pulumi.Input[object]] = {
            "organizationId": cfg.organization_id,
            "tenantOuId": ou.id,
            "accessRoleName": cfg.access_role_name,
            "operationsRoleArn": cfg.operations_role_arn,
            "servedRegions": list(cfg.served_regions),
            "guardrailPolicyIds": pulumi.Output.all(**policy_ids),
            "quarantineOuId": quarantine.id,
            "quarantinePolicyId": shut.id,
            "auditBucketArn": audit.arn,
        }
        self.register_outputs(self.exports)

    def _shut_root_users(self, name: str) -> None:
        """Centralized root access (IAM User Guide, "Centrally manage root access for member accounts"): member
        accounts' root credentials are managed from here (none exist for accounts we create; an adopted account's
        can be deleted centrally), and the privileged root sessions that remain are ours (sts:AssumeRoot). The
        tenant-baseline SCP denies every other root action. Needs IAM's trusted access in the organization."""
        facts = load_guardrails()
        iam_access = aws.organizations.AwsServiceAccess(
            f"{name}-iam-trusted-access",
            service_principal=facts.iam_service_principal,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.OrganizationsFeatures(
            f"{name}-root-access",
            enabled_features=list(facts.root_access_features),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[iam_access]),
        )
