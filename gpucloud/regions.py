"""AWS regions gpucloud can build in, with their AZ IDs, from ``data/regions.yaml``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache

from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import CatalogError, ConfigError


@dataclass(frozen=True, kw_only=True)
class AwsRegion:
    code: str
    name: str
    az_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RegionTable:
    address_plan: ipaddress.IPv4Network
    regions: dict[str, AwsRegion]
    region_supernet_prefix: int = 12
    tenant_cidr_prefix: int = 20

    def get(self, code: str) -> AwsRegion:
        try:
            return self.regions[code]
        except KeyError:
            raise ConfigError(f"unknown AWS region {code!r}; known: {', '.join(sorted(self.regions))}") from None


@cache
def load_regions() -> RegionTable:
    doc = load_data_file("regions.yaml")
    where = "regions.yaml"
    plan = ipaddress.ip_network(require(doc, "address_plan", str, where))
    if not isinstance(plan, ipaddress.IPv4Network):
        raise CatalogError(f"{where}: address_plan must be an IPv4 network")
    regions: dict[str, AwsRegion] = {}
    for code, body in require(doc, "regions", dict, where).items():
        azs = require(body, "azs", list, f"{where}: {code}")
        if not azs:
            raise CatalogError(f"{where}: {code} has no availability zones")
        regions[code] = AwsRegion(code=code, name=require(body, "name", str, f"{where}: {code}"), az_ids=tuple(azs))
    return RegionTable(
        address_plan=plan,
        regions=regions,
        region_supernet_prefix=require(doc, "region_supernet_prefix", int, where),
        tenant_cidr_prefix=require(doc, "tenant_cidr_prefix", int, where),
    )


def known_region(code: str, named: str) -> AwsRegion:
    """The AWS region ``code`` of regions.yaml, or the one refusal for a region no one knows (``named``: how the user
    gave it, ``--region='us-east1'``), with the closest known one."""
    from gpucloud.choices import closest, did_you_mean
    from gpucloud.errors import ConfigError

    regions = load_regions()
    if code not in regions.regions:
        known = list(regions.regions)
        raise ConfigError(f"{named}: unknown{did_you_mean(code, known)}; allowed: {closest(code, known)}")
    return regions.regions[code]
