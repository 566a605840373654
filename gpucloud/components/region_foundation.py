"""RegionFoundation: the shared base of one AWS region that every tenant stack there builds on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

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
    tags: Mapping[str, str]


def _flow_log_delivery(bucket_arn: pulumi.Output[str]) -> list[pulumi.Input[Statement]]:
    """Let VPC Flow Logs write into the audit bucket (AWS's documented delivery policy)."""
    return [
        bucket_arn.apply(
            lambda arn: {
                "Sid": "FlowLogDeliveryWrite",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY},
                "Action": "s3:PutObject",
                "Resource": f"{arn}/AWSLogs/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            }
        ),
        bucket_arn.apply(
            lambda arn: {
                "Sid": "FlowLogDeliveryAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY},
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": arn,
            }
        ),
    ]


class RegionFoundation(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegionFoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:region:RegionFoundation", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        log_delivery_uses_key: Statement = {
            "Sid": "FlowLogDeliveryEncrypts",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
        }
        key = EncryptionKey(
            f"{name}-provider",
            EncryptionKeyArgs(
                description=f"gpucloud provider key for {cfg.region} (audit logs, package mirror)",
                alias=f"gpucloud/{cfg.region}/provider",
                tags=t.with_role(args.tags, "security"),
                extra_statements=(log_delivery_uses_key,),
            ),
            opts=child,
        )
        audit = SecureBucket(
            f"{name}-audit",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "audit"),
                extra_statements=_flow_log_delivery,
                object_expiry_days=AUDIT_RETENTION_DAYS,
            ),
            opts=child,
        )
        mirror = SecureBucket(
            f"{name}-mirror",
            SecureBucketArgs(
                kms_key_arn=key.arn,
                tags=t.with_role(args.tags, "package-mirror"),
            ),
            opts=child,
        )
        capacity: dict[str, pulumi.Output[dict[str, object]]] = {}
        for entry in cfg.capacity:
            suffix = f"{entry.gpu_type.replace('.', '-')}-{entry.az_id}"
            block = GpuCapacity(
                f"{name}-{suffix}",
                GpuCapacityArgs(
                    entry=entry,
                    tags=t.with_role(args.tags, "gpu-capacity", **{t.GPU_TYPE: entry.gpu_type}),
                ),
                opts=child,
            )
            capacity[entry.key] = block.export(entry)

        self.exports: dict[str, pulumi.Input[object]] = {
            "region": cfg.region,
            "providerKeyArn": key.arn,
            "auditBucket": audit.bucket,
            "auditBucketArn": audit.arn,
            "mirrorBucket": mirror.bucket,
            "mirrorBucketArn": mirror.arn,
            "tenantSupernet": str(cfg.tenant_supernet),
            "tenantCidrPrefix": cfg.tenant_cidr_prefix,
            "capacity": pulumi.Output.all(**capacity),
            "amis": dict(cfg.amis),
        }
        self.register_outputs(self.exports)
