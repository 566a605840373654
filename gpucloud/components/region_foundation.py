"""RegionFoundation: the shared base of one AWS region that every tenant stack there builds on."""

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

LOG_DELIVERY = "delivery.logs.amazonaws.com"
AUDIT_RETENTION_DAYS = 400  # a little over a year of flow logs, for incident look-backs


@dataclass(frozen=True, kw_only=True)
class RegionFoundationArgs:
    config: RegionConfig
    organization_id: pulumi.Input[str]  # tenant accounts' flow logs are admitted from this organization only
    tags: Mapping[str, str]


def log_delivery_condition(organization_id: str) -> dict[str, dict[str, str]]:
    """Flow logs come from every tenant account of our organization, each its own account: the delivery
    service is admitted only for requests made on behalf of an account of this organization
    (``aws:SourceOrgID``, the cross-account form of AWS's ``aws:SourceAccount`` confused-deputy guard;
    IAM User Guide, "AWS global condition context keys", recorded 2026-11-27)."""
    return {"StringEquals": {"aws:SourceOrgID": organization_id}}


def _flow_log_delivery(bucket_arn: pulumi.Output[str], org_id: pulumi.Input[str]) -> list[pulumi.Input[Statement]]:
    """Let VPC Flow Logs write into the audit bucket (AWS's documented delivery policy, with a source guard)."""
    return [
        pulumi.Output.all(bucket_arn, org_id).apply(
            lambda v: {
                "Sid": "FlowLogDeliveryWrite",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY},
                "Action": "s3:PutObject",
                "Resource": f"{v[0]}/AWSLogs/*",
                "Condition": {
                    "StringEquals": {
                        "s3:x-amz-acl": "bucket-owner-full-control",
                        **log_delivery_condition(v[1])["StringEquals"],
                    }
                },
            }
        ),
        pulumi.Output.all(bucket_arn, org_id).apply(
            lambda v: {
                "Sid": "FlowLogDeliveryAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY},
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": v[0],
                "Condition": log_delivery_condition(v[1]),
            }
        ),
    ]


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
        child = pulumi.ResourceOptions(parent=self)
        log_delivery_uses_key = pulumi.Output.from_input(args.organization_id).apply(
            lambda org_id: {
                "Sid": "FlowLogDeliveryEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": log_delivery_condition(org_id),
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
                extra_statements=(log_delivery_uses_key,),
            ),
            opts=child,
        )
        mirror_key = EncryptionKey(
            f"{name}-mirror",
            EncryptionKeyArgs(
                description=f"gpucloud package-mirror key for {cfg.region}",
                alias=f"gpucloud/{cfg.region}/mirror",
                tags=t.with_role(args.tags, "package-mirror"),
                extra_statements=(org_decrypts_mirror,),
            ),
            opts=child,
        )
        audit = SecureBucket(
            f"{name}-audit",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "audit"),
                extra_statements=lambda arn: _flow_log_delivery(arn, args.organization_id),
                object_expiry_days=AUDIT_RETENTION_DAYS,
            ),
            opts=child,
        )
        mirror = SecureBucket(
            f"{name}-mirror",
            SecureBucketArgs(
                kms_key_arn=mirror_key.arn,
                tags=t.with_role(args.tags, "package-mirror"),
                extra_statements=lambda arn: [_organization_reads(arn, args.organization_id)],
            ),
            opts=child,
        )
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
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
                opts=child,
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
            "amis": {sku: image.as_json() for sku, image in cfg.amis.items()},
        }
        self.register_outputs(self.exports)
