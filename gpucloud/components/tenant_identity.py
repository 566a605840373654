"""TenantIdentity: the node role (scoped to the tenant's bucket and key) and the tenant admin role.

The admin role carries a permissions boundary: whatever policy is later attached to it, it can
never act on resources that do not carry the tenant's ``gpucloud:tenant`` tag (ABAC), nor touch IAM.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.policy_documents import Statement, assume_role, document

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
# What a tenant admin may do to the tenant's own (tagged) nodes: granted by the admin policy and allowed
# by its permissions boundary, from this one list so the two cannot drift apart.
NODE_OPERATIONS = ("ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances", "ssm:StartSession")


@dataclass(frozen=True, kw_only=True)
class TenantIdentityArgs:
    tenant: str
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    admin_principals: Sequence[str]
    tags: Mapping[str, str]


def _admin_trust(principals: Sequence[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}],
        },
        sort_keys=True,
    )


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


class TenantIdentity(pulumi.ComponentResource):
    node_instance_profile: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    admin_role_arn: pulumi.Output[str] | None  # None while the tenant names no admin principal

    def __init__(self, name: str, args: TenantIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:TenantIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = t.with_role(args.tags, "identity")
        data = _data_statements(args.bucket_arn, args.kms_key_arn)
        data_access = document(*data)

        node_role = aws.iam.Role(
            f"{name}-node",
            assume_role_policy=assume_role("ec2.amazonaws.com"),
            description=f"GPU nodes of tenant {args.tenant}",
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-node-data", role=node_role.id, policy=data_access, opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-node-ssm", role=node_role.name, policy_arn=SSM_CORE, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-node", role=node_role.name, tags=tags, opts=child)

        self.node_instance_profile = profile.name
        self.node_role_arn = node_role.arn
        self.admin_role_arn = None
        if args.admin_principals:
            self.admin_role_arn = self._admin_role(name, args, data, tags)
        self.register_outputs(
            {
                "node_instance_profile": self.node_instance_profile,
                "node_role_arn": self.node_role_arn,
                "admin_role_arn": self.admin_role_arn,
            }
        )

    def _admin_role(
        self,
        name: str,
        args: TenantIdentityArgs,
        data: list[pulumi.Output[Statement]],
        tags: Mapping[str, str],
    ) -> pulumi.Output[str]:
        """The role the tenant's own principals assume, never able to exceed its permissions boundary."""
        child = pulumi.ResourceOptions(parent=self)
        tenant_only = {"StringEquals": {f"aws:ResourceTag/{t.TENANT}": args.tenant}}
        boundary = aws.iam.Policy(
            f"{name}-admin-boundary",
            description=f"The most tenant {args.tenant}'s admins can ever do",
            policy=document(
                {
                    "Sid": "TenantTaggedInstances",
                    "Effect": "Allow",
                    "Action": list(NODE_OPERATIONS),
                    "Resource": "*",
                    "Condition": tenant_only,
                },
                {
                    "Sid": "ReadOnlyDescribe",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:Describe*",
                        "ssm:DescribeInstanceInformation",
                        "ssm:DescribeSessions",
                        "ssm:TerminateSession",
                        "ssm:ResumeSession",
                    ],
                    "Resource": "*",
                },
                *data,
                {
                    "Sid": "NeverIam",
                    "Effect": "Deny",
                    "Action": ["iam:*", "organizations:*", "account:*"],
                    "Resource": "*",
                },
            ),
            tags=tags,
            opts=child,
        )
        admin = aws.iam.Role(
            f"{name}-admin",
            assume_role_policy=_admin_trust(args.admin_principals),
            description=f"Administrators of tenant {args.tenant}",
            permissions_boundary=boundary.arn,
            max_session_duration=3600 * 4,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-admin-access",
            role=admin.id,
            policy=document(
                {
                    "Sid": "OperateTenantNodes",
                    "Effect": "Allow",
                    "Action": list(NODE_OPERATIONS),
                    "Resource": "*",
                    "Condition": tenant_only,
                },
                {
                    "Sid": "SeeTheFleet",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:DescribeInstances",
                        "ec2:DescribeInstanceStatus",
                        "ssm:DescribeInstanceInformation",
                        "ssm:DescribeSessions",
                        "ssm:TerminateSession",
                        "ssm:ResumeSession",
                    ],
                    "Resource": "*",
                },
                *data,
            ),
            opts=child,
        )
        return admin.arn
