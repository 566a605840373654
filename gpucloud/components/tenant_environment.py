"""TenantEnvironment: one tenant's isolated silo in one region (key, network, storage, identity, nodes).

Everything is built inside the tenant's own AWS account, through ``account_provider``, except its capacity
share, which must live in our capacity account (``capacity_provider``), where the capacity is, and the bucket its
audit record lands in, in our log-archive account (``log_archive_provider``), beyond the tenant's reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.catalog import GpuSku, load_catalog
from gpucloud.components.capacity_share import CapacityShare, CapacityShareArgs
from gpucloud.components.cluster_head import ClusterHead, ClusterHeadArgs
from gpucloud.components.config_recorder import ConfigRecorder, ConfigRecorderArgs
from gpucloud.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from gpucloud.components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from gpucloud.components.tenant_audit import TenantAudit, TenantAuditArgs
from gpucloud.components.tenant_identity import TenantIdentity, TenantIdentityArgs
from gpucloud.components.tenant_network import TenantNetwork, TenantNetworkArgs
from gpucloud.components.tenant_storage import TenantStorage, TenantStorageArgs
from gpucloud.config import CapacityEntry, TenantConfig
from gpucloud.organization.guardrails import load_guardrails


@dataclass(frozen=True, kw_only=True)
class RegionExports:
    """What the tenant reads from its region stack (through a StackReference)."""

    audit_retention_days: pulumi.Input[int]  # the org's: how long the tenant's audit record is locked and kept
    mirror_bucket_arn: pulumi.Input[str]  # our package mirror: drivers and CUDA without internet
    mirror_key_arn: pulumi.Input[str]  # the key that encrypts the package mirror
    capacity: pulumi.Input[Mapping[str, Any]]
    capacity_role_arn: pulumi.Input[str]  # the access role of our capacity account, which holds the capacity
    amis: pulumi.Input[Mapping[str, Mapping[str, str]]]  # SKU -> {id, rootDevice}


@dataclass(frozen=True, kw_only=True)
class TenantEnvironmentArgs:
    config: TenantConfig
    sku: GpuSku
    region: RegionExports
    account_id: pulumi.Input[str]
    account_provider: aws.Provider  # acts in the tenant's account (assumes our deployer role there)
    capacity_provider: aws.Provider  # acts in our capacity account: the carve and the RAM share
    log_archive_provider: aws.Provider  # acts in our log-archive account: the tenant's audit bucket and key
    config_role_arn: pulumi.Input[str]  # AWS Config's service-linked role in the tenant's account
    deployer_role_arn: pulumi.Input[str]  # the role account_provider assumes
    tags: Mapping[str, str]


def _capacity_entry(capacity: Mapping[str, Any], key: str, region: str) -> Mapping[str, Any]:
    try:
        entry: Mapping[str, Any] = capacity[key]
    except KeyError:
        held = ", ".join(sorted(capacity)) or "none"
        raise ValueError(f"region-{region} holds no capacity {key}; it holds: {held}") from None
    return entry


class TenantEnvironment(pulumi.ComponentResource):
    def __init__(self, name: str, args: TenantEnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:TenantEnvironment", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self, providers=[args.account_provider])
        key = EncryptionKey(
            f"{name}-key",
            EncryptionKeyArgs(
                description=f"gpucloud tenant {cfg.tenant} in {cfg.region}: volumes, bucket, file system",
                alias=f"gpucloud/tenant/{cfg.tenant}",
                tags=t.with_role(args.tags, "security"),
            ),
            opts=child,
        )
        # Flow logs and AWS Config history of the tenant account in this region, into our log-archive account.
        audit = TenantAudit(
            f"{name}-audit",
            TenantAuditArgs(
                region=cfg.region,
                account_id=args.account_id,
                retention_days=args.region.audit_retention_days,
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers=[args.log_archive_provider]),
        )
        network = TenantNetwork(
            f"{name}-net",
            TenantNetworkArgs(
                region=cfg.region,
                cidr=cfg.cidr,
                az_id=cfg.node_pool.az_id,
                egress=cfg.egress,
                flow_log_destination=audit.bucket_arn,
                account_id=args.account_id,
                mirror_bucket_arn=args.region.mirror_bucket_arn,
                tags=args.tags,
                cluster=cfg.cluster.has_head_node,
            ),
            opts=child,
        )
        storage = TenantStorage(
            f"{name}-storage",
            TenantStorageArgs(
                kms_key_arn=key.arn,
                fsx_tib=cfg.storage.fsx_tib,
                vpc_id=network.vpc_id,
                subnet_id=network.private_subnet_id,
                node_security_group_id=network.node_security_group_id,
                tags=args.tags,
            ),
            opts=child,
        )
        identity = TenantIdentity(
            f"{name}-identity",
            TenantIdentityArgs(
                tenant=cfg.tenant,
                bucket_arn=storage.bucket_arn,
                kms_key_arn=key.arn,
                mirror_bucket_arn=args.region.mirror_bucket_arn,
                mirror_key_arn=args.region.mirror_key_arn,
                tags=args.tags,
            ),
            opts=child,
        )
        capacity_key = CapacityEntry(gpu_type=cfg.node_pool.gpu_type, az_id=cfg.node_pool.az_id, count=0).key
        capacity = pulumi.Output.from_input(args.region.capacity).apply(
            lambda held: _capacity_entry(held, capacity_key, cfg.region)
        )
        share = CapacityShare(
            f"{name}-capacity",
            CapacityShareArgs(
                tenant=cfg.tenant,
                region=cfg.region,
                account_id=args.account_id,
                pool=cfg.node_pool,
                capacity=capacity,
                capacity_role_arn=args.region.capacity_role_arn,
                tags=t.with_role(args.tags, "gpu-capacity", **{t.GPU_TYPE: cfg.node_pool.gpu_type}),
            ),
            # In our capacity account, where the capacity is: not the tenant's account, not the management account.
            opts=pulumi.ResourceOptions(parent=self, providers=[args.capacity_provider]),
        )
        self._vcpu_quota(name, args, child)
        ConfigRecorder(
            f"{name}-config",
            ConfigRecorderArgs(role_arn=args.config_role_arn, bucket=audit.bucket, key_arn=audit.key_arn),
            opts=child,
        )
        image = pulumi.Output.from_input(args.region.amis).apply(lambda pinned: pinned[cfg.node_pool.gpu_type])
        cluster_tags: dict[str, pulumi.Input[str]] = {t.SSM_BUCKET: storage.bucket}
        if storage.fsx_dns_name is not None and storage.fsx_mount_name is not None:
            cluster_tags |= {t.FSX_DNS_NAME: storage.fsx_dns_name, t.FSX_MOUNT_NAME: storage.fsx_mount_name}
        head = None
        if cfg.cluster.head_node_type is not None:
            head = ClusterHead(
                f"{name}-cluster",
                ClusterHeadArgs(
                    tenant=cfg.tenant,
                    head_type=load_catalog().head_node_types[cfg.cluster.head_node_type],
                    ami=image.apply(lambda pinned: str(pinned["id"])),
                    subnet_id=network.private_subnet_id,
                    security_group_id=network.node_security_group_id,
                    kms_key_arn=key.arn,
                    instance_profile=identity.node_instance_profile,
                    node_role_name=identity.node_role_name,
                    node_role_arn=identity.node_role_arn,
                    deployer_role_arn=args.deployer_role_arn,
                    tags=args.tags,
                    node_tags=cluster_tags,
                ),
                opts=child,
            )
            cluster_tags = head.node_tags(cluster_tags)
        pool = GpuNodePool(
            f"{name}-nodes",
            GpuNodePoolArgs(
                sku=args.sku,
                nodes=cfg.node_pool.nodes,
                ami=image.apply(lambda pinned: str(pinned["id"])),
                root_device=image.apply(lambda pinned: str(pinned["rootDevice"])),
                subnet_id=network.private_subnet_id,
                security_group_id=network.node_security_group_id,
                kms_key_arn=key.arn,
                instance_profile=identity.node_instance_profile,
                placement_group_id=share.placement_group_id,
                reservation_id=share.reservation_id,
                capacity_type=cfg.node_pool.capacity_type,
                root_volume_gib=cfg.node_pool.root_volume_gib,
                tags=args.tags,
                node_tags=cluster_tags,
            ),
            opts=child,
        )
        self.exports: dict[str, pulumi.Input[object]] = {
            "tenant": cfg.tenant,
            "region": cfg.region,
            "accountId": args.account_id,
            "vpcId": network.vpc_id,
            "cidr": str(cfg.cidr),
            "bucket": storage.bucket,
            "kmsKeyArn": key.arn,
            "auditBucket": audit.bucket,
            "nodeInstanceIds": pool.instance_ids,
            "gpuType": cfg.node_pool.gpu_type,
            "nodes": cfg.node_pool.nodes,
            "capacityReservationId": share.reservation_id,
            "scheduler": cfg.cluster.scheduler,
        }
        if head is not None:
            self.exports["headNodeInstanceId"] = head.instance_id
            self.exports["mungeKeySecretArn"] = head.munge_key_secret_arn
        if storage.fsx_dns_name is not None and storage.fsx_mount_name is not None:
            self.exports["fsxDnsName"] = storage.fsx_dns_name
            self.exports["fsxMountName"] = storage.fsx_mount_name
        self.register_outputs(self.exports)

    def _vcpu_quota(self, name: str, args: TenantEnvironmentArgs, opts: pulumi.ResourceOptions) -> None:
        """Ask, in the tenant's account, for the On-Demand vCPU quotas its instances need: a new account's default
        is far below one GPU node, and the nodes are instances of the tenant's account (data/guardrails.yaml).
        A head node counts against its own family's quota."""
        wanted = {args.sku.instance_type: args.config.node_pool.nodes * args.sku.vcpu}
        head = args.config.cluster.head_node_type
        if head is not None:
            wanted[head] = load_catalog().head_node_types[head].vcpu
        vcpus: dict[str, tuple[dict[str, str], int]] = {}
        for instance_type, count in wanted.items():
            quota = load_guardrails().quota_for(instance_type)
            if quota is not None:
                held = vcpus.get(quota["code"], (quota, 0))[1]
                vcpus[quota["code"]] = (quota, held + count)
        for index, (quota, count) in enumerate(vcpus.values()):
            aws.servicequotas.ServiceQuota(
                f"{name}-vcpu-quota" if index == 0 else f"{name}-vcpu-quota-{quota['code']}",
                service_code=quota["service"],
                quota_code=quota["code"],
                value=float(count),
                opts=opts,
            )
