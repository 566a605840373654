"""GpuNodePool: a tenant's GPU nodes, launched from one template into the region's capacity.

The launch template requires IMDSv2, encrypts the root volume with the tenant's key, attaches
the SKU's EFA interfaces (AWS's layout: network card 0 carries the ENA primary at device index 0
and an EFA-only interface at device index 1; every other card an EFA-only interface at device
index 0), and targets the tenant's own capacity: its carve of a region reservation (in the region's cluster
placement group, shared with it) or its Capacity Block.
No interface gets a public IP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.catalog import GpuSku

# Containers on the node (one hop more than the host) still reach the metadata service; nothing further does.
IMDS_HOP_LIMIT = 2


@dataclass(frozen=True, kw_only=True)
class NetworkInterfaceSlot:
    network_card_index: int
    device_index: int
    interface_type: str  # "interface" (ENA) or "efa-only"


def efa_layout(efa_interfaces: int) -> list[NetworkInterfaceSlot]:
    """The interfaces of a node with ``efa_interfaces`` EFA devices: the ENA primary plus one EFA per card."""
    slots = [NetworkInterfaceSlot(network_card_index=0, device_index=0, interface_type="interface")]
    for card in range(efa_interfaces):
        slots.append(
            NetworkInterfaceSlot(network_card_index=card, device_index=1 if card == 0 else 0, interface_type="efa-only")
        )
    return slots


@dataclass(frozen=True, kw_only=True)
class GpuNodePoolArgs:
    sku: GpuSku
    nodes: int
    ami: pulumi.Input[str]
    root_device: pulumi.Input[str]  # the AMI's own root device name: the encrypted volume must be that device
    subnet_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    instance_profile: pulumi.Input[str]
    # The region's cluster placement group, shared with the tenant's account (a shared group is named by its
    # id); None on a Capacity Block, which needs no placement group.
    placement_group_id: pulumi.Input[str] | None
    reservation_id: pulumi.Input[str]  # the tenant's own reservation (its carve) or Capacity Block
    capacity_type: str  # "reservation" or "capacity-block"
    root_volume_gib: int
    tags: Mapping[str, str]
    # Tags on each node only (not the launch template: changing them updates the nodes in place, never replaces
    # them): what the inventory composes from (the SSM bucket Ansible's connection stages files through, and a
    # cluster's secret and file system: gpucloud.components.cluster_head.node_tags).
    node_tags: Mapping[str, pulumi.Input[str]] | None = None


class GpuNodePool(pulumi.ComponentResource):
    instance_ids: list[pulumi.Output[str]]
    private_ips: list[pulumi.Output[str]]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:GpuNodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = t.with_role(args.tags, "gpu-node", **{t.GPU_TYPE: args.sku.instance_type})
        template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            description=f"{args.sku.instance_type} nodes ({args.sku.gpu_count} x {args.sku.gpu_model})",
            image_id=args.ami,
            instance_type=args.sku.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(name=args.instance_profile),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
                instance_metadata_tags="enabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=args.root_device,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=args.kms_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    network_card_index=slot.network_card_index,
                    device_index=slot.device_index,
                    interface_type=slot.interface_type,
                    subnet_id=args.subnet_id,
                    security_groups=[args.security_group_id],
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                )
                for slot in efa_layout(args.sku.efa_interfaces)
            ],
            placement=(
                aws.ec2.LaunchTemplatePlacementArgs(group_id=args.placement_group_id)
                if args.placement_group_id is not None
                else None
            ),
            capacity_reservation_specification=aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                    capacity_reservation_id=args.reservation_id,
                ),
            ),
            instance_market_options=(
                aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
                if args.capacity_type == "capacity-block"
                else None
            ),
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            update_default_version=True,
            tags=tags,
            opts=child,
        )
        self.instance_ids = []
        self.private_ips = []
        for index in range(args.nodes):
            node = aws.ec2.Instance(
                f"{name}-{index}",
                # A concrete version, never $Default/$Latest: a template change then shows in `pulumi preview` as
                # a planned replacement of each node (which `gpucloud rollout` applies a node at a time),
                # instead of surfacing as a surprise replacement on the `up` after the one that changed it.
                launch_template=aws.ec2.InstanceLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)
                ),
                tags={**tags, "Name": f"{name}-{index}", **(args.node_tags or {})},
                opts=child,
            )
            self.instance_ids.append(node.id)
            self.private_ips.append(node.private_ip)
        self.register_outputs({"instance_ids": self.instance_ids, "private_ips": self.private_ips})
