"""ClusterHead: a tenant's Slurm head node (slurmctld and the login node) and the cluster's MUNGE key.

The head node is a CPU instance (catalog ``head_node_types``) in the tenant's private subnet, in the nodes'
security group (slurmctld, slurmd and srun talk on ports Slurm picks, as the GPU nodes do among themselves),
reached through SSM like the nodes, with their role. It boots the image pinned for the tenant's GPU type, so the
head node and the GPU nodes install Slurm from the same OS release (slurmctld must not be older than slurmd).

The MUNGE key is 128 random alphanumerics (about 760 bits; mungekey(8) makes keys of 256 to 8192 bits,
https://manpages.ubuntu.com/manpages/noble/man8/mungekey.8.html, read 2026-11-27), generated at ``pulumi up``
(pulumi_random; the stack's state keeps it encrypted as a secret) and stored in the tenant account's Secrets
Manager, encrypted with the tenant's key. The secret's policy denies reading its value to every principal but
the nodes' role and the role our stacks deploy with (the provider reads a secret version back on refresh). Each
node reads the key itself (roles/munge): it never passes through the operator's machine or the inventory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from gpucloud import tags as t
from gpucloud.catalog import HeadNodeType
from gpucloud.components.policy_documents import document

MUNGE_KEY_LENGTH = 128
# Secrets Manager waits this many days (7 to 30) before deleting a secret on `pulumi destroy`, so an offboarding
# that went wrong can still restore it. A name prefix (not a fixed name) lets the tenant be onboarded again
# within that window.
SECRET_RECOVERY_DAYS = 7
HEAD_ROOT_VOLUME_GIB = 100
# The head node runs no containers: the metadata service answers the host only.
HEAD_IMDS_HOP_LIMIT = 1


@dataclass(frozen=True, kw_only=True)
class ClusterHeadArgs:
    tenant: str
    head_type: HeadNodeType
    ami: pulumi.Input[str]  # the image pinned for the tenant's GPU type
    subnet_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]  # the GPU nodes' group
    kms_key_arn: pulumi.Input[str]
    instance_profile: pulumi.Input[str]
    node_role_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    deployer_role_arn: pulumi.Input[str]  # the role our stacks act in the tenant's account with
    tags: Mapping[str, str]
    # Tags every node of the cluster carries, the head included (SSM bucket, FSx): node_tags() adds the secret's.
    node_tags: Mapping[str, pulumi.Input[str]]


def read_only_by(principals: list[str]) -> dict[str, object]:
    """A secret policy statement: nobody but ``principals`` (role ARNs) reads the secret's value."""
    return {
        "Sid": "ReadOnlyByTheClusterNodes",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",  # in a secret's own policy, "*" is that secret
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": principals}},
    }


class ClusterHead(pulumi.ComponentResource):
    instance_id: pulumi.Output[str]
    munge_key_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterHeadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:ClusterHead", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = t.with_role(args.tags, "slurm")
        key = random.RandomPassword(f"{name}-munge-key", length=MUNGE_KEY_LENGTH, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            f"{name}-munge-key",
            name_prefix=f"gpucloud/{args.tenant}/munge-key-",
            description=f"MUNGE key of tenant {args.tenant}'s Slurm cluster (read by its nodes only)",
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=tags,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(f"{name}-munge-key", secret_id=secret.id, secret_string=key.result, opts=child)
        readers = pulumi.Output.all(args.node_role_arn, args.deployer_role_arn).apply(lambda arns: sorted(set(arns)))
        aws.secretsmanager.SecretPolicy(
            f"{name}-munge-key",
            secret_arn=secret.arn,
            policy=document(readers.apply(read_only_by)),
            block_public_policy=True,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-munge-key-read",
            role=args.node_role_name,
            policy=document(
                secret.arn.apply(
                    lambda arn: {
                        "Sid": "ClusterMungeKey",
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": arn,
                    }
                )
            ),
            opts=child,
        )
        self.munge_key_secret_arn = secret.arn
        head = aws.ec2.Instance(
            f"{name}-head",
            ami=args.ami,
            instance_type=args.head_type.instance_type,
            subnet_id=args.subnet_id,
            vpc_security_group_ids=[args.security_group_id],
            associate_public_ip_address=False,
            iam_instance_profile=args.instance_profile,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=HEAD_IMDS_HOP_LIMIT,
                instance_metadata_tags="enabled",
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=HEAD_ROOT_VOLUME_GIB,
                volume_type="gp3",
                encrypted=True,
                kms_key_id=args.kms_key_arn,
                delete_on_termination=True,
            ),
            monitoring=True,
            ebs_optimized=True,  # m7i is EBS-optimized by default; said, so no check has to know it
            tags={**t.with_role(args.tags, "head-node"), "Name": f"{name}-head", **self.node_tags(args.node_tags)},
            volume_tags=t.with_role(args.tags, "head-node"),
            opts=child,
        )
        self.instance_id = head.id
        self.register_outputs({"instance_id": self.instance_id, "munge_key_secret_arn": self.munge_key_secret_arn})

    def node_tags(self, tags: Mapping[str, pulumi.Input[str]]) -> dict[str, pulumi.Input[str]]:
        """``tags`` plus the MUNGE key secret's ARN: what each node of the cluster is tagged with."""
        return {**tags, t.MUNGE_KEY_SECRET: self.munge_key_secret_arn}
