"""Typed stack configuration: a stack's config file (or Pulumi's runtime config) as frozen objects.

A stack's kind (region or tenant), region and tenant are read from its config; the stack name must
agree. Every refusal is a ConfigError naming the stack, the key, the value and what is allowed.
Keys live in the ``gpucloud:`` namespace; README.md documents each of them.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpucloud.catalog import Catalog, load_catalog
from gpucloud.errors import ConfigError
from gpucloud.names import account_stack_name, check_tenant_name, region_stack_name, tenant_stack_name
from gpucloud.regions import RegionTable, load_regions

NAMESPACE = "gpucloud"
KINDS = ("org", "account", "region", "tenant")
EGRESS_MODES = ("nat", "none")
CAPACITY_TYPES = ("reservation", "capacity-block")
# A tenant's cluster: Slurm (a head node, MUNGE, slurmd on the GPU nodes) or bare GPU nodes.
SCHEDULERS = ("slurm", "none")
# Keys whose values are YAML objects or lists (Pulumi passes them to the program as JSON text).
STRUCTURED_KEYS = frozenset(
    {
        "capacity", "amis", "nodePool", "storage", "cluster", "term", "adminPrincipals", "servedRegions",
        "internalReserve",
    }
)  # fmt: skip
REGION_KEYS = frozenset(
    {"kind", "region", "org", "tenantSupernet", "tenantCidrPrefix", "capacity", "amis", "internalReserve"}
)
TENANT_KEYS = frozenset(
    {"kind", "tenant", "region", "org", "cidr", "nodePool", "storage", "cluster", "term", "egress", "leaving"}
)
ORG_KEYS = frozenset(
    {
        "kind", "region", "organizationId", "rootId", "servedRegions", "accessRoleName", "operationsRoleArn",
        "dataOperationsRoleArn", "accountMailbox", "auditRetentionDays",
    }
)  # fmt: skip
ACCOUNT_KEYS = frozenset(
    {"kind", "tenant", "region", "displayName", "org", "email", "accountId", "adminPrincipals", "leaving"}
)
ORG_STACK = "org"
AUDIT_RETENTION_DEFAULT_DAYS = 400  # a little over a year of audit logs, for incident look-backs
TENANT_PREFIX_RANGE = (16, 24)
FSX_STEP_TIB = 2.4  # FSx for Lustre PERSISTENT_2 / SSD: 1.2 TiB, 2.4 TiB, then steps of 2.4 TiB
ROOT_VOLUME_GIB_MIN = 100
ROOT_VOLUME_GIB_MAX = 16384  # a gp3 volume's largest size (EBS User Guide, "Amazon EBS volume types")
_AMI = re.compile(r"ami-[0-9a-f]{8}(?:[0-9a-f]{9})?")
_CAPACITY_BLOCK = re.compile(r"cr-[0-9a-f]{17}")
PRINCIPAL_PATTERN = re.compile(r"arn:aws:iam::\d{12}:(?:root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)", re.ASCII)
ORG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# AWS Organizations' own patterns (Organizations API reference: Organization.Id, Root.Id, Account.Id,
# CreateAccount Email), https://docs.aws.amazon.com/organizations/latest/APIReference/, recorded 2026-11-27.
ORGANIZATION_ID_PATTERN = re.compile(r"o-[a-z0-9]{10,32}", re.ASCII)
ROOT_ID_PATTERN = re.compile(r"r-[0-9a-z]{4,32}", re.ASCII)
ACCOUNT_ID_PATTERN = re.compile(r"\d{12}", re.ASCII)
# CreateAccount: 6 to 64 characters, one @; we also want a dot in the domain and no spaces.
EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+", re.ASCII)
EMAIL_LENGTH = (6, 64)
# An IAM role name (IAM API reference, CreateRole RoleName).
ROLE_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
ROLE_ARN_PATTERN = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", re.ASCII)
_PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True, kw_only=True)
class CapacityEntry:
    """GPU capacity the region holds for one SKU in one availability zone."""

    gpu_type: str
    az_id: str
    count: int
    capacity_block_id: str | None = None
    # When the Capacity Block ends (UTC): its instances are terminated then, so none may outlive it.
    capacity_block_end: datetime.datetime | None = None
    # When a Capacity Block bought ahead starts (UTC); None: it has (the block is held now).
    capacity_block_start: datetime.datetime | None = None

    @property
    def key(self) -> str:
        """How tenant stacks find this entry in the region's exports."""
        return f"{self.gpu_type}@{self.az_id}"

    @property
    def capacity_type(self) -> str:
        return "capacity-block" if self.capacity_block_id else "reservation"


@dataclass(frozen=True, kw_only=True)
class ReserveStep:
    """From ``start`` on, ``nodes`` of the region's ``gpu_type`` in ``az_id`` are ours: never leased to a tenant.
    A region's steps for one SKU and AZ form a schedule: on a day, the latest step on or before it applies
    (none yet: nothing reserved)."""

    gpu_type: str
    az_id: str
    nodes: int
    start: datetime.date  # the config's ``from``

    def as_json(self) -> dict[str, Any]:
        return {"gpuType": self.gpu_type, "az": self.az_id, "nodes": self.nodes, "from": self.start.isoformat()}


# Root device names an AMI may declare (EBS User Guide, "Device names for volumes on Amazon EC2 instances",
# https://docs.aws.amazon.com/ebs/latest/userguide/device_naming.html, recorded 2026-11-27): Ubuntu and most
# community images use /dev/sda1, Amazon Linux 2023 /dev/xvda. The launch template must name exactly the
# AMI's, or its encrypted volume becomes a blank second disk and the real root is not encrypted with the key.
ROOT_DEVICE_PATTERN = re.compile(r"/dev/(?:sd[a-z][0-9]*|xvd[a-z]{1,2})", re.ASCII)


@dataclass(frozen=True, kw_only=True)
class PinnedImage:
    """The GPU image a SKU boots in a region, with the root device name the AMI declares
    (``aws ec2 describe-images --image-ids AMI --query 'Images[0].RootDeviceName'``)."""

    id: str
    root_device: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "rootDevice": self.root_device}


@dataclass(frozen=True, kw_only=True)
class RegionConfig:
    stack: str
    region: str
    org: str  # the Pulumi organization of the stacks; the region reads the org stack there
    tenant_supernet: ipaddress.IPv4Network
    tenant_cidr_prefix: int
    capacity: tuple[CapacityEntry, ...]
    amis: Mapping[str, PinnedImage]
    internal_reserve: tuple[ReserveStep, ...] = ()  # sorted by SKU, AZ and start (gpucloud/capacity/reserve.py)

    @property
    def org_stack_ref(self) -> str:
        return f"{self.org}/gpucloud/{ORG_STACK}"

    def capacity_for(self, gpu_type: str, az_id: str) -> CapacityEntry | None:
        return next((c for c in self.capacity if c.gpu_type == gpu_type and c.az_id == az_id), None)


@dataclass(frozen=True, kw_only=True)
class NodePoolConfig:
    gpu_type: str
    nodes: int
    az_id: str
    root_volume_gib: int
    # What the region holds there: a capacity reservation (the tenant gets a carve of it) or a Capacity Block
    # (the tenant gets the whole block). Known to the program before `up`, so no resource waits on it.
    capacity_type: str
    # A Capacity Block's end, recorded beside the tenant: its nodes stop then (validate warns before).
    capacity_ends: datetime.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    bucket_tib: float
    fsx_tib: float | None


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """How the tenant's GPU nodes are handed over: as a Slurm cluster (with a head node) or bare."""

    scheduler: str  # one of SCHEDULERS
    head_node_type: str | None = None  # the head node's CPU instance type (catalog head_node_types); Slurm only

    @property
    def has_head_node(self) -> bool:
        return self.scheduler == "slurm"


# A tenant stack written before clusters existed has no gpucloud:cluster key: its nodes stay bare, as they were
# built, rather than gaining a head node on the next `pulumi up` nobody asked for.
BARE_NODES = ClusterConfig(scheduler="none")


@dataclass(frozen=True, kw_only=True)
class TenantConfig:
    """One tenant in one region: built in the tenant's own AWS account (its account stack)."""

    stack: str
    tenant: str
    region: str
    org: str
    cidr: ipaddress.IPv4Network
    node_pool: NodePoolConfig
    storage: StorageConfig
    egress: str
    cluster: ClusterConfig = BARE_NODES
    # The term the tenant signed on our rate card (gpucloud/data/rate_card.yaml) and the day it began; a stack
    # written before terms existed is on-demand from an unknown day.
    term: str = "on-demand"
    term_start: datetime.date | None = None
    leaving: datetime.date | None = None  # offboarding began then: destroy the stack, then remove the files

    @property
    def region_stack(self) -> str:
        return region_stack_name(self.region)

    @property
    def region_stack_ref(self) -> str:
        """The fully qualified name the tenant's StackReference reads: ``<org>/gpucloud/region-<r>``."""
        return f"{self.org}/gpucloud/{self.region_stack}"

    @property
    def account_stack(self) -> str:
        return account_stack_name(self.tenant)

    @property
    def account_stack_ref(self) -> str:
        return f"{self.org}/gpucloud/{self.account_stack}"


@dataclass(frozen=True, kw_only=True)
class OrgConfig:
    """Our AWS Organization: the tenant OU and the guardrails (SCPs) on it, the organization trail."""

    stack: str
    region: str  # the home region of the organization trail and of the org stack's API calls
    organization_id: str
    root_id: str
    served_regions: tuple[str, ...]
    access_role_name: str  # the role Organizations creates in each new account, which our stacks assume
    operations_role_arn: str  # our operators' role for nodes, trusted by the operator role in each tenant account
    data_operations_role_arn: str  # our operators' role for a tenant's data steps (offboarding), a duty of its own
    account_mailbox: str  # a mailbox of ours; each tenant account's root e-mail is its plus-address
    # How long the organization trail's objects are locked (S3 Object Lock, COMPLIANCE) and then kept.
    audit_retention_days: int = AUDIT_RETENTION_DEFAULT_DAYS

    def account_email(self, tenant: str) -> str:
        """The root e-mail of ``tenant``'s account: our mailbox, plus-addressed with the tenant's name. Ours, never
        the tenant's: whoever holds an account's mailbox can recover its root password."""
        local, domain = self.account_mailbox.split("@", 1)
        return f"{local}+{tenant}@{domain}"


@dataclass(frozen=True, kw_only=True)
class AccountConfig:
    """A tenant's AWS account: created in the tenant OU (``email``) or adopted (``account_id``)."""

    stack: str
    tenant: str
    region: str
    display_name: str
    org: str
    email: str | None
    account_id: str | None
    admin_principals: tuple[str, ...]
    leaving: datetime.date | None = None  # its last region is being offboarded

    @property
    def org_stack_ref(self) -> str:
        return f"{self.org}/gpucloud/{ORG_STACK}"


StackConfig = OrgConfig | AccountConfig | RegionConfig | TenantConfig


class _Reader:
    """Reads typed values out of one stack's raw config, with messages that name stack and key."""

    def __init__(self, stack: str, raw: Mapping[str, Any]) -> None:
        self.stack = stack
        self.raw = raw

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"stack {self.stack}: {NAMESPACE}:{key}={value!r}: {allowed}")

    def require(self, key: str) -> Any:
        if key not in self.raw or self.raw[key] is None:
            return self._missing(key)
        return self.raw[key]

    def _missing(self, key: str) -> Any:
        raise ConfigError(f"stack {self.stack}: missing required key {NAMESPACE}:{key}")

    def string(self, key: str, value: Any = None, *, field: str | None = None) -> str:
        value = self.require(key) if field is None else value
        label = key if field is None else f"{key}.{field}"
        if not isinstance(value, str) or not value.strip():
            raise self.fail(label, value, "want a non-empty string")
        return value

    def integer(self, label: str, value: Any, low: int, high: int | None = None) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)  # Pulumi hands scalar config to programs as text
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(label, value, f"want a whole number >= {low}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise self.fail(label, value, f"want a whole number {bound}")
        return value

    def number(self, label: str, value: Any) -> float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # Pulumi hands scalar config to programs as text
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(label, value, "want a positive number")
        return float(value)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.require(key)
        if not isinstance(value, Mapping):
            raise self.fail(key, value, "want a mapping")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.require(key)
        if value not in allowed:
            # YAML 1.1 reads yes/no/on/off unquoted as booleans: say so, rather than print True.
            read_as = " (YAML reads unquoted yes/no/on/off as true/false; quote it)" if isinstance(value, bool) else ""
            raise self.fail(key, value, f"allowed: {', '.join(allowed)}{read_as}")
        return str(value)

    def private_network(self, label: str, value: Any) -> ipaddress.IPv4Network:
        try:
            net = ipaddress.ip_network(value, strict=True) if isinstance(value, str) else None
        except ValueError:
            net = None
        if not isinstance(net, ipaddress.IPv4Network):
            raise self.fail(label, value, "want an IPv4 network in CIDR notation, e.g. 10.16.0.0/20")
        if not any(net.subnet_of(r) for r in _PRIVATE_RANGES):
            raise self.fail(label, value, "want a private range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return net

    def instant(self, label: str, value: Any) -> datetime.datetime:
        """A point in time in UTC, as ISO 8601 (YAML may already have read it as a datetime)."""
        when = value
        if isinstance(value, str):
            try:
                when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                when = None
        if not isinstance(when, datetime.datetime):
            raise self.fail(label, value, "want a UTC time in ISO 8601, e.g. 2026-12-31T11:30:00Z")
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when.astimezone(datetime.UTC)

    def section(self, key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        """The mapping at ``key``, refusing any key of it not in ``allowed``."""
        raw = self.mapping(key)
        extra = sorted(set(raw) - set(allowed))
        if extra:
            raise self.fail(f"{key}.{extra[0]}", raw[extra[0]], f"unknown key; allowed: {', '.join(allowed)}")
        return raw

    def unknown_keys(self, known: frozenset[str]) -> None:
        unknown = sorted(set(self.raw) - known)
        if unknown:
            raise ConfigError(
                f"stack {self.stack}: unknown key {NAMESPACE}:{unknown[0]}; allowed: " + ", ".join(sorted(known))
            )


def parse_stack_config(
    stack: str,
    raw: Mapping[str, Any],
    *,
    catalog: Catalog | None = None,
    regions: RegionTable | None = None,
) -> StackConfig:
    """The typed config of ``stack`` from its ``gpucloud:`` keys (namespace stripped)."""
    catalog = catalog or load_catalog()
    regions = regions or load_regions()
    read = _Reader(stack, raw)
    kind = read.choice("kind", KINDS)
    region = read.string("region")
    try:
        aws_region = regions.get(region)
    except ConfigError:
        raise read.fail("region", region, f"allowed: {', '.join(sorted(regions.regions))}") from None
    if kind == "org":
        read.unknown_keys(ORG_KEYS)
        return _parse_org(read, region, regions)
    if kind == "account":
        read.unknown_keys(ACCOUNT_KEYS)
        return _parse_account(read, region)
    if kind == "region":
        read.unknown_keys(REGION_KEYS)
        return _parse_region(read, region, aws_region.az_ids, catalog)
    read.unknown_keys(TENANT_KEYS)
    return _parse_tenant(read, region, aws_region.az_ids, catalog)


def _check_gpu_type(read: _Reader, label: str, value: Any, region: str, catalog: Catalog) -> str:
    if not isinstance(value, str) or value not in catalog.skus:
        raise read.fail(label, value, f"allowed: {', '.join(catalog.names())}")
    if not catalog.skus[value].offered_in(region):
        raise read.fail(
            label, value, f"not offered in {region}; offered there: {', '.join(catalog.offered_in(region)) or 'none'}"
        )
    return value


def _check_az(read: _Reader, label: str, value: Any, region: str, az_ids: tuple[str, ...]) -> str:
    if value not in az_ids:
        raise read.fail(label, value, f"want an AZ ID of {region}: {', '.join(az_ids)}")
    return str(value)


def _parse_region(read: _Reader, region: str, az_ids: tuple[str, ...], catalog: Catalog) -> RegionConfig:
    expected = region_stack_name(region)
    if read.stack != expected:
        raise ConfigError(f"stack {read.stack}: a region stack of {region} must be named {expected}")
    supernet = read.private_network("tenantSupernet", read.require("tenantSupernet"))
    prefix = read.integer(
        "tenantCidrPrefix",
        read.require("tenantCidrPrefix"),
        max(supernet.prefixlen + 1, TENANT_PREFIX_RANGE[0]),
        TENANT_PREFIX_RANGE[1],
    )
    entries_raw = read.require("capacity")
    if not isinstance(entries_raw, list) or not entries_raw:
        raise read.fail("capacity", entries_raw, "want a non-empty list of {gpuType, az, count}")
    entries: list[CapacityEntry] = []
    for i, item in enumerate(entries_raw):
        label = f"capacity[{i}]"
        if not isinstance(item, Mapping):
            raise read.fail(label, item, "want a mapping with gpuType, az, count")
        allowed = ("gpuType", "az", "count", "capacityBlockId", "capacityBlockStart", "capacityBlockEnd")
        if "startDate" in item or "commitmentDuration" in item:
            from gpucloud.quotas import load_quotas

            families = ", ".join(f.upper() for f in load_quotas().future_dated_families)
            raise read.fail(
                f"{label}.startDate",
                item.get("startDate"),
                f"AWS offers future-dated Capacity Reservations for the {families} families only "
                "(gpucloud/data/quotas.yaml): hold GPU capacity ahead with a Capacity Block "
                "(capacityBlockId, capacityBlockEnd)",
            )
        extra = sorted(set(item) - set(allowed))
        if extra:
            raise read.fail(f"{label}.{extra[0]}", item[extra[0]], f"unknown key; allowed: {', '.join(allowed)}")
        block = item.get("capacityBlockId")
        if block is not None and (not isinstance(block, str) or not _CAPACITY_BLOCK.fullmatch(block)):
            raise read.fail(f"{label}.capacityBlockId", block, "want a Capacity Block reservation id cr-<17 hex>")
        block_end = item.get("capacityBlockEnd")
        if (block is None) != (block_end is None):
            raise read.fail(
                f"{label}.capacityBlockEnd",
                block_end,
                "a Capacity Block needs its end (capacityBlockEnd) and only a Capacity Block has one",
            )
        block_start = item.get("capacityBlockStart")
        if block_start is not None and block is None:
            raise read.fail(
                f"{label}.capacityBlockStart", block_start, "only a Capacity Block (capacityBlockId) starts later"
            )
        entry = CapacityEntry(
            gpu_type=_check_gpu_type(read, f"{label}.gpuType", item.get("gpuType"), region, catalog),
            az_id=_check_az(read, f"{label}.az", item.get("az"), region, az_ids),
            count=read.integer(f"{label}.count", item.get("count"), 1),
            capacity_block_id=block,
            capacity_block_end=None if block_end is None else read.instant(f"{label}.capacityBlockEnd", block_end),
            capacity_block_start=(
                None if block_start is None else read.instant(f"{label}.capacityBlockStart", block_start)
            ),
        )
        if (
            entry.capacity_block_start
            and entry.capacity_block_end
            and entry.capacity_block_start >= entry.capacity_block_end
        ):
            raise read.fail(f"{label}.capacityBlockStart", block_start, "want a start before the block's end")
        if any(e.key == entry.key for e in entries):
            raise read.fail(label, item, f"{entry.gpu_type} in {entry.az_id} is listed twice; merge the counts")
        entries.append(entry)
    amis_raw = read.mapping("amis")
    amis: dict[str, PinnedImage] = {}
    for gpu_type, pinned in amis_raw.items():
        _check_gpu_type(read, f"amis.{gpu_type}", gpu_type, region, catalog)
        amis[gpu_type] = _pinned_image(read, f"amis.{gpu_type}", pinned)
    for entry in entries:
        if entry.gpu_type not in amis:
            raise read.fail("amis", dict(amis_raw), f"no AMI pinned for {entry.gpu_type}, which capacity lists")
    return RegionConfig(
        stack=read.stack,
        region=region,
        org=_pulumi_org(read),
        tenant_supernet=supernet,
        tenant_cidr_prefix=prefix,
        capacity=tuple(entries),
        amis=amis,
        internal_reserve=_parse_reserve(read, region, entries, catalog),
    )


RESERVE_KEYS = ("gpuType", "az", "nodes", "from")


def _parse_reserve(
    read: _Reader, region: str, entries: list[CapacityEntry], catalog: Catalog
) -> tuple[ReserveStep, ...]:
    """``internalReserve``: a list of ``{gpuType, az, nodes, from}`` steps, each on capacity the region holds, never
    more nodes than it holds there; a Capacity Block (shared whole with one tenant) is reserved whole or not at all."""
    raw = read.raw.get("internalReserve")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise read.fail("internalReserve", raw, "want a list of {gpuType, az, nodes, from: YYYY-MM-DD}")
    steps: list[ReserveStep] = []
    for i, item in enumerate(raw):
        label = f"internalReserve[{i}]"
        if not isinstance(item, Mapping) or set(item) != set(RESERVE_KEYS):
            raise read.fail(label, item, f"want a mapping of exactly {', '.join(RESERVE_KEYS)}")
        gpu_type = _check_gpu_type(read, f"{label}.gpuType", item["gpuType"], region, catalog)
        held = [e for e in entries if e.gpu_type == gpu_type]
        if not held:
            raise read.fail(f"{label}.gpuType", gpu_type, f"the region holds no {gpu_type} (gpucloud:capacity)")
        entry = next((e for e in held if e.az_id == item["az"]), None)
        if entry is None:
            raise read.fail(
                f"{label}.az", item["az"], f"the region holds {gpu_type} in {', '.join(e.az_id for e in held)} only"
            )
        nodes = read.integer(f"{label}.nodes", item["nodes"], 0, entry.count)
        if entry.capacity_block_id is not None and nodes not in (0, entry.count):
            raise read.fail(
                f"{label}.nodes",
                nodes,
                f"{entry.key} is Capacity Block {entry.capacity_block_id}, shared whole with one tenant: reserve all "
                f"{entry.count} of its nodes or none",
            )
        start = _day(read, f"{label}.from", item["from"])
        if any((s.gpu_type, s.az_id, s.start) == (gpu_type, entry.az_id, start) for s in steps):
            raise read.fail(label, dict(item), f"{gpu_type} in {entry.az_id} has two steps from {start}; keep one")
        steps.append(ReserveStep(gpu_type=gpu_type, az_id=entry.az_id, nodes=nodes, start=start))
    return tuple(sorted(steps, key=lambda s: (s.gpu_type, s.az_id, s.start)))


def _day(read: _Reader, label: str, value: Any) -> datetime.date:
    """A calendar day, YYYY-MM-DD (YAML may already have read it as a date; a time of day is refused)."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        with contextlib.suppress(ValueError):
            return datetime.date.fromisoformat(value)
    raise read.fail(label, value, "want a day, YYYY-MM-DD (UTC)")


def _pinned_image(read: _Reader, label: str, value: Any) -> PinnedImage:
    if not isinstance(value, Mapping) or set(value) != {"id", "rootDevice"}:
        raise read.fail(label, value, "want {id: ami-..., rootDevice: /dev/sda1 or /dev/xvda, as the AMI declares}")
    if not isinstance(value["id"], str) or not _AMI.fullmatch(value["id"]):
        raise read.fail(f"{label}.id", value["id"], "want an AMI id ami-<8 or 17 hex>")
    if not isinstance(value["rootDevice"], str) or not ROOT_DEVICE_PATTERN.fullmatch(value["rootDevice"]):
        raise read.fail(
            f"{label}.rootDevice", value["rootDevice"], "want the AMI's root device name, e.g. /dev/sda1 or /dev/xvda"
        )
    return PinnedImage(id=value["id"], root_device=value["rootDevice"])


def _parse_tenant(read: _Reader, region: str, az_ids: tuple[str, ...], catalog: Catalog) -> TenantConfig:
    try:
        tenant = check_tenant_name(read.require("tenant"), key=f"{NAMESPACE}:tenant")
    except ConfigError as err:
        raise ConfigError(f"stack {read.stack}: {err}") from None
    expected = tenant_stack_name(tenant, region)
    if read.stack != expected:
        raise ConfigError(f"stack {read.stack}: tenant {tenant} in {region} must be named {expected}")
    org = _pulumi_org(read)
    cidr = read.private_network("cidr", read.require("cidr"))
    if not TENANT_PREFIX_RANGE[0] <= cidr.prefixlen <= TENANT_PREFIX_RANGE[1]:
        raise read.fail(
            "cidr", str(cidr), f"want a prefix between /{TENANT_PREFIX_RANGE[0]} and /{TENANT_PREFIX_RANGE[1]}"
        )
    pool_raw = read.section("nodePool", ("gpuType", "nodes", "az", "rootVolumeGib", "capacityType", "capacityEnds"))
    capacity_type = pool_raw.get("capacityType")
    if capacity_type not in CAPACITY_TYPES:
        raise read.fail("nodePool.capacityType", capacity_type, f"allowed: {', '.join(CAPACITY_TYPES)}")
    ends = pool_raw.get("capacityEnds")
    if (capacity_type == "capacity-block") != (ends is not None):
        raise read.fail(
            "nodePool.capacityEnds", ends, "a capacity-block pool records its block's end, and only such a pool"
        )
    node_pool = NodePoolConfig(
        gpu_type=_check_gpu_type(read, "nodePool.gpuType", pool_raw.get("gpuType"), region, catalog),
        nodes=read.integer("nodePool.nodes", pool_raw.get("nodes"), 1),
        az_id=_check_az(read, "nodePool.az", pool_raw.get("az"), region, az_ids),
        root_volume_gib=read.integer(
            "nodePool.rootVolumeGib", pool_raw.get("rootVolumeGib"), ROOT_VOLUME_GIB_MIN, ROOT_VOLUME_GIB_MAX
        ),
        capacity_type=str(capacity_type),
        capacity_ends=None if ends is None else read.instant("nodePool.capacityEnds", ends),
    )
    storage_raw = read.section("storage", ("bucketTib", "fsxTib"))
    fsx = storage_raw.get("fsxTib")
    storage = StorageConfig(
        bucket_tib=read.number("storage.bucketTib", storage_raw.get("bucketTib")),
        fsx_tib=None if fsx is None else check_fsx_tib(read, fsx),
    )
    return TenantConfig(
        stack=read.stack,
        tenant=tenant,
        region=region,
        org=org,
        cidr=cidr,
        node_pool=node_pool,
        storage=storage,
        egress=read.choice("egress", EGRESS_MODES),
        cluster=_parse_cluster(read, region, catalog),
        **_parse_term(read),
        leaving=_leaving(read),
    )


def _parse_term(read: _Reader) -> dict[str, Any]:
    from gpucloud.rates import TERMS

    if "term" not in read.raw:
        return {}
    raw = read.section("term", ("plan", "start"))
    plan = raw.get("plan")
    if plan not in TERMS:
        raise read.fail("term.plan", plan, f"allowed: {', '.join(TERMS)}")
    start = raw.get("start")
    if start is not None and not isinstance(start, datetime.date):
        try:
            start = datetime.date.fromisoformat(str(start))
        except ValueError:
            raise read.fail("term.start", start, "want the day the term began, e.g. 2026-11-27") from None
    return {"term": plan, "term_start": start}


def _parse_cluster(read: _Reader, region: str, catalog: Catalog) -> ClusterConfig:
    if "cluster" not in read.raw:
        return BARE_NODES
    raw = read.section("cluster", ("scheduler", "headNodeType"))
    scheduler = raw.get("scheduler")
    if scheduler not in SCHEDULERS:
        raise read.fail("cluster.scheduler", scheduler, f"allowed: {', '.join(SCHEDULERS)}")
    head = raw.get("headNodeType")
    if scheduler == "none":
        if head is not None:
            raise read.fail("cluster.headNodeType", head, "only a cluster with scheduler slurm has a head node")
        return BARE_NODES
    check_head_node_type(head, region, catalog, fail=lambda allowed: read.fail("cluster.headNodeType", head, allowed))
    return ClusterConfig(scheduler=str(scheduler), head_node_type=str(head))


def check_head_node_type(value: Any, region: str, catalog: Catalog, *, fail: Any) -> str:
    """``value`` if it is a head node type of the catalog offered in ``region``; else ``fail(allowed)``."""
    offered = catalog.head_node_types_in(region)
    if value not in catalog.head_node_types:
        raise fail(f"allowed: {', '.join(sorted(catalog.head_node_types))}")
    if value not in offered:
        raise fail(f"not offered in {region}; offered there: {', '.join(offered) or 'none'}")
    return str(value)


def _leaving(read: _Reader) -> datetime.date | None:
    value = read.raw.get("leaving")
    if value is None:
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise read.fail("leaving", value, "want the date offboarding began, e.g. 2026-11-27") from None


def _pulumi_org(read: _Reader) -> str:
    org = read.string("org")
    if not ORG_PATTERN.fullmatch(org):
        raise read.fail("org", org, "want a Pulumi organization name ([A-Za-z0-9_.-])")
    return org


def _patterned(read: _Reader, key: str, pattern: re.Pattern[str], allowed: str) -> str:
    value = read.require(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise read.fail(key, value, allowed)
    return value


def _parse_org(read: _Reader, region: str, regions: RegionTable) -> OrgConfig:
    if read.stack != ORG_STACK:
        raise ConfigError(f"stack {read.stack}: the organization stack must be named {ORG_STACK}")
    served = read.require("servedRegions")
    if not isinstance(served, list) or not served:
        raise read.fail("servedRegions", served, "want a non-empty list of AWS region codes")
    for i, code in enumerate(served):
        if code not in regions.regions:
            raise read.fail(f"servedRegions[{i}]", code, f"allowed: {', '.join(sorted(regions.regions))}")
    if len(set(served)) != len(served):
        raise read.fail("servedRegions", served, "a region is listed twice")
    if region not in served:
        raise read.fail("region", region, f"the organization's home region must be one of servedRegions {served}")
    return OrgConfig(
        stack=read.stack,
        region=region,
        organization_id=_patterned(read, "organizationId", ORGANIZATION_ID_PATTERN, ORGANIZATION_ID_RULE),
        root_id=_patterned(read, "rootId", ROOT_ID_PATTERN, "want an organization root id r-<4 to 32 of [0-9a-z]>"),
        served_regions=tuple(served),
        access_role_name=_patterned(read, "accessRoleName", ROLE_NAME_PATTERN, "want an IAM role name"),
        operations_role_arn=_patterned(
            read, "operationsRoleArn", ROLE_ARN_PATTERN, "want an IAM role ARN arn:aws:iam::<12 digits>:role/NAME"
        ),
        data_operations_role_arn=_data_operations(read),
        account_mailbox=_mailbox(read),
        audit_retention_days=read.integer(
            "auditRetentionDays", read.raw.get("auditRetentionDays", AUDIT_RETENTION_DEFAULT_DAYS), 1, 36500
        ),
    )


def _data_operations(read: _Reader) -> str:
    value = _patterned(
        read, "dataOperationsRoleArn", ROLE_ARN_PATTERN, "want an IAM role ARN arn:aws:iam::<12 digits>:role/NAME"
    )
    if value == read.raw.get("operationsRoleArn"):
        raise read.fail("dataOperationsRoleArn", value, "want a role of its own, not operationsRoleArn: one duty each")
    return value


def _mailbox(read: _Reader) -> str:
    value = read.string("accountMailbox")
    if not email_ok(value) or "+" in value.split("@", 1)[0]:
        raise read.fail(
            "accountMailbox", value, "want a mailbox of ours with no + in it (each account gets its plus-address)"
        )
    return value


ORGANIZATION_ID_RULE = "want an organization id o-<10 to 32 of [a-z0-9]>"
ACCOUNT_ID_RULE = "want a 12-digit AWS account id"
EMAIL_RULE = f"want an e-mail address of {EMAIL_LENGTH[0]} to {EMAIL_LENGTH[1]} characters, e.g. aws@example.com"


def email_ok(value: object) -> bool:
    return (
        isinstance(value, str)
        and EMAIL_LENGTH[0] <= len(value) <= EMAIL_LENGTH[1]
        and EMAIL_PATTERN.fullmatch(value) is not None
    )


def check_principals(value: Any, *, label: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise fail(label, value, "want a list of IAM ARNs ([] for no tenant admin role yet)")
    for i, arn in enumerate(value):
        if not isinstance(arn, str) or not PRINCIPAL_PATTERN.fullmatch(arn):
            raise fail(f"{label}[{i}]", arn, "want arn:aws:iam::<12 digits>:root, :role/NAME or :user/NAME")
    return tuple(value)


def _parse_account(read: _Reader, region: str) -> AccountConfig:
    try:
        tenant = check_tenant_name(read.require("tenant"), key=f"{NAMESPACE}:tenant")
    except ConfigError as err:
        raise ConfigError(f"stack {read.stack}: {err}") from None
    expected = account_stack_name(tenant)
    if read.stack != expected:
        raise ConfigError(f"stack {read.stack}: the account stack of tenant {tenant} must be named {expected}")
    email = read.raw.get("email")
    account_id = read.raw.get("accountId")
    if (email is None) == (account_id is None):
        raise ConfigError(
            f"stack {read.stack}: want exactly one of {NAMESPACE}:email (a new account) "
            f"or {NAMESPACE}:accountId (adopt an existing one)"
        )
    if email is not None and not email_ok(email):
        raise read.fail("email", email, EMAIL_RULE)
    if account_id is not None:
        account_id = str(account_id)  # YAML may read an unquoted id as a number
        if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
            raise read.fail("accountId", read.raw.get("accountId"), ACCOUNT_ID_RULE)
    return AccountConfig(
        stack=read.stack,
        tenant=tenant,
        region=region,
        display_name=check_display_name(read.string("displayName"), key=f"{NAMESPACE}:displayName", stack=read.stack),
        org=_pulumi_org(read),
        email=email,
        account_id=account_id,
        admin_principals=check_principals(read.require("adminPrincipals"), label="adminPrincipals", fail=read.fail),
        leaving=_leaving(read),
    )


DISPLAY_NAME_MAX = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def check_display_name(value: str, *, key: str = "--display-name", stack: str | None = None) -> str:
    """Any text a person would write (new lines and tabs too), but no terminal control characters."""
    where = f"stack {stack}: " if stack else ""
    if not value.strip():
        raise ConfigError(f"{where}{key}={value!r}: want a non-empty name")
    if len(value) > DISPLAY_NAME_MAX:
        raise ConfigError(f"{where}{key}={value[:40]!r}...: want at most {DISPLAY_NAME_MAX} characters")
    bad = _CONTROL.search(value)
    if bad:
        raise ConfigError(
            f"{where}{key}={value!r}: control character {bad.group()!r} not allowed (new lines and tabs are)"
        )
    return value


def fsx_sizes_rule() -> str:
    return f"FSx for Lustre takes 1.2 TiB, 2.4 TiB, or a multiple of {FSX_STEP_TIB} TiB"


def fsx_size_ok(tib: float) -> bool:
    gib = round(tib * 1000)  # FSx counts 1.2 TiB as 1200 GiB
    return gib == 1200 or (gib > 0 and gib % 2400 == 0)


def check_fsx_tib(read: _Reader, value: Any) -> float:
    tib = read.number("storage.fsxTib", value)
    if not fsx_size_ok(tib):
        raise read.fail("storage.fsxTib", value, fsx_sizes_rule())
    return tib


def fsx_capacity_gib(tib: float) -> int:
    """FSx's ``storage_capacity`` in GiB for a size in TiB as FSx names it (1.2 TiB = 1200 GiB)."""
    return round(tib * 1000)


def config_from_namespaced(stack: str, config: dict[str, Any]) -> StackConfig:
    """Typed config from namespaced keys (``gpucloud:region``, ``aws:region``)."""
    ours = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{NAMESPACE}:")}
    parsed = parse_stack_config(stack, ours)
    aws_region = config.get("aws:region")
    if aws_region != parsed.region:
        raise ConfigError(f"stack {stack}: aws:region={aws_region!r} must equal {NAMESPACE}:region={parsed.region!r}")
    return parsed
