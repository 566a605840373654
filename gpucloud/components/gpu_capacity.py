"""GpuCapacity: the GPU capacity a region holds for one SKU in one AZ.

Either an EC2 capacity reservation that this stack creates (billed whether used or not) in a cluster
placement group, or a Capacity Block bought beforehand, whose reservation id the config names. A
Capacity Block gets no placement group: its instances are co-located already, and AWS ParallelCluster
refuses the combination (EC2 User Guide, "Capacity Blocks for ML", recorded 2026-11-27).

Tenants never use this capacity directly: each gets a carve of it, shared with its account alone
(``gpucloud.components.capacity_share``). Unallocated capacity is shared with nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud.config import CapacityEntry


@dataclass(frozen=True, kw_only=True)
class GpuCapacityArgs:
    entry: CapacityEntry
    account_id: pulumi.Input[str]  # ours: a Capacity Block's ARN names the account that bought it
    region: str
    tags: Mapping[str, str]


class GpuCapacity(pulumi.ComponentResource):
    reservation_id: pulumi.Output[str]
    reservation_arn: pulumi.Output[str]
    placement_group_arn: pulumi.Output[str] | None
    placement_group_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: GpuCapacityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:region:GpuCapacity", name, None, opts)
        entry = args.entry
        child = pulumi.ResourceOptions(parent=self)
        self.placement_group_arn = None
        self.placement_group_id = None
        if entry.capacity_block_id is not None:
            block = entry.capacity_block_id
            self.reservation_id = pulumi.Output.from_input(block)
            self.reservation_arn = pulumi.Output.from_input(args.account_id).apply(
                lambda acct: f"arn:aws:ec2:{args.region}:{acct}:capacity-reservation/{block}"
            )
        else:
            group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", tags=dict(args.tags), opts=child)
            zone = aws.get_availability_zone_output(zone_id=entry.az_id, opts=pulumi.InvokeOutputOptions(parent=self))
            reservation = aws.ec2.CapacityReservation(
                f"{name}-reservation",
                instance_type=entry.gpu_type,
                instance_platform="Linux/UNIX",
                availability_zone=zone.name,
                instance_count=entry.count,
                # Only instances that name a reservation may use it: tenants never share by accident.
                instance_match_criteria="targeted",
                end_date_type="unlimited",
                placement_group_arn=group.arn,
                tags=dict(args.tags),
                opts=child,
            )
            self.reservation_id = reservation.id
            self.reservation_arn = reservation.arn
            self.placement_group_arn = group.arn
            self.placement_group_id = group.placement_group_id
        self.register_outputs({"reservation_id": self.reservation_id, "reservation_arn": self.reservation_arn})

    def export(self, entry: CapacityEntry) -> pulumi.Output[dict[str, object]]:
        """What tenant stacks read about this capacity through the region's StackReference."""
        return pulumi.Output.all(
            self.reservation_id, self.reservation_arn, self.placement_group_arn, self.placement_group_id
        ).apply(
            lambda v: {
                "gpuType": entry.gpu_type,
                "az": entry.az_id,
                "count": entry.count,
                "reservationId": v[0],
                "reservationArn": v[1],
                "placementGroupArn": v[2],
                "placementGroupId": v[3],
                "marketType": "capacity-block" if entry.capacity_block_id else "reserved",
            }
        )
