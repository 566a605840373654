"""Our own accounts by duty and the organization-wide audit services (data/landing_zone.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import CatalogError
from gpucloud.names import RESERVED_TENANT_NAMES

LOG_ARCHIVE, SECURITY, CAPACITY = "log-archive", "security", "capacity"


@dataclass(frozen=True, kw_only=True)
class ConfigRule:
    name: str
    identifier: str


@dataclass(frozen=True, kw_only=True)
class LandingZone:
    core_ou_name: str
    core_accounts: dict[str, str]  # duty -> what the account holds
    trusted_services: tuple[str, ...]
    config_delegated_services: tuple[str, ...]
    config_rules: tuple[ConfigRule, ...]
    config_aggregator_policy: str
    object_lock_mode: str


@cache
def load_landing_zone() -> LandingZone:
    where = "gpucloud/data/landing_zone.yaml"
    doc = load_data_file("landing_zone.yaml")
    accounts = require(doc, "core_accounts", dict, where)
    if set(accounts) != {LOG_ARCHIVE, SECURITY, CAPACITY} or not set(accounts) <= RESERVED_TENANT_NAMES:
        raise CatalogError(f"{where}: core_accounts must be {LOG_ARCHIVE}, {SECURITY}, {CAPACITY} (reserved names)")
    return LandingZone(
        core_ou_name=require(doc, "core_ou_name", str, where),
        core_accounts={str(k): str(v) for k, v in accounts.items()},
        trusted_services=tuple(require(doc, "trusted_services", list, where)),
        config_delegated_services=tuple(require(doc, "config_delegated_services", list, where)),
        config_rules=tuple(
            ConfigRule(name=r["name"], identifier=r["identifier"]) for r in require(doc, "config_rules", list, where)
        ),
        config_aggregator_policy=require(doc, "config_aggregator_policy", str, where),
        object_lock_mode=require(doc, "object_lock_mode", str, where),
    )
