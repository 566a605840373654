"""Tombstones of offboarded tenants: written, read back, refused when malformed, honoured by validate."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import replace

import pytest

from gpucloud.errors import ConfigError
from gpucloud.registry import Registry, TenantEntry
from gpucloud.tenants.retired import Tombstone, parse_retired, render_retired
from gpucloud.validate import check_registry

STONE = Tombstone(
    stack="tenant-beta-us-east-1",
    region="us-east-1",
    cidr=ipaddress.IPv4Network("10.16.16.0/20"),
    gpu_type="p5.48xlarge",
    az="use1-az4",
    nodes=4,
    since=datetime.date(2026, 11, 27),
    until=datetime.date(2026, 12, 27),
)


def test_tombstones_round_trip_and_expire() -> None:
    assert parse_retired(render_retired([STONE])) == [STONE]
    assert STONE.active(datetime.date(2026, 12, 27)) and not STONE.active(datetime.date(2026, 12, 28))


def test_a_malformed_tombstone_is_named() -> None:
    with pytest.raises(ConfigError, match=r"retired\[0\]: 'cidr'"):
        parse_retired("retired:\n  - {stack: x, region: us-east-1}\n")


def test_validate_counts_a_retired_cidr_and_capacity_as_taken(sample_registry: Registry) -> None:
    acme = sample_registry.tenants[0]
    clash = replace(acme, stack="tenant-zeta-us-east-1", name="zeta", cidr=STONE.cidr, nodes=11)
    registry = replace(sample_registry, tenants=[acme, clash], retired=[STONE])
    found = check_registry(registry, 3).problems
    overlaps = [p for p in found if p.check == "cidr-disjoint"]
    assert len(overlaps) == 1 and "tenant-zeta-us-east-1" in f"{overlaps[0].stack} {overlaps[0].message}"
    assert "retired until 2026-12-27" in f"{overlaps[0].stack} {overlaps[0].message}"
    assert ("capacity", "region-us-east-1") in {(p.check, p.stack) for p in found}  # 2 + 11 + 4 retired > 16


@pytest.fixture
def sample_registry(repo_root: object) -> Registry:
    from pathlib import Path

    from gpucloud.registry import load_registry
    from gpucloud.repo import Repository

    registry = load_registry(Repository(Path(str(repo_root))), use_cache=False)
    assert [t.name for t in registry.tenants] == ["acme"] and isinstance(registry.tenants[0], TenantEntry)
    return registry
