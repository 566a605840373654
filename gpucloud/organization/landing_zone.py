"""Our own accounts by duty and the organization-wide audit services (data/landing_zone.yaml)."""

from __future__ import annotations

import re
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
    audit_bucket_prefix: str  # every audit bucket's name starts so; the organization trail records its objects

    def audit_bucket_prefix_for(self, what: str) -> str:
        """The bucket-name prefix of one kind of audit bucket, under ``audit_bucket_prefix``."""
        return f"{self.audit_bucket_prefix}{what}-"


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
        audit_bucket_prefix=_bucket_prefix(require(doc, "audit_bucket_prefix", str, where), where),
    )


BUCKET_PREFIX_MAX = 37  # S3's 63 characters less the 26 of the unique suffix pulumi-aws adds to a bucketPrefix
_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]*-")


def _bucket_prefix(prefix: str, where: str) -> str:
    # Room for the longest kind of audit bucket we name under it (a region name and a word).
    if not _PREFIX.fullmatch(prefix) or len(prefix) + len("ap-southeast-2-") > BUCKET_PREFIX_MAX:
        raise CatalogError(f"{where}: audit_bucket_prefix {prefix!r} must be lowercase, end in '-', and leave room")
    return prefix
