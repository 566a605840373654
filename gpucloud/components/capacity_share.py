"""CapacityShare: the tenant's capacity, carved out of ours and shared through AWS RAM with its account alone.

Lives in our capacity account (the stack's capacity provider; the carve assumes the same role), the one part of
a tenant stack that is not in the tenant's account. A reservation
shared through RAM can be used in full by every account it is shared with, and "consumers cannot view or
modify instances owned by other consumers" (EC2 User Guide, "Shared Capacity Reservations", recorded
2026-11-27). So:

- on a capacity reservation, the tenant's node count is split off into a reservation of its own
  (``gpucloud.capacity.carve``), and that reservation, with the region's cluster placement group it
  belongs to, is shared with the tenant's account;
- on a Capacity Block, the block itself is shared (blocks cannot be split), so a block serves one tenant. AWS:
  "Capacity Block sharing is not available to new AWS accounts or AWS accounts that have a limited billing
  history" (EC2 User Guide, "Share Capacity Blocks", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
  capacity-blocks-share.html , recorded 2026-12-07): a new capacity account's association fails at `pulumi up`;
- the share names the tenant's account id, never an OU or the organization, and admits no external principal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from gpucloud.capacity.carve import CarvedReservation
from gpucloud.config import NodePoolConfig


@dataclass(frozen=True, kw_only=True)
class CapacityShareArgs:
    tenant: str
    region: str
    account_id: pulumi.Input[str]  # the tenant's account: the only principal of the share
    pool: NodePoolConfig
    capacity: pulumi.Output[Mapping[str, Any]]  # the region's export for the pool's SKU and AZ
    capacity_role_arn: pulumi.Input[str]  # the role in our capacity account that the carve acts as
    tags: Mapping[str, str]


class CapacityShare(pulumi.ComponentResource):
    reservation_id: pulumi.Output[str]
    placement_group_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: CapacityShareArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:CapacityShare", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        shared_arns: list[pulumi.Output[str]] = []
        self.placement_group_id = None
        if args.pool.capacity_type == "capacity-block":
            self.reservation_id = args.capacity.apply(lambda c: str(c["reservationId"]))
            shared_arns.append(args.capacity.apply(lambda c: str(c["reservationArn"])))
        else:
            carve = CarvedReservation(
                f"{name}-carve",
                source_reservation_id=args.capacity.apply(lambda c: str(c["reservationId"])),
                instance_count=args.pool.nodes,
                region=args.region,
                tags=args.tags,
                role_arn=args.capacity_role_arn,
                opts=child,
            )
            self.reservation_id = carve.reservation_id
            self.placement_group_id = args.capacity.apply(lambda c: str(c["placementGroupId"]))
            shared_arns += [carve.reservation_arn, args.capacity.apply(lambda c: str(c["placementGroupArn"]))]
        share = aws.ram.ResourceShare(
            f"{name}-share",
            name=f"gpucloud-{args.tenant}-{args.region}-capacity",
            allow_external_principals=False,
            tags=dict(args.tags),
            opts=child,
        )
        for index, arn in enumerate(shared_arns):
            aws.ram.ResourceAssociation(
                f"{name}-share-{('reservation', 'placement-group')[index]}",
                resource_arn=arn,
                resource_share_arn=share.arn,
                opts=child,
            )
        aws.ram.PrincipalAssociation(
            f"{name}-share-account", principal=args.account_id, resource_share_arn=share.arn, opts=child
        )
        self.register_outputs({"reservation_id": self.reservation_id})
