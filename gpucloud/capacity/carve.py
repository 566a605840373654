"""A tenant's nodes carved out of the region's capacity reservation, as a reservation of its own.

A reservation shared through AWS RAM can be used in full by every account it is shared with, so a
tenant never gets a share of the region's reservation: it gets a new reservation split off it
(``CreateCapacityReservationBySplitting``) and shared with its account alone. pulumi-aws has no resource
for a split, so this is a Pulumi dynamic provider:

- create: split ``instance_count`` off the source (same type, platform, AZ, placement group, end date);
- update: a changed count moves capacity between the source and the carve
  (``MoveCapacityReservationInstances``; both must be active, ours, and alike);
- delete: move everything back into the source; AWS cancels a reservation once all its capacity has been
  moved out and none is in use, and the carve is checked to be gone.

Sources (recorded 2026-11-27): EC2 User Guide, "Split off capacity from an existing Capacity Reservation"
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-reservations-split.html and "Move capacity
between Capacity Reservations" https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-reservations-move.html
(Capacity Blocks can be neither split nor moved: a tenant on a block gets the whole block.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

# Inputs whose change needs a new carve (a carve cannot move to another source or region).
REPLACE_ON = ("source_reservation_id", "region")


class CarveError(RuntimeError):
    """AWS refused, or left the reservations in a state the carve does not expect."""


def ec2_client(region: str, role_arn: str | None = None) -> Any:
    """The EC2 client the provider uses: boto3 with the credentials `pulumi up` runs with, in our capacity
    account through ``role_arn`` (the access role there) when given, as the stack's capacity provider acts."""
    import boto3

    if not role_arn:
        return boto3.client("ec2", region_name=region)
    creds = boto3.client("sts", region_name=region).assume_role(RoleArn=role_arn, RoleSessionName="gpucloud-carve")
    return boto3.client(
        "ec2",
        region_name=region,
        aws_access_key_id=creds["Credentials"]["AccessKeyId"],
        aws_secret_access_key=creds["Credentials"]["SecretAccessKey"],
        aws_session_token=creds["Credentials"]["SessionToken"],
    )


def _client(props: Mapping[str, Any]) -> Any:
    return ec2_client(props["region"], props.get("role_arn"))


def _tags(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    tags = [{"Key": k, "Value": v} for k, v in sorted(dict(props.get("tags") or {}).items())]
    return [{"ResourceType": "capacity-reservation", "Tags": tags}] if tags else []


def _describe(ec2: Any, reservation_id: str) -> dict[str, Any] | None:
    found = ec2.describe_capacity_reservations(CapacityReservationIds=[reservation_id])["CapacityReservations"]
    return found[0] if found else None


class CarveProvider(ResourceProvider):
    """Create, resize and give back one tenant's carve of a region reservation."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = _client(props)
        count = int(props["instance_count"])
        answer = ec2.create_capacity_reservation_by_splitting(
            SourceCapacityReservationId=props["source_reservation_id"],
            InstanceCount=count,
            TagSpecifications=_tags(props),
        )
        carved = answer["DestinationCapacityReservation"]
        if int(carved["TotalInstanceCount"]) != count:
            raise CarveError(f"split {count} off {props['source_reservation_id']}, got {carved['TotalInstanceCount']}")
        return CreateResult(
            id_=carved["CapacityReservationId"],
            outs={
                **props,
                "reservation_id": carved["CapacityReservationId"],
                "reservation_arn": carved["CapacityReservationArn"],
            },
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in REPLACE_ON if olds.get(key) != news.get(key)]
        changed = replaces or [key for key in ("instance_count", "tags") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ec2 = _client(news)
        delta = int(news["instance_count"]) - int(olds["instance_count"])
        source = news["source_reservation_id"]
        if delta > 0:
            ec2.move_capacity_reservation_instances(
                SourceCapacityReservationId=source, DestinationCapacityReservationId=id_, InstanceCount=delta
            )
        elif delta < 0:
            ec2.move_capacity_reservation_instances(
                SourceCapacityReservationId=id_, DestinationCapacityReservationId=source, InstanceCount=-delta
            )
        if olds.get("tags") != news.get("tags") and _tags(news):
            ec2.create_tags(Resources=[id_], Tags=_tags(news)[0]["Tags"])
        return UpdateResult(
            outs={**olds, **news, "reservation_id": id_, "reservation_arn": olds.get("reservation_arn")}
        )

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ec2 = _client(props)
        carved = _describe(ec2, id_)
        if carved is None or carved["State"] in ("cancelled", "expired"):
            return
        ec2.move_capacity_reservation_instances(
            SourceCapacityReservationId=id_,
            DestinationCapacityReservationId=props["source_reservation_id"],
            InstanceCount=int(carved["TotalInstanceCount"]),
        )
        after = _describe(ec2, id_)
        if after is not None and after["State"] not in ("cancelled", "expired"):
            raise CarveError(
                f"{id_} still {after['State']} after its capacity moved back to {props['source_reservation_id']}: "
                "instances still run in it; terminate them first"
            )


class CarvedReservation(Resource):
    """``instance_count`` nodes split off ``source_reservation_id``, in a reservation of their own."""

    reservation_id: pulumi.Output[str]
    reservation_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        source_reservation_id: pulumi.Input[str],
        instance_count: int,
        region: str,
        tags: Mapping[str, str],
        role_arn: pulumi.Input[str] | None = None,  # the role in our capacity account the carve acts as
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            CarveProvider(),
            name,
            {
                "source_reservation_id": source_reservation_id,
                "instance_count": instance_count,
                "region": region,
                "tags": dict(tags),
                "role_arn": role_arn,
                "reservation_id": None,
                "reservation_arn": None,
            },
            opts,
        )
