"""The capacity carve's dynamic provider: create, resize and give back, against a fake EC2 that keeps AWS's rules.

moto does not implement Capacity Reservations (nor their split and move), so the fake holds the rules the
EC2 User Guide states for them: a split needs an active source of ours with that much available capacity;
a move needs two active reservations alike in type, AZ, placement group and end date; a reservation whose
capacity is all moved out, with none in use, is cancelled.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gpucloud.capacity import carve
from gpucloud.capacity.carve import CarveError, CarveProvider

ACCOUNT = "123456789012"


class ClientError(Exception):
    pass


class FakeEc2:
    def __init__(self) -> None:
        self.reservations: dict[str, dict[str, Any]] = {}
        self.ids = (f"cr-{n:017x}" for n in itertools.count(1))
        self.calls: list[str] = []

    def add(self, count: int, *, used: int = 0, group: str = "pg-1", **extra: Any) -> str:
        rid = next(self.ids)
        self.reservations[rid] = {
            "CapacityReservationId": rid,
            "CapacityReservationArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:capacity-reservation/{rid}",
            "InstanceType": "p5.48xlarge",
            "AvailabilityZoneId": "use1-az4",
            "PlacementGroupArn": group,
            "EndDateType": "unlimited",
            "TotalInstanceCount": count,
            "AvailableInstanceCount": count - used,
            "State": "active",
            "Tags": [],
            **extra,
        }
        return rid

    def _active(self, rid: str) -> dict[str, Any]:
        found = self.reservations.get(rid)
        if found is None or found["State"] != "active":
            raise ClientError(f"InvalidCapacityReservationId.NotFound: {rid}")
        return found

    def create_capacity_reservation_by_splitting(self, **kw: Any) -> dict[str, Any]:
        self.calls.append("split")
        source = self._active(kw["SourceCapacityReservationId"])
        count = kw["InstanceCount"]
        if count > source["AvailableInstanceCount"]:
            raise ClientError("InsufficientCapacity: not enough available capacity to split")
        source["TotalInstanceCount"] -= count
        source["AvailableInstanceCount"] -= count
        rid = self.add(count, group=source["PlacementGroupArn"])
        tags = kw.get("TagSpecifications") or [{"Tags": []}]
        self.reservations[rid]["Tags"] = tags[0]["Tags"]
        return {
            "SourceCapacityReservation": dict(source),
            "DestinationCapacityReservation": dict(self.reservations[rid]),
        }

    def move_capacity_reservation_instances(self, **kw: Any) -> dict[str, Any]:
        self.calls.append("move")
        source = self._active(kw["SourceCapacityReservationId"])
        dest = self._active(kw["DestinationCapacityReservationId"])
        alike = ("InstanceType", "AvailabilityZoneId", "PlacementGroupArn", "EndDateType")
        if any(source[k] != dest[k] for k in alike):
            raise ClientError("InvalidParameterCombination: reservations differ")
        count = kw["InstanceCount"]
        if count > source["TotalInstanceCount"]:
            raise ClientError("InvalidParameterValue: more than the source holds")
        moved_available = min(count, source["AvailableInstanceCount"])  # available capacity moves first
        source["TotalInstanceCount"] -= count
        dest["TotalInstanceCount"] += count
        source["AvailableInstanceCount"] -= moved_available
        dest["AvailableInstanceCount"] += moved_available
        if source["TotalInstanceCount"] == 0:
            source["State"] = "cancelled"
        return {}

    def describe_capacity_reservations(self, CapacityReservationIds: list[str]) -> dict[str, Any]:
        return {
            "CapacityReservations": [
                dict(self.reservations[r]) for r in CapacityReservationIds if r in self.reservations
            ]
        }

    def create_tags(self, Resources: list[str], Tags: list[dict[str, str]]) -> None:
        for rid in Resources:
            self.reservations[rid]["Tags"] = Tags


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> FakeEc2:
    fake = FakeEc2()
    monkeypatch.setattr(carve, "ec2_client", lambda region, role_arn=None: fake)
    return fake


def props(source: str, count: int, **extra: Any) -> dict[str, Any]:
    return {
        "source_reservation_id": source,
        "instance_count": count,
        "region": "us-east-1",
        "tags": {"gpucloud:tenant": "acme"},
        **extra,
    }


def test_create_splits_the_tenants_nodes_into_a_reservation_of_its_own(ec2: FakeEc2) -> None:
    source = ec2.add(16)
    result = CarveProvider().create(props(source, 4))
    carved = ec2.reservations[result.id]
    assert result.id != source and carved["TotalInstanceCount"] == 4
    assert ec2.reservations[source]["TotalInstanceCount"] == 12
    assert carved["PlacementGroupArn"] == ec2.reservations[source]["PlacementGroupArn"]
    assert result.outs["reservation_arn"] == carved["CapacityReservationArn"]
    assert carved["Tags"] == [{"Key": "gpucloud:tenant", "Value": "acme"}]


def test_create_refuses_more_than_the_region_has_free(ec2: FakeEc2) -> None:
    source = ec2.add(4, used=2)
    with pytest.raises(ClientError, match="InsufficientCapacity"):
        CarveProvider().create(props(source, 3))
    assert ec2.reservations[source]["TotalInstanceCount"] == 4


def test_update_moves_capacity_in_and_out_without_replacing(ec2: FakeEc2) -> None:
    source = ec2.add(16)
    provider = CarveProvider()
    created = provider.create(props(source, 4))
    diff = provider.diff(created.id, created.outs, props(source, 6))
    assert diff.changes and not diff.replaces
    grown = provider.update(created.id, created.outs, props(source, 6))
    assert ec2.reservations[created.id]["TotalInstanceCount"] == 6
    assert ec2.reservations[source]["TotalInstanceCount"] == 10
    provider.update(created.id, grown.outs, props(source, 1))
    assert ec2.reservations[created.id]["TotalInstanceCount"] == 1
    assert ec2.reservations[source]["TotalInstanceCount"] == 15
    assert ec2.calls == ["split", "move", "move"]


def test_a_new_source_replaces_the_carve(ec2: FakeEc2) -> None:
    provider = CarveProvider()
    created = provider.create(props(ec2.add(8), 2))
    diff = provider.diff(created.id, created.outs, props("cr-other", 2))
    assert diff.replaces == ["source_reservation_id"] and diff.delete_before_replace
    assert not provider.diff(created.id, created.outs, created.outs).changes


def test_delete_gives_the_capacity_back_and_the_carve_is_cancelled(ec2: FakeEc2) -> None:
    source = ec2.add(16)
    provider = CarveProvider()
    created = provider.create(props(source, 4))
    provider.delete(created.id, created.outs)
    assert ec2.reservations[created.id]["State"] == "cancelled"
    assert ec2.reservations[source]["TotalInstanceCount"] == 16
    provider.delete(created.id, created.outs)  # a second delete (a retried destroy) is a no-op
    assert ec2.calls == ["split", "move"]


def test_delete_says_so_when_the_carve_survives(ec2: FakeEc2, monkeypatch: pytest.MonkeyPatch) -> None:
    source = ec2.add(16)
    provider = CarveProvider()
    created = provider.create(props(source, 4))
    monkeypatch.setattr(ec2, "move_capacity_reservation_instances", lambda **kw: {})  # AWS moved nothing
    with pytest.raises(CarveError, match="still active"):
        provider.delete(created.id, created.outs)
