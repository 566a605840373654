"""Our account's On-Demand vCPU quotas per region (``data/quotas.yaml``), and what a set of reservations needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from gpucloud.catalog import Catalog
from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import CatalogError, ConfigError
from gpucloud.organization.guardrails import load_guardrails


@dataclass(frozen=True, kw_only=True)
class QuotaTable:
    recorded: str
    regions: dict[str, dict[str, int]]  # region -> quota code -> vCPUs
    future_dated_families: tuple[str, ...]


@cache
def load_quotas() -> QuotaTable:
    where = "gpucloud/data/quotas.yaml"
    doc = load_data_file("quotas.yaml")
    regions = require(doc, "regions", dict, where)
    for region, codes in regions.items():
        if not isinstance(codes, dict) or not all(isinstance(v, int) and v >= 0 for v in codes.values()):
            raise CatalogError(f"{where}: {region}: want quota code -> vCPUs (a whole number >= 0)")
    return QuotaTable(
        recorded=require(doc, "recorded", str, where),
        regions=regions,
        future_dated_families=tuple(require(doc, "future_dated_families", list, where)),
    )


def check_quotas(region: str, wanted: Iterable[tuple[str, int]], catalog: Catalog) -> None:
    """Refuse reservations (SKU, count) whose vCPUs exceed a quota recorded for ``region``, naming the code."""
    table = load_quotas()
    recorded = table.regions.get(region)
    if recorded is None:
        raise ConfigError(
            f"no On-Demand vCPU quota recorded for {region} in gpucloud/data/quotas.yaml: record ours there "
            "(aws service-quotas get-service-quota --service-code ec2 --quota-code L-417A185B --region "
            f"{region}) before reserving capacity"
        )
    needed: dict[str, int] = {}
    for sku, count in wanted:
        quota = load_guardrails().quota_for(sku)
        if quota is not None:
            needed[quota["code"]] = needed.get(quota["code"], 0) + count * catalog.get(sku).vcpu
    for code, vcpus in sorted(needed.items()):
        limit = recorded.get(code, 0)
        if vcpus > limit:
            raise ConfigError(
                f"--capacity: {vcpus} vCPUs count against quota {code} in {region}, which is {limit} "
                f"(gpucloud/data/quotas.yaml, recorded {table.recorded}); request an increase first"
            )
