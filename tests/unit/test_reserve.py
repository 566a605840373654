"""Our internal reserve (issue 27): the step schedule, the config's checks, a term against the steps it would cross,
and collisions of a registry with a reserve added later."""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

import pytest

from gpucloud.capacity.reserve import collisions, crossing, leasable_through, reserved_on, term_window
from gpucloud.config import CapacityEntry, PinnedImage, RegionConfig, ReserveStep, config_from_namespaced
from gpucloud.errors import ConfigError
from gpucloud.registry import Registry, TenantEntry
from gpucloud.tenants.retired import Tombstone

D = datetime.date.fromisoformat
SKU, AZ = "p5.48xlarge", "use1-az4"
TODAY = D("2026-12-07")


def region(*steps: tuple[int, str], count: int = 16) -> RegionConfig:
    return RegionConfig(
        stack="region-us-east-1",
        region="us-east-1",
        org="organization",
        tenant_supernet=ipaddress.IPv4Network("10.16.0.0/12"),
        tenant_cidr_prefix=20,
        capacity=(CapacityEntry(gpu_type=SKU, az_id=AZ, count=count),),
        amis={SKU: PinnedImage(id="ami-0a1b2c3d4e5f60001", root_device="/dev/sda1")},
        internal_reserve=tuple(ReserveStep(gpu_type=SKU, az_id=AZ, nodes=n, start=D(day)) for n, day in steps),
    )


def tenant(name: str, nodes: int, term: str = "on-demand", start: str | None = "2026-12-01") -> TenantEntry:
    return TenantEntry(
        stack=f"tenant-{name}-us-east-1", name=name, region="us-east-1", cidr=ipaddress.IPv4Network("10.16.0.0/20"),
        gpu_type=SKU, az=AZ, nodes=nodes, capacity_type="reservation", egress="nat", org="organization", term=term,
        term_start=start,
    )  # fmt: skip


def registry(config: RegionConfig, *tenants: TenantEntry, retired: tuple[Tombstone, ...] = ()) -> Registry:
    return Registry(regions={"us-east-1": config}, tenants=list(tenants), problems={}, retired=list(retired))


@pytest.mark.parametrize(
    ("day", "nodes"),
    [("2027-02-28", 0), ("2027-03-01", 4), ("2027-06-30", 4), ("2027-07-01", 10), ("2028-01-01", 0)],
)
def test_the_latest_step_on_or_before_a_day_applies(day: str, nodes: int) -> None:
    schedule = region((10, "2027-07-01"), (4, "2027-03-01"), (0, "2028-01-01"))  # in any order in the file
    assert reserved_on(schedule, SKU, AZ, D(day)) == nodes


def test_a_term_that_ends_before_the_step_fits_and_one_that_crosses_it_does_not() -> None:
    config = region((10, "2027-05-01"))
    reg = registry(config, tenant("acme", 2))
    one_month = term_window("1-month", TODAY.isoformat(), TODAY)
    assert one_month == (TODAY, D("2027-01-07"))
    assert crossing(reg, config, SKU, AZ, 14, *one_month, today=TODAY) is None
    year = term_window("12-month", TODAY.isoformat(), TODAY)
    found = crossing(reg, config, SKU, AZ, 6, *year, today=TODAY)
    assert found is not None
    assert (found.day, found.reserved, found.leasable, found.fits_before) == (D("2027-05-01"), 10, 4, 14)
    message = found.message("tenant beta")
    assert "from 2027-05-01 the internal reserve keeps 10 p5.48xlarge nodes in use1-az4" in message
    assert "leaving 4 for tenants, 6 asked; until 2027-05-01, 14 fit (a 1-month term, to 2027-01-07, fits)" in message
    assert crossing(reg, config, SKU, AZ, 4, *year, today=TODAY) is None  # 4 fit on every day
    assert leasable_through(reg, config, SKU, AZ, *year, today=TODAY) == 4


def test_a_term_that_has_ended_without_the_tenant_leaving_runs_on() -> None:
    assert term_window("1-month", "2026-10-01", TODAY) == (TODAY, None)
    assert term_window("1-month", "2026-11-10", TODAY) == (TODAY, D("2026-12-10"))


def test_on_demand_is_checked_against_every_future_step() -> None:
    config = region((2, "2027-01-01"), (12, "2030-01-01"))
    window = term_window("on-demand", TODAY.isoformat(), TODAY)
    assert window == (TODAY, None)
    found = crossing(registry(config), config, SKU, AZ, 5, *window, today=TODAY)
    assert found is not None and found.day == D("2030-01-01") and found.fits_before == 14


def test_a_reserve_in_force_today_leaves_no_shorter_term_to_offer() -> None:
    config = region((15, "2026-01-01"))
    found = crossing(registry(config), config, SKU, AZ, 2, *term_window("1-month", None, TODAY), today=TODAY)
    assert found is not None and found.day == TODAY and found.fits_before is None
    assert "until" not in found.message("tenant beta")


def test_a_tenant_counts_until_its_term_ends_but_forever_once_it_has_ended_without_leaving() -> None:
    config = region((10, "2027-05-01"))
    year = term_window("12-month", TODAY.isoformat(), TODAY)
    ending = tenant("acme", 6, "1-month", "2026-12-01")  # ends 2027-01-01: gone by the step
    assert leasable_through(registry(config, ending), config, SKU, AZ, *year, today=TODAY) == 6
    ended = tenant("acme", 6, "1-month", "2026-10-01")  # ended 2026-11-01 and still there: it holds on
    assert leasable_through(registry(config, ended), config, SKU, AZ, *year, today=TODAY) == 0


def test_an_offboarded_tenant_holds_until_its_grace_period_ends() -> None:
    config = region((10, "2027-01-10"))
    gone = Tombstone(stack="tenant-old-us-east-1", region="us-east-1", cidr=ipaddress.IPv4Network("10.16.16.0/20"),
                     gpu_type=SKU, az=AZ, nodes=6, since=D("2026-12-01"), until=D("2027-01-09"))  # fmt: skip
    reg = registry(config, retired=(gone,))
    window = (TODAY, D("2027-01-10"))
    assert leasable_through(reg, config, SKU, AZ, *window, today=TODAY) == 10  # its 6 until the 9th, inclusive
    assert leasable_through(reg, config, SKU, AZ, TODAY, D("2027-02-01"), today=TODAY) == 6  # then the reserve's 10
    assert list(collisions(reg, TODAY)) == []


def test_a_step_added_after_tenants_were_onboarded_is_a_collision_naming_them() -> None:
    config = region((12, "2027-06-01"))
    reg = registry(config, tenant("acme", 2, "12-month", "2026-12-01"), tenant("beta", 4),
                   tenant("gone", 8, "1-month", "2026-12-01"))  # fmt: skip  # gone's term ends before the step
    (found,) = collisions(reg, TODAY)
    assert (found.day, found.reserved, found.carved, found.short, found.tenants) == (
        D("2027-06-01"),
        12,
        6,
        2,
        ("acme", "beta"),
    )
    assert "from 2027-06-01 the internal reserve keeps 12 of 16 nodes, but tenants hold 6 then (acme, beta): 2 " in (
        found.message()
    )
    assert list(collisions(registry(region((10, "2027-06-01")), tenant("acme", 6)), TODAY)) == []


REGION_RAW: dict[str, Any] = {
    "aws:region": "us-east-1",
    "gpucloud:kind": "region",
    "gpucloud:region": "us-east-1",
    "gpucloud:org": "organization",
    "gpucloud:tenantSupernet": "10.16.0.0/12",
    "gpucloud:tenantCidrPrefix": 20,
    "gpucloud:capacity": [
        {"gpuType": SKU, "az": AZ, "count": 16},
        {
            "gpuType": "p5en.48xlarge",
            "az": "use1-az6",
            "count": 4,
            "capacityBlockId": "cr-0123456789abcdef0",
            "capacityBlockEnd": "2027-01-31T11:30:00Z",
        },
    ],
    "gpucloud:amis": {
        SKU: {"id": "ami-0a1b2c3d4e5f60001", "rootDevice": "/dev/sda1"},
        "p5en.48xlarge": {"id": "ami-0a1b2c3d4e5f60001", "rootDevice": "/dev/sda1"},
    },
}


def parse(reserve: Any) -> RegionConfig:
    config = config_from_namespaced("region-us-east-1", {**REGION_RAW, "gpucloud:internalReserve": reserve})
    assert isinstance(config, RegionConfig)
    return config


def test_the_config_reads_steps_from_yaml_dates_and_from_pulumis_text() -> None:
    parsed = parse([{"gpuType": SKU, "az": AZ, "nodes": 4, "from": D("2027-03-01")},
                    {"gpuType": SKU, "az": AZ, "nodes": "2", "from": "2027-01-01"},
                    {"gpuType": "p5en.48xlarge", "az": "use1-az6", "nodes": 4, "from": "2027-01-01"}])  # fmt: skip
    assert [(s.gpu_type, s.nodes, s.start) for s in parsed.internal_reserve] == [
        (SKU, 2, D("2027-01-01")), (SKU, 4, D("2027-03-01")), ("p5en.48xlarge", 4, D("2027-01-01"))
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        (
            {"gpuType": "g6e.48xlarge", "az": AZ, "nodes": 1, "from": "2027-01-01"},
            "internalReserve[0].gpuType='g6e.48xlarge': the region holds no g6e.48xlarge",
        ),
        (
            {"gpuType": SKU, "az": "use1-az6", "nodes": 1, "from": "2027-01-01"},
            "internalReserve[0].az='use1-az6': the region holds p5.48xlarge in use1-az4 only",
        ),
        (
            {"gpuType": SKU, "az": AZ, "nodes": 17, "from": "2027-01-01"},
            "internalReserve[0].nodes=17: want a whole number between 0 and 16",
        ),
        ({"gpuType": SKU, "az": AZ, "nodes": -1, "from": "2027-01-01"}, "internalReserve[0].nodes=-1"),
        (
            {"gpuType": "p5en.48xlarge", "az": "use1-az6", "nodes": 2, "from": "2027-01-01"},
            "shared whole with one tenant: reserve all 4 of its nodes or none",
        ),
        (
            {"gpuType": SKU, "az": AZ, "nodes": 1, "from": "next spring"},
            "internalReserve[0].from='next spring': want a day, YYYY-MM-DD",
        ),
        ({"gpuType": SKU, "az": AZ, "nodes": 1, "from": "2027-02-30"}, "want a day, YYYY-MM-DD"),
        ({"gpuType": SKU, "az": AZ, "nodes": 1, "from": "2027-01-01T10:00:00Z"}, "want a day, YYYY-MM-DD"),
        ({"gpuType": SKU, "az": AZ, "nodes": 1}, "internalReserve[0]={"),
        (
            {"gpuType": SKU, "az": AZ, "nodes": 1, "from": "2027-01-01", "until": "2028-01-01"},
            "want a mapping of exactly gpuType, az, nodes, from",
        ),
    ],
)
def test_a_bad_step_is_refused_naming_the_key_and_what_is_allowed(step: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse([step])
    assert needle in str(refused.value) and "\n" not in str(refused.value)


def test_two_steps_from_the_same_day_and_a_reserve_that_is_no_list_are_refused() -> None:
    step = {"gpuType": SKU, "az": AZ, "nodes": 1, "from": "2027-01-01"}
    with pytest.raises(ConfigError, match="has two steps from 2027-01-01; keep one"):
        parse([step, {**step, "nodes": 2}])
    with pytest.raises(ConfigError, match=r"internalReserve=.*want a list of \{gpuType, az, nodes, from"):
        parse(step)
