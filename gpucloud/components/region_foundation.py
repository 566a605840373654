"""RegionFoundation: the shared base of one AWS region that every tenant stack there builds on.

Nothing of it is in the management account: the package mirror and the GPU capacity are in our capacity account,
through an explicit provider. Each tenant's audit record of the region lands in a bucket of its own in our
log-archive account, which the tenant stack makes (TenantAudit); the region passes on where that account is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from gpucloud.components.gpu_capacity import GpuCapacity, GpuCapacityArgs
from gpucloud.components.policy_documents import Statement
from gpucloud.components.secure_bucket import SecureBucket, SecureBucketArgs
from gpucloud.config import RegionConfig


@dataclass(frozen=True, kw_only=True)
class RegionFoundationArgs:
    config: RegionConfig
    organization_id: pulumi.Input[str]  # the package mirror is readable by principals of this organization
    capacity_provider: aws.Provider  # our capacity account: the mirror, the reservations and Capacity Blocks
    capacity_account_id: pulumi.Input[str]
    capacity_role_arn: pulumi.Input[str]  # what tenant stacks assume to carve and share
    # Passed on to the region's tenant stacks, which make each tenant's audit bucket there (TenantAudit):
    log_archive_account_id: pulumi.Input[str]
    log_archive_role_arn: pulumi.Input[str]
    audit_retention_days: pulumi.Input[int]  # the org's: audit records are locked (Object Lock) and kept this long
    tags: Mapping[str, str]


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
        in_capacity = pulumi.ResourceOptions(parent=self, providers=[args.capacity_provider])
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
            "mirrorKeyArn": mirror_key.arn,
            "mirrorBucket": mirror.bucket,
            "mirrorBucketArn": mirror.arn,
            "tenantSupernet": str(cfg.tenant_supernet),
            "tenantCidrPrefix": cfg.tenant_cidr_prefix,
            "capacity": pulumi.Output.all(**capacity),
            "capacityAccountId": args.capacity_account_id,
            "capacityRoleArn": args.capacity_role_arn,
            "logArchiveAccountId": args.log_archive_account_id,
            "logArchiveRoleArn": args.log_archive_role_arn,
            "auditRetentionDays": args.audit_retention_days,
            "amis": {sku: image.as_json() for sku, image in cfg.amis.items()},
        }
        self.register_outputs(self.exports)
