"""The registry: every region and tenant the repository's stack configs declare, and what they hold.

Stack config files in ``stacks/`` are the registry (reviewed in git). This module reads them all and
answers what onboarding, listing and ``validate`` ask: which tenants a region has, which CIDRs they
took, how much GPU capacity per SKU and AZ is still free.

Each tenant file is parsed and checked in full once; what it declares is then kept in a cache in
``.gpucloud/`` (git ignores it), so a region with a thousand tenants does not re-parse a thousand YAML files on
every onboarding. The cache is keyed by the file's contents (SHA-256) and by the code and data that parse it
(``_PARSER_FILES``): a hit is exact. (It was keyed by size and modification time, and a file edited to another
value of the same length with its time kept, as ``cp -p``, rsync or a quick ``git checkout`` leave it, was
answered from its old contents: an overlapping CIDR passed ``validate``.)
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import ipaddress
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gpucloud.choices import closest, did_you_mean
from gpucloud.config import AccountConfig, OrgConfig, RegionConfig, StackConfig, TenantConfig
from gpucloud.errors import ConfigError, GpucloudError
from gpucloud.repo import Repository
from gpucloud.tenants.retired import RETIRED_FILE, Tombstone, parse_retired

CACHE_FILE = "registry-cache.json"


def iso(when: datetime.datetime | None) -> str | None:
    """A UTC time as the stack configs write it: 2026-12-31T11:30:00Z."""
    return None if when is None else when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


CACHE_VERSION = 8


@dataclass(frozen=True, kw_only=True)
class TenantEntry:
    """What one tenant stack declares, as the registry needs it."""

    stack: str
    name: str
    region: str
    cidr: ipaddress.IPv4Network
    gpu_type: str
    az: str
    nodes: int
    capacity_type: str
    egress: str
    org: str
    capacity_ends: str | None = None  # a Capacity Block's end, ISO 8601 UTC
    leaving: str | None = None  # the date offboarding began (ISO), while its stack is being destroyed
    scheduler: str = "none"  # "slurm" (a head node and a Slurm cluster) or "none" (bare GPU nodes)
    head_node_type: str | None = None
    term: str = "on-demand"  # the rate card term (data/rate_card.yaml)
    term_start: str | None = None  # the day it began (ISO)

    @classmethod
    def of(cls, config: TenantConfig) -> TenantEntry:
        return cls(
            stack=config.stack,
            name=config.tenant,
            region=config.region,
            cidr=config.cidr,
            gpu_type=config.node_pool.gpu_type,
            az=config.node_pool.az_id,
            nodes=config.node_pool.nodes,
            capacity_type=config.node_pool.capacity_type,
            egress=config.egress,
            org=config.org,
            capacity_ends=iso(config.node_pool.capacity_ends),
            leaving=None if config.leaving is None else config.leaving.isoformat(),
            scheduler=config.cluster.scheduler,
            head_node_type=config.cluster.head_node_type,
            term=config.term,
            term_start=None if config.term_start is None else config.term_start.isoformat(),
        )

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["cidr"] = str(self.cidr)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TenantEntry:
        return cls(**{**doc, "cidr": ipaddress.IPv4Network(doc["cidr"])})


@dataclass(frozen=True, kw_only=True)
class AccountEntry:
    """What one tenant's account stack declares."""

    stack: str
    name: str
    display_name: str
    org: str
    email: str | None
    account_id: str | None
    admin_principals: tuple[str, ...]
    leaving: str | None = None

    @classmethod
    def of(cls, config: AccountConfig) -> AccountEntry:
        return cls(
            stack=config.stack,
            name=config.tenant,
            display_name=config.display_name,
            org=config.org,
            email=config.email,
            account_id=config.account_id,
            admin_principals=config.admin_principals,
            leaving=None if config.leaving is None else config.leaving.isoformat(),
        )

    @property
    def label(self) -> str:
        """How a person reads the account: its id once known, else the e-mail it is being created with."""
        return self.account_id or f"new: {self.email}"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "admin_principals": list(self.admin_principals)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AccountEntry:
        return cls(**{**doc, "admin_principals": tuple(doc["admin_principals"])})


@dataclass(frozen=True)
class Registry:
    regions: dict[str, RegionConfig]  # by AWS region code
    tenants: list[TenantEntry]  # sorted by stack name
    problems: dict[str, str]  # stacks whose config does not load: stack -> what is wrong
    accounts: dict[str, AccountEntry] = field(default_factory=dict)  # by tenant name
    org: OrgConfig | None = None
    retired: list[Tombstone] = field(default_factory=list)  # offboarded tenants' holdings, still in their grace

    def account(self, tenant: str) -> AccountEntry | None:
        return self.accounts.get(tenant)

    def regions_of(self, tenant: str) -> list[TenantEntry]:
        return [t for t in self.tenants if t.name == tenant]

    def require_region(self, region: str, *, option: str = "--region", then: str = "") -> RegionConfig:
        """The region stack of ``region``, or the one refusal every ``--region`` gives: the value, the closest region
        that has a stack, and the ones that do (``then``: what to do about it)."""
        found = self.regions.get(region)
        if found is None:
            have = list(self.regions)
            raise ConfigError(
                f"{option}={region!r}: no region stack for it{did_you_mean(region, have)}; regions with a stack: "
                f"{closest(region, have)}{then}"
            )
        return found

    def unknown_tenant(self, name: str, region: str, *, lead: str = "", then: str = "") -> ConfigError:
        """The one refusal for a tenant name that is not onboarded in ``region``: the closest name there first."""
        there = [t.name for t in self.tenants_in(region)]
        return ConfigError(
            f"{lead}no tenant {name!r} in region {region!r}{did_you_mean(name, there)}; tenants there: "
            f"{closest(name, there)}{then}"
        )

    def tenants_in(self, region: str) -> list[TenantEntry]:
        return [t for t in self.tenants if t.region == region]

    def tenant(self, name: str, region: str) -> TenantEntry | None:
        return next((t for t in self.tenants if t.name == name and t.region == region), None)

    def held(self, region: str, gpu_type: str, az: str, *, excluding: str | None = None) -> int:
        """Nodes of ``gpu_type`` in ``az`` that the region's tenants (but ``excluding``, a stack) hold, retired
        tenants in their grace period included."""
        holders: list[TenantEntry | Tombstone] = [*self.tenants, *self.retired]
        return sum(
            t.nodes
            for t in holders
            if t.region == region and t.gpu_type == gpu_type and t.az == az and t.stack != excluding
        )

    def taken_cidrs(self) -> list[ipaddress.IPv4Network]:
        """Every tenant CIDR allocation must avoid: live tenants' and retired ones' still in their grace."""
        return [t.cidr for t in self.tenants] + [r.cidr for r in self.retired]

    def remaining(self, region: RegionConfig, gpu_type: str, *, excluding: str | None = None) -> dict[str, int]:
        """Free nodes of ``gpu_type`` per AZ of ``region``, in the order its capacity lists them."""
        return {
            entry.az_id: entry.count - self.held(region.region, gpu_type, entry.az_id, excluding=excluding)
            for entry in region.capacity
            if entry.gpu_type == gpu_type
        }


# What a cached answer depends on besides the stack file itself: the code that parses and checks it, and the data
# files that code reads (regions, catalog, rates...).
_PARSER_FILES = ("config.py", "registry.py", "tenants/retired.py", "data")


@functools.cache
def _parser_fingerprint() -> str:
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _PARSER_FILES:
        path = package / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and file.suffix in (".py", ".yaml"):
                digest.update(str(file.relative_to(package)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _content_key(path: Path) -> list[str]:
    return [hashlib.sha256(path.read_bytes()).hexdigest(), _parser_fingerprint()]


class _Cache:
    def __init__(self, repo: Repository) -> None:
        self.path = repo.root / ".gpucloud" / CACHE_FILE
        self.entries: dict[str, Any] = {}
        self.dirty = False
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and doc.get("version") == CACHE_VERSION:
                self.entries = doc.get("stacks", {})

    def get(self, stack: str, key: list[str]) -> dict[str, Any] | None:
        hit = self.entries.get(stack)
        return hit if isinstance(hit, dict) and hit.get("key") == key else None

    def put(self, stack: str, key: list[str], value: dict[str, Any]) -> None:
        self.entries[stack] = {"key": key, **value}
        self.dirty = True

    def save(self, live: Iterable[str]) -> None:
        keep = set(live)
        if set(self.entries) - keep:
            self.entries = {k: v for k, v in self.entries.items() if k in keep}
            self.dirty = True
        if not self.dirty:
            return
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            self.path.parent.mkdir(exist_ok=True)
            tmp = self.path.with_name(f".{CACHE_FILE}.{os.getpid()}")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "stacks": self.entries}), encoding="utf-8")
            os.replace(tmp, self.path)


# Stacks there can be many of are cached per file: tenants (one per tenant and region) and accounts.
_CACHED_KINDS: dict[str, type[TenantConfig] | type[AccountConfig]] = {
    "tenant-": TenantConfig,
    "account-": AccountConfig,
}


def load_registry(repo: Repository, *, use_cache: bool = True) -> Registry:
    """Every stack of ``repo``: org and regions parsed in full, tenants and accounts from the cache when their
    file is unchanged."""
    cache = _Cache(repo) if use_cache else None
    regions: dict[str, RegionConfig] = {}
    tenants: list[TenantEntry] = []
    accounts: dict[str, AccountEntry] = {}
    org: OrgConfig | None = None
    problems: dict[str, str] = {}
    stacks = repo.stacks()
    for stack in stacks:
        prefix = next((p for p in _CACHED_KINDS if stack.startswith(p)), None)
        if prefix is not None:
            key = _content_key(repo.stack_file(stack))
            hit = cache.get(stack, key) if cache else None
            if hit is None:
                hit = _parse_cached(repo, stack, _CACHED_KINDS[prefix])
                if cache:
                    cache.put(stack, key, hit)
            if "error" in hit:
                problems[stack] = hit["error"]
            elif "tenant" in hit:
                tenants.append(TenantEntry.from_json(hit["tenant"]))
            else:
                entry = AccountEntry.from_json(hit["account"])
                accounts[entry.name] = entry
            continue
        try:
            config = repo.load(stack)
        except GpucloudError as err:
            problems[stack] = str(err)
            continue
        if isinstance(config, RegionConfig):
            regions[config.region] = config
        elif isinstance(config, OrgConfig):
            org = config
        else:
            problems[stack] = f"stack {stack}: a {_kind(config)} stack's name must start with {_kind(config)}-"
    if cache:
        cache.save(stacks)
    retired: list[Tombstone] = []
    path = repo.root / RETIRED_FILE
    if path.is_file():
        try:
            today = datetime.datetime.now(datetime.UTC).date()
            retired = [s for s in parse_retired(path.read_text(encoding="utf-8")) if s.active(today)]
        except GpucloudError as err:
            problems[str(RETIRED_FILE)] = str(err)
    return Registry(regions=regions, tenants=tenants, problems=problems, accounts=accounts, org=org, retired=retired)


def _kind(config: StackConfig) -> str:
    return "tenant" if isinstance(config, TenantConfig) else "account"


def _parse_cached(repo: Repository, stack: str, kind: type[TenantConfig] | type[AccountConfig]) -> dict[str, Any]:
    try:
        config = repo.load(stack)
    except GpucloudError as err:
        return {"error": str(err)}
    if isinstance(config, TenantConfig) and kind is TenantConfig:
        return {"tenant": TenantEntry.of(config).as_json()}
    if isinstance(config, AccountConfig) and kind is AccountConfig:
        return {"account": AccountEntry.of(config).as_json()}
    return {"error": f"stack {stack}: its name says {kind.__name__}, its config says {type(config).__name__}"}
