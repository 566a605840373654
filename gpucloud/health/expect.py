"""What a healthy node looks like: the catalog entry of its SKU, the pinned driver branch, thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from gpucloud.catalog import GpuSku, load_catalog
from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import ConfigError

AUTO = "auto"  # --expect auto: read the instance type from the EC2 instance metadata service


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    driver_branch: str
    memory_below: float
    memory_above: float
    nvlink_warn_above: int
    nvlink_fail_above: int
    critical_xids: frozenset[int]
    xid_lookback_hours: float
    mig_enabled: bool
    nvml_timeout_s: float
    kernel_log_timeout_s: float
    dcgm_timeout_s: float
    metadata_timeout_s: float


@dataclass(frozen=True, kw_only=True)
class Expectation:
    sku: GpuSku | None  # None: nothing said about which SKU this is; identity checks WARN
    limits: Thresholds


def load_thresholds() -> Thresholds:
    health = load_data_file("health.yaml")
    pins = load_data_file("node_software.yaml")
    where = "health.yaml"
    nvlink = require(health, "nvlink_errors", dict, where)
    timeouts = require(health, "timeouts", dict, where)
    return Thresholds(
        driver_branch=str(require(pins, "nvidia_driver_branch", str, "node_software.yaml")),
        memory_below=float(require(health, "memory_tolerance_below", float, where)),
        memory_above=float(require(health, "memory_tolerance_above", float, where)),
        nvlink_warn_above=int(require(nvlink, "warn_above", int, f"{where}: nvlink_errors")),
        nvlink_fail_above=int(require(nvlink, "fail_above", int, f"{where}: nvlink_errors")),
        critical_xids=frozenset(int(x) for x in require(health, "critical_xids", list, where)),
        xid_lookback_hours=float(require(health, "xid_lookback_hours", (int, float), where)),
        mig_enabled=require(health, "mig_expected", str, where) == "enabled",
        nvml_timeout_s=float(require(timeouts, "nvml_s", (int, float), f"{where}: timeouts")),
        kernel_log_timeout_s=float(require(timeouts, "kernel_log_s", (int, float), f"{where}: timeouts")),
        dcgm_timeout_s=float(require(timeouts, "dcgm_s", (int, float), f"{where}: timeouts")),
        metadata_timeout_s=float(require(timeouts, "metadata_s", (int, float), f"{where}: timeouts")),
    )


def sku_named(name: str) -> GpuSku:
    """The catalog entry of ``name``; a ConfigError (exit 2) naming the SKUs there are otherwise."""
    catalog = load_catalog()
    if name not in catalog.skus:
        raise ConfigError(f"--expect={name!r}: unknown SKU; allowed: {', '.join(catalog.names())}, or {AUTO}")
    return catalog.skus[name]
