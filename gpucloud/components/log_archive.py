"""LogArchive: the organization trail's bucket and key, in our log-archive account.

CloudTrail's documented bucket and key policies for an organization trail, bound to that one trail by
``aws:SourceArn`` (the trail is the management account's, whichever account created it). The bucket locks every
object version (S3 Object Lock, COMPLIANCE, for the org config's ``auditRetentionDays``): nobody, the log-archive
account's root user included, deletes or rewrites the record of what any account did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from gpucloud import tags as t
from gpucloud.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from gpucloud.components.policy_documents import Statement
from gpucloud.components.secure_bucket import SecureBucket, SecureBucketArgs
from gpucloud.config import OrgConfig
from gpucloud.organization.landing_zone import load_landing_zone

CLOUDTRAIL = "cloudtrail.amazonaws.com"
TRAIL_NAME = "gpucloud-organization"


def trail_arn(region: str, account: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{TRAIL_NAME}"


@dataclass(frozen=True, kw_only=True)
class LogArchiveArgs:
    config: OrgConfig
    management_account_id: pulumi.Input[str]  # owns the organization trail (its ARN names this account)
    tags: Mapping[str, str]


def trail_bucket_statements(bucket_arn: str, account: str, cfg: OrgConfig) -> list[Statement]:
    """CloudTrail's documented bucket policy for an organization trail, bound to this trail by aws:SourceArn."""
    trail = trail_arn(cfg.region, account)
    return [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject",
            "Resource": [f"{bucket_arn}/AWSLogs/{account}/*", f"{bucket_arn}/AWSLogs/{cfg.organization_id}/*"],
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail}},
        },
    ]


def trail_key_statements(account: str, cfg: OrgConfig) -> list[Statement]:
    """CloudTrail's documented key policy (CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail",
    recorded 2026-11-27): encrypt for this trail only; DescribeKey takes no encryption context."""
    trail = trail_arn(cfg.region, account)
    return [
        {
            "Sid": "CloudTrailEncryptsThisTrail",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"},
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
    ]


class LogArchive(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LogArchiveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:org:LogArchive", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        management = pulumi.Output.from_input(args.management_account_id)
        key_statements = management.apply(lambda acct: trail_key_statements(acct, cfg))
        key = EncryptionKey(
            f"{name}-trail",
            EncryptionKeyArgs(
                description="gpucloud organization audit trail",
                alias="gpucloud/organization/audit",
                tags=t.with_role(args.tags, "security"),
                extra_statements=(key_statements[0], key_statements[1]),
            ),
            opts=child,
        )
        bucket = SecureBucket(
            f"{name}-trail",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "audit"),
                extra_statements=lambda arn: _bound(arn, management, cfg),
                object_expiry_days=cfg.audit_retention_days,
                object_lock=(load_landing_zone().object_lock_mode, cfg.audit_retention_days),
                # Under the audit prefix, whose objects' reads and writes the organization trail records.
                name_prefix=load_landing_zone().audit_bucket_prefix_for("trail"),
            ),
            opts=child,
        )
        self.bucket, self.bucket_arn, self.key_arn = bucket.bucket, bucket.arn, key.arn
        self.register_outputs({"bucket": self.bucket, "bucket_arn": self.bucket_arn, "key_arn": self.key_arn})


def _bound(
    bucket_arn: pulumi.Output[str], account: pulumi.Output[str], cfg: OrgConfig
) -> list[pulumi.Input[Statement]]:
    statements = pulumi.Output.all(bucket_arn, account).apply(lambda v: trail_bucket_statements(v[0], v[1], cfg))
    return [statements[0], statements[1]]
