"""TenantStorage: the tenant's S3 bucket and, optionally, an FSx for Lustre file system, both with its key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.group_rules import Group, allow_between
from gpucloud.components.secure_bucket import SecureBucket, SecureBucketArgs
from gpucloud.config import fsx_capacity_gib

# Lustre's LNet ports. FSx for Lustre user guide, "File system access control with Amazon VPC"
# https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html (recorded 2026-11-27):
# clients reach the file servers on 988 and 1018-1023, and the file servers open connections back to the
# clients on the same ports; FSx checks at creation that the groups admit LNet on 988 and refuses the file
# system otherwise ("the provided security groups do not permit Lustre LNET network traffic on port 988").
LUSTRE_PORTS = ((988, 988), (1018, 1023))
LUSTRE_THROUGHPUT_MB_S_PER_TIB = 125


@dataclass(frozen=True, kw_only=True)
class TenantStorageArgs:
    kms_key_arn: pulumi.Input[str]
    fsx_tib: float | None
    vpc_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    node_security_group_id: pulumi.Input[str]
    tags: Mapping[str, str]


class TenantStorage(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    fsx_dns_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: TenantStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:TenantStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = t.with_role(args.tags, "storage")
        data = SecureBucket(f"{name}-data", SecureBucketArgs(kms_key_arn=args.kms_key_arn, tags=tags), opts=child)
        self.bucket = data.bucket
        self.bucket_arn = data.arn
        self.fsx_dns_name = None
        self.fsx_mount_name: pulumi.Output[str] | None = None
        if args.fsx_tib is not None:
            lustre = aws.ec2.SecurityGroup(
                f"{name}-lustre",
                vpc_id=args.vpc_id,
                description="FSx for Lustre: LNet from the tenant's nodes only",
                tags={**tags, "Name": f"{name}-lustre"},
                opts=child,
            )
            lustre_group = Group(id=lustre.id, label="lustre")
            node_group = Group(id=args.node_security_group_id, label="nodes")
            rules: list[pulumi.Resource] = []
            # nodes -> servers, servers among themselves, and servers -> nodes (the client side)
            paths = ((node_group, lustre_group), (lustre_group, lustre_group), (lustre_group, node_group))
            for source, target in paths:
                for ports in LUSTRE_PORTS:
                    rules += allow_between(
                        name,
                        source=source,
                        target=target,
                        protocol="tcp",
                        ports=ports,
                        suffix=f"-{ports[0]}",
                        tags=tags,
                        opts=child,
                    )
            fs = aws.fsx.LustreFileSystem(
                f"{name}-lustre-fs",
                storage_capacity=fsx_capacity_gib(args.fsx_tib),
                deployment_type="PERSISTENT_2",
                per_unit_storage_throughput=LUSTRE_THROUGHPUT_MB_S_PER_TIB,
                storage_type="SSD",
                kms_key_id=args.kms_key_arn,
                subnet_ids=args.subnet_id,  # one subnet: FSx for Lustre lives in one AZ
                security_group_ids=[lustre.id],
                data_compression_type="LZ4",
                # `pulumi destroy` takes a final backup (in the tenant's account) before deleting the file system.
                skip_final_backup=False,
                copy_tags_to_backups=True,
                tags=tags,
                # FSx checks the groups' rules when it creates the file system: every rule must exist first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=rules),
            )
            self.fsx_dns_name = fs.dns_name
            self.fsx_mount_name = fs.mount_name
        self.register_outputs({"bucket": self.bucket, "bucket_arn": self.bucket_arn})
