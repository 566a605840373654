"""RegionFoundation: the shared base of one AWS region that every tenant stack there builds on.

Nothing of it is in the management account: the audit (flow-log) bucket and its key are in our log-archive
account, the package mirror and the GPU capacity in our capacity account, each through an explicit provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from gpucloud.components.gpu_capacity import GpuCapacity, GpuCapacityArgs
from gpucloud.components.policy_documents import Statement
from gpucloud.components.secure_bucket import SecureBucket, SecureBucketArgs
from gpucloud.config import RegionConfig
from gpucloud.organization.landing_zone import load_landing_zone

LOG_DELIVERY = "delivery.logs.amazonaws.com"
CONFIG = "config.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class RegionFoundationArgs:
    config: RegionConfig
    organization_id: pulumi.Input[str]  # the package mirror is readable by principals of this organization
    log_accounts: Mapping[str, pulumi.Input[str]]  # tenant -> its account id: each may deliver its own flow logs
    log_archive_provider: aws.Provider  # our log-archive account: the audit bucket and its key
    capacity_provider: aws.Provider  # our capacity account: the mirror, the reservations and Capacity Blocks
    capacity_account_id: pulumi.Input[str]
    capacity_role_arn: pulumi.Input[str]  # what tenant stacks assume to carve and share
    audit_retention_days: pulumi.Input[int]  # the org's: flow logs are locked (Object Lock) and kept this long
    tags: Mapping[str, str]


def delivery_sources(region: str, accounts: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """The confused-deputy guard of AWS's flow-log bucket policy (VPC User Guide, "Amazon S3 bucket permissions for
    flow logs", https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-permissions.html , recorded
    2026-12-07): the delivery service acts for these accounts only (``aws:SourceAccount``), for their log
    deliveries in this region (``aws:SourceArn`` ``arn:aws:logs:<region>:<account>:*``)."""
    return {
        "StringEquals": {"aws:SourceAccount": list(accounts)},
        "ArnLike": {"aws:SourceArn": [f"arn:aws:logs:{region}:{account}:*" for account in accounts]},
    }


def flow_log_delivery_statements(bucket_arn: str, region: str, accounts: Sequence[str]) -> list[Statement]:
    """VPC Flow Logs' and AWS Config's delivery into the audit bucket, for the region's tenant accounts alone, each
    under its own prefix: ``AWSLogs/<account>/`` (a flow log's default prefix) and ``AWSLogs/<account>/Config/``.

    One write statement per service lists every account's prefix and every account as a source. A statement per
    account (AWS's example is for one account) reached S3's 20 KB bucket-policy limit at about 22 tenants in a
    region (bench/region_plan_tenants.py); the lists reach it at about 60 (rule bucket-policy-size stops the plan
    first; more needs a bucket per group of tenants). In list form an account could write under another listed
    account's prefix only through a flow-log destination folder or a delivery-channel prefix of its choosing, and
    the tenant-protect SCP lets no tenant create a flow log or change a delivery channel (ProtectFlowLogs,
    ProtectConfigRecording). None at all while the region has no tenant."""
    if not accounts:
        return []
    sources = delivery_sources(region, accounts)
    acl = {"s3:x-amz-acl": "bucket-owner-full-control"}
    return [
        {
            "Sid": "FlowLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": "s3:PutObject",
            "Resource": [f"{bucket_arn}/AWSLogs/{account}/*" for account in accounts],
            "Condition": {**sources, "StringEquals": {**sources["StringEquals"], **acl}},
        },
        {
            "Sid": "FlowLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
            "Resource": bucket_arn,
            "Condition": sources,
        },
        *config_delivery_statements(bucket_arn, accounts),
    ]


def config_delivery_statements(bucket_arn: str, accounts: Sequence[str]) -> list[Statement]:
    """AWS Config's delivery of each tenant account's configuration history into the audit bucket, as its service
    principal (the service-linked role cannot write to a bucket): AWS Config Developer Guide, "Permissions for the
    Amazon S3 Bucket for the AWS Config Delivery Channel" (AWSConfigBucketPermissionsCheck, ...ExistenceCheck,
    ...Delivery), https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-policy.html , recorded
    2026-12-07. Each account under its own ``AWSLogs/<account>/Config/`` prefix."""
    source = {"aws:SourceAccount": list(accounts)}
    return [
        {
            "Sid": "ConfigDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": CONFIG},
            "Action": "s3:PutObject",
            "Resource": [f"{bucket_arn}/AWSLogs/{account}/Config/*" for account in accounts],
            "Condition": {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}},
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


def _accounts(log_accounts: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    """The tenants' account ids, sorted (a stable policy document), once known."""
    return pulumi.Output.all(*log_accounts.values()).apply(lambda ids: sorted({str(i) for i in ids}))


def _flow_log_delivery(
    bucket_arn: pulumi.Output[str], region: str, log_accounts: Mapping[str, pulumi.Input[str]]
) -> list[pulumi.Input[Statement]]:
    """Let VPC Flow Logs write into the audit bucket for each tenant account of the region (AWS's policy)."""
    if not log_accounts:
        return []
    statements = pulumi.Output.all(bucket_arn, _accounts(log_accounts)).apply(
        lambda v: flow_log_delivery_statements(v[0], region, v[1])
    )
    return [statements[i] for i in range(4)]  # per service, the writes and the bucket check


def _organization_reads(bucket_arn: pulumi.Output[str], org_id: pulumi.Input[str]) -> pulumi.Output[Statement]:
    """Read-only access to the package mirror for principals of our organization (the tenants' nodes)."""
    return pulumi.Output.all(bucket_arn, org_id).apply(
        lambda v: {
            "Sid": "OrganizationReadsMirror",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [v[0], f"{v[0]}/*"],
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": v[1]}},
        }
    )


class RegionFoundation(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegionFoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:region:RegionFoundation", name, None, opts)
        cfg = args.config
        in_log_archive = pulumi.ResourceOptions(parent=self, providers=[args.log_archive_provider])
        in_capacity = pulumi.ResourceOptions(parent=self, providers=[args.capacity_provider])
        # The delivery service encrypts flow logs with the audit key for the region's tenant accounts only.
        log_delivery_uses_key = _accounts(args.log_accounts).apply(
            lambda accounts: {
                "Sid": "FlowLogDeliveryEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": delivery_sources(cfg.region, accounts),
            }
        )
        # ... and AWS Config its configuration history (AWS Config Developer Guide, "Permissions for the KMS Key",
        # recorded 2026-12-07), for the same accounts.
        config_uses_key = _accounts(args.log_accounts).apply(
            lambda accounts: {
                "Sid": "ConfigDeliveryEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": CONFIG},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": accounts}},
            }
        )
        # Tenant nodes (in the tenants' accounts) read the package mirror through S3: admitted for principals of
        # our organization only (aws:PrincipalOrgID), and the key only decrypts through S3.
        org_decrypts_mirror = pulumi.Output.from_input(args.organization_id).apply(
            lambda org_id: {
                "Sid": "OrganizationReadsMirrorThroughS3",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": org_id},
                    "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"},
                },
            }
        )
        # Two keys, one duty each (issue 21): the audit key encrypts flow logs and admits no organization-wide
        # decrypt; the mirror key is the one tenant nodes may decrypt with, through S3. (One key served both, so
        # any principal of the organization could decrypt audit objects through S3, given read access to them.)
        # The audit key keeps the resource name and alias the single key had: its objects stay readable.
        key = EncryptionKey(
            f"{name}-provider",
            EncryptionKeyArgs(
                description=f"gpucloud audit key for {cfg.region} (flow logs)",
                alias=f"gpucloud/{cfg.region}/provider",
                tags=t.with_role(args.tags, "security"),
                extra_statements=(log_delivery_uses_key, config_uses_key) if args.log_accounts else (),
            ),
            opts=in_log_archive,
        )
        mirror_key = EncryptionKey(
            f"{name}-mirror",
            EncryptionKeyArgs(
                description=f"gpucloud package-mirror key for {cfg.region}",
                alias=f"gpucloud/{cfg.region}/mirror",
                tags=t.with_role(args.tags, "package-mirror"),
                extra_statements=(org_decrypts_mirror,),
            ),
            opts=in_capacity,
        )
        audit = SecureBucket(
            f"{name}-audit",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "audit"),
                extra_statements=lambda arn: _flow_log_delivery(arn, cfg.region, args.log_accounts),
                object_expiry_days=args.audit_retention_days,
                object_lock=(load_landing_zone().object_lock_mode, args.audit_retention_days),
            ),
            opts=in_log_archive,
        )
        mirror = SecureBucket(
            f"{name}-mirror",
            SecureBucketArgs(
                kms_key_arn=mirror_key.arn,
                tags=t.with_role(args.tags, "package-mirror"),
                extra_statements=lambda arn: [_organization_reads(arn, args.organization_id)],
            ),
            opts=in_capacity,
        )
        account = args.capacity_account_id
        capacity: dict[str, pulumi.Output[dict[str, object]]] = {}
        for entry in cfg.capacity:
            suffix = f"{entry.gpu_type.replace('.', '-')}-{entry.az_id}"
            block = GpuCapacity(
                f"{name}-{suffix}",
                GpuCapacityArgs(
                    entry=entry,
                    account_id=account,
                    region=cfg.region,
                    tags=t.with_role(args.tags, "gpu-capacity", **{t.GPU_TYPE: entry.gpu_type}),
                ),
                opts=in_capacity,
            )
            capacity[entry.key] = block.export(entry)

        self.exports: dict[str, pulumi.Input[object]] = {
            "region": cfg.region,
            "auditKeyArn": key.arn,
            "mirrorKeyArn": mirror_key.arn,
            "auditBucket": audit.bucket,
            "auditBucketArn": audit.arn,
            "mirrorBucket": mirror.bucket,
            "mirrorBucketArn": mirror.arn,
            "tenantSupernet": str(cfg.tenant_supernet),
            "tenantCidrPrefix": cfg.tenant_cidr_prefix,
            "capacity": pulumi.Output.all(**capacity),
            "capacityAccountId": args.capacity_account_id,
            "capacityRoleArn": args.capacity_role_arn,
            "amis": {sku: image.as_json() for sku, image in cfg.amis.items()},
        }
        self.register_outputs(self.exports)
