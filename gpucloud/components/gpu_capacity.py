"""GpuCapacity: the GPU capacity a region holds for one SKU in one AZ.

A cluster placement group (it lives in one AZ, where its first instance lands) and either an
EC2 capacity reservation that this stack creates (billed whether used or not) or a Capacity
Block bought beforehand, whose reservation id the config names.
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
    tags: Mapping[str, str]


class GpuCapacity(pulumi.ComponentResource):
    placement_group: pulumi.Output[str]
    reservation_id: pulumi.Output[str]

    def __init__(self, name: str, args: GpuCapacityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:region:GpuCapacity", name, None, opts)
        entry = args.entry
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", tags=dict(args.tags), opts=child)
        if entry.capacity_block_id is not None:
            self.reservation_id = pulumi.Output.from_input(entry.capacity_block_id)
        else:
            zone = aws.get_availability_zone_output(zone_id=entry.az_id, opts=pulumi.InvokeOutputOptions(parent=self))
            reservation = aws.ec2.CapacityReservation(
                f"{name}-reservation",
                instance_type=entry.gpu_type,
                instance_platform="Linux/UNIX",
                availability_zone=zone.name,
                instance_count=entry.count,
                # Only instances that name this reservation may use it: tenants never share by accident.
                instance_match_criteria="targeted",
                end_date_type="unlimited",
                placement_group_arn=group.arn,
                tags=dict(args.tags),
                opts=child,
            )
            self.reservation_id = reservation.id
        self.placement_group = group.name
        self.register_outputs({"placement_group": self.placement_group, "reservation_id": self.reservation_id})

    def export(self, entry: CapacityEntry) -> pulumi.Output[dict[str, object]]:
        """What tenant stacks read about this capacity through the region's StackReference."""
        return pulumi.Output.all(self.placement_group, self.reservation_id).apply(
            lambda v: {
                "gpuType": entry.gpu_type,
                "az": entry.az_id,
                "count": entry.count,
                "placementGroup": v[0],
                "reservationId": v[1],
                "marketType": "capacity-block" if entry.capacity_block_id else "reserved",
            }
        )
