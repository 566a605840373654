"""``gpucloud region add``: stamp a new region stack (and its operators' inventory) from ``templates/region/``.

Like onboarding: every check first (the region, each SKU offered there, each AZ, each AMI), then under
the repository lock the supernet is chosen from the global address plan (the first free block that
overlaps no region and no tenant), the templates are rendered and parsed back with the checks
``pulumi up`` runs, and both files are written all or none.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gpucloud.allocation import first_free_block
from gpucloud.catalog import load_catalog
from gpucloud.choices import closest
from gpucloud.config import (
    ORG_STACK,
    ROOT_DEVICE_PATTERN,
    TENANT_PREFIX_RANGE,
    PinnedImage,
    RegionConfig,
    config_from_namespaced,
)
from gpucloud.errors import ConfigError
from gpucloud.names import region_stack_name
from gpucloud.quotas import check_quotas
from gpucloud.regions import AwsRegion, known_region, load_regions
from gpucloud.registry import Registry, load_registry
from gpucloud.repo import STACKS_DIR, Repository, config_mapping
from gpucloud.templating import render
from gpucloud.tenants.defaults import DEFAULT_ORG
from gpucloud.transaction import FileTransaction, repository_lock

_CAPACITY = re.compile(r"(?P<sku>[a-z0-9.-]+?)(?:@(?P<az>[a-z0-9-]+))?=(?P<count>\d+)")
_RESERVE = re.compile(r"(?P<sku>[a-z0-9.-]+?)(?:@(?P<az>[a-z0-9-]+))?=(?P<nodes>\d+)(?:@(?P<day>[0-9-]+))?")
_AMI_SPEC = re.compile(r"(?P<sku>[a-z0-9.-]+)=(?P<ami>ami-[0-9a-f]{8}(?:[0-9a-f]{9})?):(?P<root>/dev/[a-z0-9]+)")
REGION_INVENTORIES = PurePosixPath("inventories/regions")


@dataclass(frozen=True, kw_only=True)
class RegionRequest:
    region: str
    capacity: tuple[str, ...] = ()  # "SKU=N" or "SKU@AZ-ID=N"
    reserve: tuple[str, ...] = ()  # "SKU[@AZ-ID]=N[@YYYY-MM-DD]": our internal reserve, from that day [today]
    amis: tuple[str, ...] = ()  # "SKU=ami-...:/dev/sda1"
    like: str | None = None
    supernet: str | None = None
    tenant_prefix: int | None = None


@dataclass(frozen=True)
class CapacityLine:
    gpu_type: str
    az: str
    count: int


@dataclass(frozen=True)
class RegionAddition:
    config: RegionConfig
    files: tuple[tuple[PurePosixPath, str], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "region": self.config.region,
            "stack": self.config.stack,
            "supernet": str(self.config.tenant_supernet),
            "azs": sorted({c.az_id for c in self.config.capacity}),
            "files": [str(path) for path, _ in self.files],
        }


def _aws_region(code: str) -> AwsRegion:
    return known_region(code, f"region {code!r}")


def _offered_sku(sku: str, region: str, source: str) -> str:
    catalog = load_catalog()
    offered = ", ".join(catalog.offered_in(region)) or "none"
    if sku not in catalog.skus:
        raise ConfigError(f"{source}: {sku!r} is not in the GPU catalog; offered in {region}: {offered}")
    if not catalog.skus[sku].offered_in(region):
        raise ConfigError(f"{source}: {sku} is not offered in {region}; offered there: {offered}")
    return sku


def parse_capacity(specs: tuple[str, ...], aws: AwsRegion) -> list[CapacityLine]:
    lines: list[CapacityLine] = []
    for spec in specs:
        match = _CAPACITY.fullmatch(spec)
        if not match:
            raise ConfigError(f"--capacity={spec!r}: want SKU=N or SKU@AZ-ID=N, e.g. p5.48xlarge=8")
        sku = _offered_sku(match["sku"], aws.code, f"--capacity={spec}")
        az = match["az"] or aws.az_ids[0]
        if az not in aws.az_ids:
            raise ConfigError(
                f"--capacity={spec}: {az!r} is not an AZ ID of {aws.code}; AZ IDs: {', '.join(aws.az_ids)}"
            )
        count = int(match["count"])
        if count < 1:
            raise ConfigError(f"--capacity={spec}: want a count >= 1")
        if any(line.gpu_type == sku and line.az == az for line in lines):
            raise ConfigError(f"--capacity={spec}: {sku} in {az} is given twice; give it once with the total")
        lines.append(CapacityLine(sku, az, count))
    return lines


@dataclass(frozen=True)
class ReserveLine:
    gpu_type: str
    az: str
    nodes: int
    start: datetime.date


def parse_reserve(specs: tuple[str, ...], capacity: list[CapacityLine], today: datetime.date) -> list[ReserveLine]:
    """``--reserve SKU[@AZ]=N[@DATE]``: on capacity the command holds (its AZ may be left out when the SKU is held in
    one AZ only), N nodes from DATE [today]; the region's config checks the rest when it is parsed back."""
    steps: list[ReserveLine] = []
    for spec in specs:
        match = _RESERVE.fullmatch(spec)
        if not match:
            raise ConfigError(
                f"--reserve={spec!r}: want SKU=N, SKU@AZ-ID=N or either with @YYYY-MM-DD (from that day; "
                "default today), e.g. p5.48xlarge=2@2027-03-01"
            )
        held = [line for line in capacity if line.gpu_type == match["sku"]]
        if not held:
            have = ", ".join(sorted({line.gpu_type for line in capacity})) or "none"
            raise ConfigError(f"--reserve={spec}: the region would hold no {match['sku']}; it holds: {have}")
        if match["az"] is None and len(held) > 1:
            raise ConfigError(
                f"--reserve={spec}: {match['sku']} is held in {', '.join(line.az for line in held)}; name the AZ "
                f"(SKU@AZ-ID=N)"
            )
        line = next((h for h in held if match["az"] in (None, h.az)), None)
        if line is None:
            raise ConfigError(f"--reserve={spec}: {match['sku']} is held in {', '.join(h.az for h in held)} only")
        nodes = int(match["nodes"])
        if nodes > line.count:
            raise ConfigError(f"--reserve={spec}: {nodes} nodes, more than the {line.count} held ({line.gpu_type})")
        try:
            start = today if match["day"] is None else datetime.date.fromisoformat(match["day"])
        except ValueError:
            raise ConfigError(f"--reserve={spec}: {match['day']!r} is not a day; want YYYY-MM-DD") from None
        if any((s.gpu_type, s.az, s.start) == (line.gpu_type, line.az, start) for s in steps):
            raise ConfigError(f"--reserve={spec}: {line.gpu_type} in {line.az} has a step from {start} already")
        steps.append(ReserveLine(line.gpu_type, line.az, nodes, start))
    return steps


AMI_EXAMPLE = "p5.48xlarge=ami-0abc12345def67890:/dev/sda1"


def parse_amis(specs: tuple[str, ...], aws: AwsRegion) -> dict[str, PinnedImage]:
    amis: dict[str, PinnedImage] = {}
    for spec in specs:
        sku = spec.split("=", 1)[0]
        if sku in amis:
            raise ConfigError(f"--ami={spec}: {sku} is given twice; give one image per SKU")
        match = _AMI_SPEC.fullmatch(spec)
        if not match:
            raise ConfigError(
                f"--ami={spec!r}: want SKU=AMI:ROOT_DEVICE, the AMI's id and its root device name "
                f"(/dev/sda1 on Ubuntu, /dev/xvda on Amazon Linux 2023), e.g. {AMI_EXAMPLE}"
            )
        if not ROOT_DEVICE_PATTERN.fullmatch(match["root"]):
            raise ConfigError(f"--ami={spec!r}: {match['root']} is not a root device name; e.g. /dev/sda1, /dev/xvda")
        amis[_offered_sku(match["sku"], aws.code, f"--ami={spec}")] = PinnedImage(
            id=match["ami"], root_device=match["root"]
        )
    return amis


def check_request(request: RegionRequest) -> tuple[AwsRegion, list[CapacityLine], dict[str, PinnedImage]]:
    aws = _aws_region(request.region)
    capacity = parse_capacity(request.capacity, aws)
    amis = parse_amis(request.amis, aws)
    if (
        request.tenant_prefix is not None
        and not TENANT_PREFIX_RANGE[0] <= request.tenant_prefix <= TENANT_PREFIX_RANGE[1]
    ):
        low, high = TENANT_PREFIX_RANGE
        raise ConfigError(f"--tenant-prefix={request.tenant_prefix}: want {low} to {high}")
    return aws, capacity, amis


def update_region(repo: Repository, code: str, *, dry_run: bool = False) -> RegionAddition:
    """``region add R --update``: rewrite what is derived from an existing region stack (its operators'
    inventory) from the templates; the stack config itself is the reviewed source and stays as written."""
    aws = _aws_region(code)
    with repository_lock(repo.root):
        registry = load_registry(repo)
        config = registry.regions.get(aws.code)
        if config is None:
            have = [r.stack for r in registry.regions.values()]
            raise ConfigError(
                f"--update: region {aws.code} has no stack {region_stack_name(aws.code)}; region stacks: "
                f"{closest(aws.code, have)}; drop --update to add it"
            )
        path = REGION_INVENTORIES / f"{aws.code}.aws_ec2.yml"
        context = {"region": aws.code, "region_name": aws.name, "inventory_path": str(path)}
        text = render(repo.root, "region/inventory.aws_ec2.yml.j2", context)
        target = repo.root / path
        files = () if target.is_file() and target.read_text(encoding="utf-8") == text else ((path, text),)
        if files and not dry_run:
            txn = FileTransaction(repo.root)
            txn.write(path, text)
            txn.commit()
    return RegionAddition(config=config, files=files)


def add_region(repo: Repository, request: RegionRequest, *, dry_run: bool = False) -> RegionAddition:
    aws, capacity, amis = check_request(request)
    with repository_lock(repo.root):
        result = prepare(repo, load_registry(repo), request, aws, capacity, amis)
        if not dry_run:
            txn = FileTransaction(repo.root)
            for path, text in result.files:
                txn.write(path, text)
            txn.commit()
    return result


def _like_capacity(like: RegionConfig, aws: AwsRegion, named: list[CapacityLine]) -> list[CapacityLine]:
    """``like``'s capacity in ``aws``: each entry in the AZ at the same position of the region's AZ IDs (so the
    spread over AZs is kept), blocks as reservations; SKUs given with --capacity replace ``like``'s for them."""
    source_azs = load_regions().regions[like.region].az_ids
    overridden = {line.gpu_type for line in named}
    copied: dict[tuple[str, str], int] = {}
    for entry in like.capacity:
        if entry.gpu_type in overridden:
            continue
        sku = _offered_sku(entry.gpu_type, aws.code, f"--like={like.stack}")
        az = aws.az_ids[source_azs.index(entry.az_id) % len(aws.az_ids)]
        copied[(sku, az)] = copied.get((sku, az), 0) + entry.count
    return [CapacityLine(sku, az, n) for (sku, az), n in copied.items()] + named


def _like(registry: Registry, stack: str | None) -> RegionConfig | None:
    if stack is None:
        return None
    like = next((r for r in registry.regions.values() if r.stack == stack), None)
    if like is None:
        have = [r.stack for r in registry.regions.values()]
        raise ConfigError(f"--like={stack!r}: no such region stack; region stacks: {closest(stack, have)}")
    return like


def prepare(
    repo: Repository,
    registry: Registry,
    request: RegionRequest,
    aws: AwsRegion,
    capacity: list[CapacityLine],
    amis: dict[str, PinnedImage],
) -> RegionAddition:
    if registry.problems:
        raise ConfigError(
            f"the registry has stacks that do not load; fix them first (gpucloud validate): "
            f"{next(iter(registry.problems.values()))}"
        )
    stack = region_stack_name(aws.code)
    if aws.code in registry.regions:
        raise ConfigError(f"region {aws.code} already has its stack {stack}; edit it and review the change")
    if registry.org is None:
        raise ConfigError(f"no org stack (stacks/Pulumi.{ORG_STACK}.yaml): a region reads it; write it first")
    if aws.code not in registry.org.served_regions:
        raise ConfigError(
            f"region {aws.code} is not in {ORG_STACK}'s servedRegions ({', '.join(registry.org.served_regions)}): "
            f"add it there first (the SCP denies tenant accounts every region it does not list)"
        )
    like = _like(registry, request.like)
    table = load_regions()
    if not capacity and like is None:
        offered = ", ".join(load_catalog().offered_in(aws.code)) or "none"
        raise ConfigError(f"give --capacity SKU=N (offered in {aws.code}: {offered}) or --like REGION-STACK")
    if like is not None:
        capacity = _like_capacity(like, aws, capacity)
    check_quotas(aws.code, ((line.gpu_type, line.count) for line in capacity), load_catalog())
    missing = sorted({line.gpu_type for line in capacity} - set(amis))
    if missing:
        raise ConfigError(
            f"--ami: no AMI pinned for {', '.join(missing)}; give --ami {missing[0]}=ami-...:/dev/... "
            f"(the GPU image built for {aws.code})"
        )
    unused = sorted(set(amis) - {line.gpu_type for line in capacity})
    if unused:
        raise ConfigError(f"--ami={unused[0]}=...: the region holds no capacity of {unused[0]}")
    tenant_prefix = request.tenant_prefix or (like.tenant_cidr_prefix if like else table.tenant_cidr_prefix)
    supernet = _supernet(registry, request, like, tenant_prefix)
    context = {
        "region": aws.code,
        "region_name": aws.name,
        "stack": stack,
        "org": next((r.org for r in registry.regions.values()), DEFAULT_ORG),
        "supernet": supernet,
        "tenant_prefix": tenant_prefix,
        "tenant_blocks": 2 ** (tenant_prefix - supernet.prefixlen),
        "capacity": capacity,
        "reserve": parse_reserve(request.reserve, capacity, datetime.datetime.now(datetime.UTC).date()),
        "amis": amis,
        "inventory_path": str(REGION_INVENTORIES / f"{aws.code}.aws_ec2.yml"),
    }
    stack_path = PurePosixPath(STACKS_DIR) / f"Pulumi.{stack}.yaml"
    inventory_path = REGION_INVENTORIES / f"{aws.code}.aws_ec2.yml"
    stack_text = render(repo.root, "region/stack.yaml.j2", context)
    config = config_from_namespaced(stack, config_mapping(stack_text, "templates/region/stack.yaml.j2"))
    if not isinstance(config, RegionConfig) or config.tenant_supernet != supernet:
        raise ConfigError("templates/region/stack.yaml.j2 does not round-trip the region's config")
    files = ((stack_path, stack_text), (inventory_path, render(repo.root, "region/inventory.aws_ec2.yml.j2", context)))
    return RegionAddition(config=config, files=files)


def _supernet(
    registry: Registry, request: RegionRequest, like: RegionConfig | None, tenant_prefix: int
) -> ipaddress.IPv4Network:
    table = load_regions()
    taken = [(r.stack, r.tenant_supernet) for r in registry.regions.values()]
    taken += [(t.stack, t.cidr) for t in registry.tenants]
    if request.supernet is not None:
        try:
            net = ipaddress.IPv4Network(request.supernet, strict=True)
        except ValueError:
            raise ConfigError(f"--supernet={request.supernet!r}: want an IPv4 network such as 10.48.0.0/12") from None
        if not net.subnet_of(table.address_plan):
            raise ConfigError(f"--supernet={net}: outside the address plan {table.address_plan} (regions.yaml)")
        if net.prefixlen >= tenant_prefix:
            raise ConfigError(f"--supernet={net}: must be larger than one tenant block (/{tenant_prefix})")
        for name, other in taken:
            if net.overlaps(other):
                raise ConfigError(f"--supernet={net}: overlaps {name}'s {other}")
        return net
    prefix = like.tenant_supernet.prefixlen if like else table.region_supernet_prefix
    block = first_free_block(table.address_plan, prefix, (net for _, net in taken))
    if block is None:
        raise ConfigError(f"the address plan {table.address_plan} has no free /{prefix} left; pass --supernet CIDR")
    return block
