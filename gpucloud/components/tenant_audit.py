"""TenantAudit: where one tenant account's audit record of one region lands: a bucket and a key of its own, in our
log-archive account. Built by the tenant stack, through a log-archive provider.

VPC Flow Logs and AWS Config deliver the tenant account's records into it, as their service principals, admitted
for that one account alone in AWS's documented form (``AWSLogs/<account>/*``, ``aws:SourceAccount``,
``aws:SourceArn``). A bucket per tenant and region, rather than one per region listing every tenant: one region's
shared bucket policy reached S3's 20 KB at about 22 tenants with a statement per account, and a list form could
not bind each account to its own prefix (issue 21). Its name starts with the landing zone's audit prefix, so the
organization trail records who reads or writes it. Every object version is locked (Object Lock, COMPLIANCE) for
the organization's ``auditRetentionDays``, and bucket and key outlive the tenant stack (retained on destroy): an
offboarded tenant's record stays as long as any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from gpucloud import tags as t
from gpucloud.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from gpucloud.components.policy_documents import Statement
from gpucloud.components.secure_bucket import SecureBucket, SecureBucketArgs
from gpucloud.organization.landing_zone import load_landing_zone

LOG_DELIVERY = "delivery.logs.amazonaws.com"
CONFIG = "config.amazonaws.com"
ACL = {"s3:x-amz-acl": "bucket-owner-full-control"}


@dataclass(frozen=True, kw_only=True)
class TenantAuditArgs:
    region: str
    account_id: pulumi.Input[str]  # the tenant's account: the one source the bucket and key admit
    retention_days: pulumi.Input[int]  # the org's auditRetentionDays
    tags: Mapping[str, str]


def delivery_sources(region: str, account: str) -> dict[str, dict[str, str]]:
    """The confused-deputy guard of AWS's flow-log bucket policy (VPC User Guide, "Amazon S3 bucket permissions for
    flow logs", https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-permissions.html , recorded
    2026-12-07): the delivery service acts for this account only (``aws:SourceAccount``), for its log deliveries
    in this region (``aws:SourceArn`` ``arn:aws:logs:<region>:<account>:*``)."""
    return {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account}:*"},
    }


def flow_log_delivery_statements(bucket_arn: str, region: str, account: str) -> list[Statement]:
    """VPC Flow Logs' delivery into the bucket under ``AWSLogs/<account>/`` (a flow log's default prefix), as AWS
    documents it for one account, then AWS Config's (``config_delivery_statements``)."""
    sources = delivery_sources(region, account)
    return [
        {
            "Sid": "FlowLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account}/*",
            "Condition": {**sources, "StringEquals": {**sources["StringEquals"], **ACL}},
        },
        {
            "Sid": "FlowLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
            "Resource": bucket_arn,
            "Condition": sources,
        },
        *config_delivery_statements(bucket_arn, account),
    ]


def config_delivery_statements(bucket_arn: str, account: str) -> list[Statement]:
    """AWS Config's delivery of the account's configuration history, as its service principal (the service-linked
    role cannot write to a bucket): AWS Config Developer Guide, "Permissions for the Amazon S3 Bucket for the AWS
    Config Delivery Channel" (AWSConfigBucketPermissionsCheck, ...ExistenceCheck, ...Delivery),
    https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-policy.html , recorded 2026-12-07."""
    source = {"aws:SourceAccount": account}
    return [
        {
            "Sid": "ConfigDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": CONFIG},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account}/Config/*",
            "Condition": {"StringEquals": {**source, **ACL}},
        },
        {
            "Sid": "ConfigDeliveryBucketCheck",
            "Effect": "Allow",
            "Principal": {"Service": CONFIG},
            "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
            "Resource": bucket_arn,
            "Condition": {"StringEquals": source},
        },
    ]


def key_statements(region: str, account: str) -> list[Statement]:
    """The delivery services encrypt with the key for this account only: flow logs (VPC User Guide, "Amazon S3
    bucket permissions for flow logs", SSE-KMS) and AWS Config (Developer Guide, "Permissions for the KMS Key",
    recorded 2026-12-07). Nobody else but the log-archive account's own IAM uses it: no organization-wide decrypt."""
    return [
        {
            "Sid": "FlowLogDeliveryEncrypts",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": delivery_sources(region, account),
        },
        {
            "Sid": "ConfigDeliveryEncrypts",
            "Effect": "Allow",
            "Principal": {"Service": CONFIG},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        },
    ]


class TenantAudit(pulumi.ComponentResource):
    bucket: pulumi.Output[str]  # its name (AWS Config's delivery channel takes the name)
    bucket_arn: pulumi.Output[str]  # a flow log's destination
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TenantAuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:TenantAudit", name, None, opts)
        zone = load_landing_zone()
        child = pulumi.ResourceOptions(parent=self)
        account = pulumi.Output.from_input(args.account_id)
        grants = account.apply(lambda acct: key_statements(args.region, acct))
        key = EncryptionKey(
            f"{name}-key",
            EncryptionKeyArgs(
                description=f"gpucloud audit record of a tenant account in {args.region} (flow logs, AWS Config)",
                alias=f"gpucloud/audit/{name}",
                tags=t.with_role(args.tags, "security"),
                extra_statements=(grants[0], grants[1]),
            ),
            opts=child,
        )
        bucket = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "audit"),
                extra_statements=lambda arn: _delivery(arn, args.region, account),
                object_expiry_days=args.retention_days,
                object_lock=(zone.object_lock_mode, args.retention_days),
                name_prefix=zone.audit_bucket_prefix_for(args.region),
            ),
            opts=child,
        )
        # A flow log or a delivery channel that names the bucket waits for its policy: AWS checks, when either is
        # created, that the service may write there.
        admitted = bucket.policy.id
        self.bucket = pulumi.Output.all(bucket.bucket, admitted).apply(lambda v: str(v[0]))
        self.bucket_arn = pulumi.Output.all(bucket.arn, admitted).apply(lambda v: str(v[0]))
        self.key_arn = key.arn
        self.register_outputs({"bucket": self.bucket, "bucket_arn": self.bucket_arn, "key_arn": self.key_arn})


def _delivery(
    bucket_arn: pulumi.Output[str], region: str, account: pulumi.Output[str]
) -> list[pulumi.Input[Statement]]:
    statements = pulumi.Output.all(bucket_arn, account).apply(
        lambda v: flow_log_delivery_statements(v[0], region, v[1])
    )
    return [statements[i] for i in range(4)]  # per service, the write and the bucket check
