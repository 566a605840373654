"""TenantIdentity: the GPU nodes' role in the tenant's account, scoped to the tenant's bucket and key.

No AWS managed policy: ``AmazonSSMManagedInstanceCore`` also allows ``ssm:GetParameter(s)`` on every
parameter of the account. The node role gets only the SSM Agent's own calls (data/guardrails.yaml), plus
its bucket and key. It lives under the IAM path the organization's SCP protects. The tenant admin and our
operator role are account-wide (``gpucloud.components.account_identity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.policy_documents import Statement, assume_role, document
from gpucloud.organization.guardrails import load_guardrails


@dataclass(frozen=True, kw_only=True)
class TenantIdentityArgs:
    tenant: str
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    mirror_bucket_arn: pulumi.Input[str]  # our package mirror, read-only: installs need no internet
    mirror_key_arn: pulumi.Input[str]
    tags: Mapping[str, str]


def _data_statements(bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> list[pulumi.Output[Statement]]:
    """Read and write the tenant's bucket and use its key: nothing else."""
    bucket = pulumi.Output.from_input(bucket_arn)
    key = pulumi.Output.from_input(key_arn)
    return [
        bucket.apply(
            lambda arn: {
                "Sid": "TenantBucketList",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": arn,
            }
        ),
        bucket.apply(
            lambda arn: {
                "Sid": "TenantBucketObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": f"{arn}/*",
            }
        ),
        key.apply(
            lambda arn: {
                "Sid": "TenantKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": arn,
            }
        ),
    ]


def _mirror_statements(bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> list[pulumi.Output[Statement]]:
    """Read our package mirror (drivers, CUDA, wheels) and decrypt it through S3: nothing else of ours."""
    bucket = pulumi.Output.from_input(bucket_arn)
    return [
        bucket.apply(
            lambda arn: {
                "Sid": "PackageMirrorRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [arn, f"{arn}/*"],
            }
        ),
        pulumi.Output.from_input(key_arn).apply(
            lambda arn: {
                "Sid": "PackageMirrorDecrypt",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": arn,
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            }
        ),
    ]


def ssm_agent_statement() -> Statement:
    """The SSM Agent's own calls (register, open session channels, fetch commands): these take no resource."""
    return {
        "Sid": "SsmAgent",
        "Effect": "Allow",
        "Action": list(load_guardrails().ssm_agent_actions),
        "Resource": "*",
    }


class TenantIdentity(pulumi.ComponentResource):
    node_instance_profile: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]

    def __init__(self, name: str, args: TenantIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:TenantIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = t.with_role(args.tags, "identity")
        path = load_guardrails().iam_path
        node_role = aws.iam.Role(
            f"{name}-node",
            path=path,
            assume_role_policy=assume_role("ec2.amazonaws.com"),
            description=f"GPU nodes of tenant {args.tenant}",
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-node-access",
            role=node_role.id,
            policy=document(
                ssm_agent_statement(),
                *_data_statements(args.bucket_arn, args.kms_key_arn),
                *_mirror_statements(args.mirror_bucket_arn, args.mirror_key_arn),
            ),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-node", path=path, role=node_role.name, tags=tags, opts=child)
        self.node_instance_profile = profile.name
        self.node_role_arn = node_role.arn
        self.node_role_name = node_role.name
        self.register_outputs(
            {"node_instance_profile": self.node_instance_profile, "node_role_arn": self.node_role_arn}
        )
