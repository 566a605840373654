"""The capacity ledger: per region, SKU and AZ, the GPU capacity we hold, what each tenant has been carved, what
is free, and what holding it costs against what the carved part earns, at a given moment.

Held: the region stack's capacity entries; a reservation always, a Capacity Block from its start (a block
bought ahead) until its end. Carved: the tenants' nodes there (a tenant on a block that is not held at that
moment is not counted), and offboarded tenants' holdings in their grace period (stacks/retired.yaml), which
earn nothing. Cost: a reservation is billed at the on-demand list price (catalog.yaml) whether used or not; a
Capacity Block's upfront price is not recorded, so it is left out and said so. Earnings: our rate card
(rate_card.yaml) per GPU-hour for the tenant's SKU and term. Every figure is indicative.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gpucloud.capacity.reserve import Collision, collisions, leasable_through, reserved_on, steps_of, term_window
from gpucloud.catalog import load_catalog
from gpucloud.config import CapacityEntry, ReserveStep
from gpucloud.rates import load_rate_card
from gpucloud.registry import Registry, TenantEntry, iso
from gpucloud.tenants.pricing import hourly_price

ENDING_WITHIN_DAYS = 30  # what `capacity` flags
WARN_WITHIN_DAYS = 7  # what `validate` warns of
LOW_FREE_FRACTION = 0.10  # `validate` warns when a region's free GPUs of a SKU are under this


@dataclass(frozen=True)
class Carve:
    tenant: str
    stack: str
    nodes: int
    gpus: int
    term: str | None  # None: a retired tenant's holding in its grace period
    term_ends: datetime.date | None
    hourly_revenue_usd: float

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "stack": self.stack,
            "nodes": self.nodes,
            "gpus": self.gpus,
            "term": self.term,
            "term_ends": None if self.term_ends is None else self.term_ends.isoformat(),
            "hourly_revenue_usd": round(self.hourly_revenue_usd, 4),
        }


@dataclass(frozen=True)
class Line:
    """One SKU in one AZ of a region: what we hold there and who has it."""

    gpu_type: str
    az: str
    kind: str  # "reservation" or "capacity-block"
    reservation: str | None  # a Capacity Block's id
    start: datetime.datetime | None
    end: datetime.datetime | None
    nodes: int
    gpus_per_node: int
    hourly_cost_usd: float | None  # None: a Capacity Block (its price is not recorded)
    carves: tuple[Carve, ...]
    reserved_nodes: int = 0  # ours at the ledger's moment (the region's internalReserve)
    steps: tuple[ReserveStep, ...] = ()  # the reserve's schedule here, past and future
    ledger_day: datetime.date | None = None

    @property
    def held(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def reserved(self) -> int:
        return self.reserved_nodes * self.gpus_per_node

    @property
    def carved(self) -> int:
        return sum(c.gpus for c in self.carves)

    @property
    def free(self) -> int:
        """Not carved to a tenant (our reserve included)."""
        return self.held - self.carved

    @property
    def leasable(self) -> int:
        """What we could still lease: held - reserved - carved (negative: the reserve is short by that much)."""
        return self.held - self.reserved - self.carved

    def next_step(self) -> tuple[datetime.date, int] | None:
        """The next day the reserve changes after the ledger's moment, and the GPUs leasable from then (today's
        tenants as they are)."""
        later = [s for s in self.steps if self.ledger_day is None or s.start > self.ledger_day]
        if not later:
            return None
        step = later[0]
        return step.start, self.held - step.nodes * self.gpus_per_node - self.carved

    @property
    def utilisation(self) -> float:
        return self.carved / self.held if self.held else 0.0

    @property
    def hourly_revenue_usd(self) -> float:
        return sum(c.hourly_revenue_usd for c in self.carves)

    def as_json(self) -> dict[str, Any]:
        return {
            "sku": self.gpu_type,
            "az": self.az,
            "kind": self.kind,
            "reservation": self.reservation,
            "start": iso(self.start),
            "end": iso(self.end),
            "nodes": self.nodes,
            "held_gpus": self.held,
            "reserved_gpus": self.reserved,
            "carved_gpus": self.carved,
            "leasable_gpus": self.leasable,
            "free_gpus": self.free,
            "reserve_schedule": [
                {"from": s.start.isoformat(), "nodes": s.nodes, "gpus": s.nodes * self.gpus_per_node}
                for s in self.steps
            ],
            "leasable_until": _next_json(self.next_step()),
            "utilisation": round(self.utilisation, 4),
            "hourly_cost_usd": None if self.hourly_cost_usd is None else round(self.hourly_cost_usd, 4),
            "hourly_revenue_usd": round(self.hourly_revenue_usd, 4),
            "carved": [c.as_json() for c in self.carves],
        }


def _next_json(step: tuple[datetime.date, int] | None) -> dict[str, Any] | None:
    return None if step is None else {"day": step[0].isoformat(), "leasable_gpus_from_then": step[1]}


class Totals(NamedTuple):
    """A SKU's GPUs over a region's AZs: held = reserved + carved + leasable."""

    held: int
    reserved: int
    carved: int
    leasable: int


@dataclass(frozen=True)
class Ending:
    """A Capacity Block or a tenant's term that ends soon after the ledger's moment."""

    kind: str  # "capacity-block", "term" or "reserve-step" (not an end: the day the internal reserve changes)
    region: str
    what: str
    ends: datetime.date
    days: int

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "region": self.region, "what": self.what, "ends": self.ends.isoformat(),
                "days": self.days}  # fmt: skip


@dataclass(frozen=True)
class RegionLedger:
    region: str
    lines: tuple[Line, ...]

    @property
    def hourly_cost_usd(self) -> float:
        """What the priced holdings cost an hour (Capacity Blocks left out: see ``unpriced``)."""
        return sum(line.hourly_cost_usd or 0.0 for line in self.lines)

    @property
    def unpriced(self) -> list[str]:
        return [
            f"{line.gpu_type}@{line.az} ({line.reservation})" for line in self.lines if line.hourly_cost_usd is None
        ]

    @property
    def hourly_revenue_usd(self) -> float:
        return sum(line.hourly_revenue_usd for line in self.lines)

    def by_sku(self) -> dict[str, Totals]:
        """SKU -> its GPUs over the region's AZs."""
        out: dict[str, Totals] = {}
        for line in self.lines:
            held, reserved, carved, leasable = out.get(line.gpu_type, Totals(0, 0, 0, 0))
            out[line.gpu_type] = Totals(
                held + line.held, reserved + line.reserved, carved + line.carved, leasable + line.leasable
            )
        return out

    def retired_by_sku(self) -> dict[str, int]:
        """SKU -> GPUs that offboarded tenants still hold in their grace period (part of ``carved``)."""
        out: dict[str, int] = {}
        for line in self.lines:
            out[line.gpu_type] = out.get(line.gpu_type, 0) + sum(c.gpus for c in line.carves if c.term is None)
        return out

    def as_json(self) -> dict[str, Any]:
        cost = round(self.hourly_cost_usd, 4)
        revenue = round(self.hourly_revenue_usd, 4)
        return {
            "region": self.region,
            "lines": [line.as_json() for line in self.lines],
            "hourly_cost_usd": cost,
            "hourly_revenue_usd": revenue,
            "hourly_margin_usd": round(revenue - cost, 4),
            "unpriced": self.unpriced,
        }


@dataclass(frozen=True)
class Ledger:
    at: datetime.datetime
    catalog_date: str
    price_region: str
    rate_date: str
    regions: tuple[RegionLedger, ...]
    ending: tuple[Ending, ...] = field(default=())
    reserve_steps: tuple[Ending, ...] = field(default=())  # steps of the internal reserve within the 30 days
    collisions: tuple[Collision, ...] = field(default=())  # where the registry breaks a reserve, from the moment on

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "indicative": True,
            "catalog_date": self.catalog_date,
            "price_region": self.price_region,
            "rate_card_date": self.rate_date,
            "regions": [r.as_json() for r in self.regions],
            "ending_within_days": ENDING_WITHIN_DAYS,
            "ending": [e.as_json() for e in self.ending],
            "reserve_steps": [e.as_json() for e in self.reserve_steps],
            "collisions": [c.as_json() for c in self.collisions],
        }


def held_at(entry: CapacityEntry, at: datetime.datetime) -> bool:
    """Whether the region holds ``entry`` at ``at``: a reservation always; a block from its start to its end."""
    if entry.capacity_block_start is not None and at < entry.capacity_block_start:
        return False
    return entry.capacity_block_end is None or at < entry.capacity_block_end


def term_end(tenant: TenantEntry) -> datetime.date | None:
    start = None if tenant.term_start is None else datetime.date.fromisoformat(tenant.term_start)
    return load_rate_card().terms[tenant.term].ends(start)


def build(registry: Registry, at: datetime.datetime, regions: Iterable[str] | None = None) -> Ledger:
    """The ledger of ``registry`` at ``at`` (UTC), for ``regions`` (all when None)."""
    catalog = load_catalog()
    card = load_rate_card()
    wanted = sorted(registry.regions) if regions is None else list(regions)
    ledgers = []
    ending: list[Ending] = []
    steps: list[Ending] = []
    for code in wanted:
        region = registry.regions[code]
        lines = []
        for entry in region.capacity:
            if not held_at(entry, at):
                continue
            sku = catalog.get(entry.gpu_type)
            carves = [
                Carve(
                    tenant=t.name,
                    stack=t.stack,
                    nodes=t.nodes,
                    gpus=t.nodes * sku.gpu_count,
                    term=t.term,
                    term_ends=term_end(t),
                    hourly_revenue_usd=hourly_price(t),
                )
                for t in registry.tenants_in(code)
                if t.gpu_type == entry.gpu_type and t.az == entry.az_id
            ]
            carves += [
                Carve(tenant=f"{r.stack} (retired until {r.until})", stack=r.stack, nodes=r.nodes,
                      gpus=r.nodes * sku.gpu_count, term=None, term_ends=None, hourly_revenue_usd=0.0)
                for r in registry.retired
                if r.region == code and r.gpu_type == entry.gpu_type and r.az == entry.az_id
            ]  # fmt: skip
            block = entry.capacity_block_id is not None
            lines.append(
                Line(
                    gpu_type=entry.gpu_type,
                    az=entry.az_id,
                    kind=entry.capacity_type,
                    reservation=entry.capacity_block_id,
                    start=entry.capacity_block_start,
                    end=entry.capacity_block_end,
                    nodes=entry.count,
                    gpus_per_node=sku.gpu_count,
                    hourly_cost_usd=None if block or sku.price_usd_hour is None else entry.count * sku.price_usd_hour,
                    carves=tuple(carves),
                    reserved_nodes=reserved_on(region, entry.gpu_type, entry.az_id, at.date()),
                    steps=tuple(steps_of(region, entry.gpu_type, entry.az_id)),
                    ledger_day=at.date(),
                )
            )
            for step in steps_of(region, entry.gpu_type, entry.az_id):
                steps += _ending("reserve-step", code, f"internal reserve of {entry.gpu_type} in {entry.az_id} "
                                 f"becomes {step.nodes} nodes", step.start, at)  # fmt: skip
            if entry.capacity_block_end is not None:
                ending += _ending("capacity-block", code, f"{entry.gpu_type}@{entry.az_id} block "
                                  f"{entry.capacity_block_id}", entry.capacity_block_end.date(), at)  # fmt: skip
            for carve in carves:
                if carve.term_ends is not None:
                    ending += _ending("term", code, f"tenant {carve.tenant}'s {carve.term} term", carve.term_ends, at)
        ledgers.append(RegionLedger(region=code, lines=tuple(lines)))
    return Ledger(
        at=at,
        catalog_date=catalog.catalog_date,
        price_region=catalog.price_region,
        rate_date=card.rate_date,
        regions=tuple(ledgers),
        ending=tuple(sorted(ending, key=lambda e: (e.ends, e.region, e.what))),
        reserve_steps=tuple(sorted(steps, key=lambda e: (e.ends, e.region, e.what))),
        collisions=tuple(c for c in collisions(registry, at.date()) if c.region in wanted),
    )


def _ending(kind: str, region: str, what: str, ends: datetime.date, at: datetime.datetime) -> list[Ending]:
    days = (ends - at.date()).days
    return [Ending(kind, region, what, ends, days)] if 0 <= days <= ENDING_WITHIN_DAYS else []


@dataclass(frozen=True)
class Fit:
    """Whether a tenant of ``nodes`` x ``sku`` fits in a region at the ledger's moment, and what it would earn."""

    region: str
    sku: str
    nodes: int
    term: str
    az: str | None  # the AZ with the most free nodes of the SKU (a tenant's nodes share one AZ)
    free_nodes: int
    hourly_revenue_usd: float

    @property
    def fits(self) -> bool:
        return self.free_nodes >= self.nodes

    def as_json(self) -> dict[str, Any]:
        return {"region": self.region, "sku": self.sku, "nodes": self.nodes, "term": self.term, "fits": self.fits,
                "az": self.az, "free_nodes": self.free_nodes,
                "hourly_revenue_usd": round(self.hourly_revenue_usd, 4)}  # fmt: skip


def fit(registry: Registry, region: RegionLedger, sku: str, nodes: int, term: str, at: datetime.datetime) -> Fit:
    """A new tenant's fit: the nodes of ``sku`` it could lease in the best AZ on every day of ``term`` from ``at``
    (the internal reserve's steps included; reservations only: a Capacity Block is shared whole with one tenant),
    and the rate card's earnings for ``nodes`` on ``term``."""
    gpus = load_catalog().get(sku).gpu_count
    config = registry.regions[region.region]
    first, end = term_window(term, at.date().isoformat(), at.date())
    free = {
        ln.az: min(ln.leasable // gpus, leasable_through(registry, config, sku, ln.az, first, end, today=at.date()))
        for ln in region.lines
        if ln.gpu_type == sku and ln.kind == "reservation"
    }
    az = max(free, key=lambda a: free[a]) if free else None
    rate = load_rate_card().gpu_hour_rate(sku, term)
    return Fit(region.region, sku, nodes, term, az, max(free.get(az, 0), 0) if az else 0, nodes * gpus * rate)
