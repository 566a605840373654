"""The GPU catalog: what each EC2 GPU instance type is, read from ``data/catalog.yaml``.

Every number comes from the data file (with its source and date there); this module only
loads and validates it, so a typo in the file fails loudly at load instead of mis-sizing a node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import CatalogError, ConfigError

PRICING_MODELS = ("on-demand", "capacity-block")
ARCHITECTURES = ("ampere", "ada", "hopper", "blackwell")


@dataclass(frozen=True, kw_only=True)
class GpuSku:
    """One EC2 GPU instance type as the catalog describes it."""

    instance_type: str
    gpu_model: str
    architecture: str
    gpu_count: int
    gpu_memory_gb: int
    vcpu: int
    memory_gib: int
    network_gbps: int
    efa_interfaces: int
    nvswitch: bool
    nvlinks_per_gpu: int
    pricing_model: str
    price_usd_hour: float | None
    regions: tuple[str, ...]

    @property
    def needs_fabric_manager(self) -> bool:
        """NVSwitch systems run NVIDIA Fabric Manager; PCIe systems must not."""
        return self.nvswitch

    def offered_in(self, region: str) -> bool:
        return region in self.regions


@dataclass(frozen=True, kw_only=True)
class HeadNodeType:
    """A CPU instance type a cluster's head node (Slurm controller and login node) may be."""

    instance_type: str
    vcpu: int
    memory_gib: int
    regions: tuple[str, ...]

    def offered_in(self, region: str) -> bool:
        return region in self.regions


@dataclass(frozen=True, kw_only=True)
class Catalog:
    catalog_date: str
    price_region: str
    price_source: str
    skus: dict[str, GpuSku]
    head_node_types: dict[str, HeadNodeType]
    default_head_node_type: str

    def head_node_types_in(self, region: str) -> list[str]:
        return sorted(name for name, kind in self.head_node_types.items() if kind.offered_in(region))

    def names(self) -> list[str]:
        return sorted(self.skus)

    def get(self, instance_type: str) -> GpuSku:
        """The SKU; a ConfigError naming the known SKUs when it is not in the catalog."""
        try:
            return self.skus[instance_type]
        except KeyError:
            raise ConfigError(
                f"unknown GPU type {instance_type!r}; the catalog has: {', '.join(self.names())}"
            ) from None

    def offered_in(self, region: str) -> list[str]:
        return [name for name in self.names() if self.skus[name].offered_in(region)]


def parse_sku(name: str, doc: Any) -> GpuSku:
    where = f"catalog.yaml: {name}"
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: want a mapping")
    known = set(GpuSku.__dataclass_fields__) - {"instance_type"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise CatalogError(f"{where}: unknown keys {unknown}; allowed: {sorted(known)}")
    ints = {
        key: require(doc, key, int, where)
        for key in (
            "gpu_count",
            "gpu_memory_gb",
            "vcpu",
            "memory_gib",
            "network_gbps",
            "efa_interfaces",
            "nvlinks_per_gpu",
        )
    }
    for key, value in ints.items():
        low = 0 if key in ("efa_interfaces", "nvlinks_per_gpu") else 1
        if value < low:
            raise CatalogError(f"{where}: {key}={value} must be >= {low}")
    pricing_model = require(doc, "pricing_model", str, where)
    if pricing_model not in PRICING_MODELS:
        raise CatalogError(f"{where}: pricing_model={pricing_model!r}; allowed: {', '.join(PRICING_MODELS)}")
    price = doc.get("price_usd_hour")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int | float) or price <= 0):
        raise CatalogError(f"{where}: price_usd_hour={price!r} must be a positive number or null")
    if price is None and pricing_model == "on-demand":
        raise CatalogError(f"{where}: an on-demand SKU needs price_usd_hour")
    architecture = require(doc, "architecture", str, where)
    if architecture not in ARCHITECTURES:
        raise CatalogError(f"{where}: architecture={architecture!r}; allowed: {', '.join(ARCHITECTURES)}")
    nvswitch = require(doc, "nvswitch", bool, where)
    if nvswitch and ints["nvlinks_per_gpu"] == 0:
        raise CatalogError(f"{where}: nvswitch=true needs nvlinks_per_gpu > 0")
    return GpuSku(
        instance_type=name,
        gpu_model=require(doc, "gpu_model", str, where),
        architecture=architecture,
        nvswitch=nvswitch,
        pricing_model=pricing_model,
        price_usd_hour=float(price) if price is not None else None,
        regions=_regions(doc, where),
        **ints,
    )


def _regions(doc: dict[str, Any], where: str) -> tuple[str, ...]:
    regions = require(doc, "regions", list, where)
    if not regions or not all(isinstance(r, str) for r in regions):
        raise CatalogError(f"{where}: regions must be a non-empty list of region codes")
    return tuple(regions)


def parse_head_node_type(name: str, doc: Any) -> HeadNodeType:
    where = f"catalog.yaml: head_node_types.{name}"
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: want a mapping")
    unknown = sorted(set(doc) - {"vcpu", "memory_gib", "regions"})
    if unknown:
        raise CatalogError(f"{where}: unknown keys {unknown}; allowed: memory_gib, regions, vcpu")
    sizes = {key: require(doc, key, int, where) for key in ("vcpu", "memory_gib")}
    for key, value in sizes.items():
        if value < 1:
            raise CatalogError(f"{where}: {key}={value} must be >= 1")
    return HeadNodeType(instance_type=name, regions=_regions(doc, where), **sizes)


def parse_catalog(doc: dict[str, Any]) -> Catalog:
    where = "catalog.yaml"
    types = require(doc, "instance_types", dict, where)
    if not types:
        raise CatalogError(f"{where}: instance_types is empty")
    heads = require(doc, "head_node_types", dict, where)
    default_head = require(doc, "default_head_node_type", str, where)
    if default_head not in heads:
        raise CatalogError(f"{where}: default_head_node_type={default_head!r} is not one of head_node_types")
    return Catalog(
        catalog_date=str(require(doc, "catalog_date", str, where)),
        price_region=require(doc, "price_region", str, where),
        price_source=require(doc, "price_source", str, where),
        skus={name: parse_sku(name, body) for name, body in types.items()},
        head_node_types={name: parse_head_node_type(name, body) for name, body in heads.items()},
        default_head_node_type=default_head,
    )


@cache
def load_catalog() -> Catalog:
    """The packaged catalog, parsed and validated once per process."""
    return parse_catalog(load_data_file("catalog.yaml"))
