"""What a tenant VPC reaches without a NAT gateway: interface endpoints, the S3 gateway endpoint's policy, DNS.

Facts (service names, DNS Firewall values) come from ``data/egress.yaml`` with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from gpucloud.datafiles import load_data_file, require


@dataclass(frozen=True, kw_only=True)
class EgressFacts:
    always: tuple[str, ...]
    without_nat: tuple[str, ...]
    cluster_without_nat: tuple[str, ...]
    dns_allowed_domains: tuple[str, ...]
    dns_blocked_domains: tuple[str, ...]
    dns_association_priority: int
    dns_fail_open: str

    def interface_endpoints(self, egress: str, *, cluster: bool = False) -> tuple[str, ...]:
        """The interface endpoints a VPC with this egress mode (and a Slurm cluster, or not) gets."""
        if egress != "none":
            return self.always
        return self.always + self.without_nat + (self.cluster_without_nat if cluster else ())


@cache
def load_egress() -> EgressFacts:
    where = "gpucloud/data/egress.yaml"
    doc = load_data_file("egress.yaml")
    return EgressFacts(
        always=tuple(require(doc, "always", list, where)),
        without_nat=tuple(require(doc, "without_nat", list, where)),
        cluster_without_nat=tuple(require(doc, "cluster_without_nat", list, where)),
        dns_allowed_domains=tuple(require(doc, "dns_allowed_domains", list, where)),
        dns_blocked_domains=tuple(require(doc, "dns_blocked_domains", list, where)),
        dns_association_priority=require(doc, "dns_association_priority", int, where),
        dns_fail_open=require(doc, "dns_fail_open", str, where),
    )


def s3_endpoint_policy(tenant_account: str, mirror_bucket_arn: str) -> dict[str, Any]:
    """The S3 gateway endpoint's policy: the tenant's own account's buckets, and our package mirror read-only.

    Without it the endpoint admits every bucket in the region, an attacker's included: a node could copy the
    tenant's data anywhere. ``aws:ResourceAccount`` names the account that owns the bucket (IAM User Guide,
    "AWS global condition context keys").
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantAccountBuckets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceAccount": tenant_account}},
            },
            {
                "Sid": "PackageMirrorReadOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [mirror_bucket_arn, f"{mirror_bucket_arn}/*"],
            },
        ],
    }
