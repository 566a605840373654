"""Our own needs first: the internal reserve a region keeps of each SKU and AZ, on a dated schedule.

The region stack's ``gpucloud:internalReserve`` is a list of steps ``{gpuType, az, nodes, from}``; for one SKU and
AZ the latest step on or before a day applies (before the first: nothing reserved). What tenants can lease on a
day is what the region holds there, minus the reserve of that day, minus what tenants hold that day.

Who holds on a day: a tenant on demand from now on; a tenant on a term until its term ends; a tenant whose term
has already ended still holds (it has not left: it renews or is offboarded), so it counts on every day; an
offboarded tenant's nodes in their grace period until that ends. A term is checked from today (or its start,
when later) to its end; on demand, today and every future step.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gpucloud.config import RegionConfig, ReserveStep
from gpucloud.rates import load_rate_card
from gpucloud.registry import Registry

ONE_DAY = datetime.timedelta(days=1)


def steps_of(region: RegionConfig, gpu_type: str, az: str) -> list[ReserveStep]:
    """The schedule of one SKU and AZ, by start."""
    return sorted(
        (s for s in region.internal_reserve if s.gpu_type == gpu_type and s.az_id == az), key=lambda s: s.start
    )


def reserved_on(region: RegionConfig, gpu_type: str, az: str, day: datetime.date) -> int:
    """Nodes of ``gpu_type`` in ``az`` that are ours on ``day``."""
    applies = [s for s in steps_of(region, gpu_type, az) if s.start <= day]
    return applies[-1].nodes if applies else 0


def _days(
    region: RegionConfig, gpu_type: str, az: str, first: datetime.date, end: datetime.date | None
) -> list[datetime.date]:
    """``first`` and each later day in [first, end) on which the reserve changes: where the answer can change
    (what tenants hold only falls as terms end)."""
    later = [s.start for s in steps_of(region, gpu_type, az) if s.start > first and (end is None or s.start < end)]
    return [first, *later]


@dataclass(frozen=True)
class Holding:
    """Nodes one tenant (or an offboarded tenant in its grace period) holds, and the day it stops (None: on every
    day to come, as far as the registry knows)."""

    who: str
    stack: str
    nodes: int
    until: datetime.date | None  # exclusive

    def on(self, day: datetime.date) -> int:
        return self.nodes if self.until is None or day < self.until else 0


def holdings(
    registry: Registry, region: str, gpu_type: str, az: str, today: datetime.date, *, excluding: str | None = None
) -> list[Holding]:
    card = load_rate_card()
    found = []
    for t in registry.tenants_in(region):
        if t.gpu_type != gpu_type or t.az != az or t.stack == excluding:
            continue
        start = None if t.term_start is None else datetime.date.fromisoformat(t.term_start)
        ends = card.terms[t.term].ends(start)
        found.append(Holding(t.name, t.stack, t.nodes, ends if ends is not None and ends > today else None))
    found += [
        Holding(f"{r.stack} (retired)", r.stack, r.nodes, r.until + ONE_DAY)
        for r in registry.retired
        if r.region == region and r.gpu_type == gpu_type and r.az == az and r.stack != excluding
    ]
    return found


def term_window(term: str, term_start: str | None, today: datetime.date) -> tuple[datetime.date, datetime.date | None]:
    """The days a tenant's term asks for: from today (or its start, when later) to its end; None: on every day to
    come (on demand, or a term that has already ended without the tenant leaving)."""
    start = None if term_start is None else datetime.date.fromisoformat(term_start)
    first = max(today, start) if start is not None else today
    end = load_rate_card().terms[term].ends(start or today)
    return first, end if end is not None and end > today else None


@dataclass(frozen=True)
class Crossing:
    """A tenant's nodes would cut into the reserve on ``day`` (the first such day of its term)."""

    region: RegionConfig
    gpu_type: str
    az: str
    first: datetime.date  # the first day the tenant asks for
    day: datetime.date
    reserved: int  # ours from that day
    leasable: int  # what tenants could still have from that day (it may be negative: already short)
    asked: int
    fits_before: int | None  # nodes that fit on every day before ``day``; None: ``day`` is the first day

    def message(self, what: str) -> str:
        """One line: which step, from when, what is left, and what would fit until then (a shorter term)."""
        said = (
            f"{what}: from {self.day} the internal reserve keeps {self.reserved} {self.gpu_type} nodes in {self.az} "
            f"for us ({self.region.stack}'s internalReserve), leaving {max(self.leasable, 0)} for tenants, "
            f"{self.asked} asked"
        )
        if self.fits_before is None:
            return said
        said += f"; until {self.day}, {max(self.fits_before, 0)} fit"
        card = load_rate_card()
        shorter = [
            (term.months, name, ends) for name, term in card.terms.items()
            if term.months is not None and (ends := term.ends(self.first)) is not None and ends <= self.day
        ]  # fmt: skip
        if shorter and self.fits_before >= self.asked:
            _, name, ends = max(shorter)
            return said + f" (a {name} term, to {ends}, fits)"
        return said + " (a term that ends by then, or fewer nodes)"


def _leasable_days(
    registry: Registry,
    region: RegionConfig,
    gpu_type: str,
    az: str,
    first: datetime.date,
    end: datetime.date | None,
    today: datetime.date,
    excluding: str | None,
) -> Iterator[tuple[datetime.date, int, int]]:
    """(day, reserved, leasable) on each day of [first, end) where the reserve changes, ``first`` included."""
    entry = region.capacity_for(gpu_type, az)
    assert entry is not None
    held = holdings(registry, region.region, gpu_type, az, today, excluding=excluding)
    for day in _days(region, gpu_type, az, first, end):
        reserved = reserved_on(region, gpu_type, az, day)
        yield day, reserved, entry.count - reserved - sum(h.on(day) for h in held)


def leasable_through(
    registry: Registry,
    region: RegionConfig,
    gpu_type: str,
    az: str,
    first: datetime.date,
    end: datetime.date | None,
    *,
    today: datetime.date,
    excluding: str | None = None,
) -> int:
    """The nodes a tenant could lease on every day of [first, end): the fewest leasable on any of them."""
    return min(n for _, _, n in _leasable_days(registry, region, gpu_type, az, first, end, today, excluding))


def crossing(
    registry: Registry,
    region: RegionConfig,
    gpu_type: str,
    az: str,
    nodes: int,
    first: datetime.date,
    end: datetime.date | None,
    *,
    today: datetime.date,
    excluding: str | None = None,
) -> Crossing | None:
    """The first day of [first, end) on which ``nodes`` more would cut into the reserve, or None: they fit."""
    fits_before: int | None = None
    for day, reserved, leasable in _leasable_days(registry, region, gpu_type, az, first, end, today, excluding):
        if leasable < nodes:
            return Crossing(region, gpu_type, az, first, day, reserved, leasable, nodes, fits_before)
        fits_before = leasable if fits_before is None else min(fits_before, leasable)
    return None


@dataclass(frozen=True)
class Collision:
    """On ``day`` the reserve and what tenants hold then exceed what the region holds."""

    region: str
    stack: str
    gpu_type: str
    az: str
    day: datetime.date
    held: int
    reserved: int
    carved: int
    tenants: tuple[str, ...]
    tenant_stacks: tuple[str, ...] = ()

    @property
    def short(self) -> int:
        return self.reserved + self.carved - self.held

    def message(self) -> str:
        return (
            f"{self.gpu_type} in {self.az}: from {self.day} the internal reserve keeps {self.reserved} of "
            f"{self.held} nodes, but tenants hold {self.carved} then ({', '.join(self.tenants)}): {self.short} "
            "nodes short; shorten or move their terms, or change internalReserve"
        )

    def as_json(self) -> dict[str, Any]:
        return {"region": self.region, "stack": self.stack, "sku": self.gpu_type, "az": self.az,
                "from": self.day.isoformat(), "held_nodes": self.held, "reserved_nodes": self.reserved,
                "carved_nodes": self.carved, "short_nodes": self.short, "tenants": list(self.tenants)}  # fmt: skip


def collisions(registry: Registry, today: datetime.date) -> Iterator[Collision]:
    """Each day, from today on, where the registry as it stands breaks a region's reserve (a step added after its
    tenants were onboarded): the tenants that hold nodes that day, and how many nodes are short."""
    for region in registry.regions.values():
        for gpu_type, az in sorted({(s.gpu_type, s.az_id) for s in region.internal_reserve}):
            entry = region.capacity_for(gpu_type, az)
            assert entry is not None  # the region's config checks it
            held = holdings(registry, region.region, gpu_type, az, today)
            for day in _days(region, gpu_type, az, today, None):
                reserved = reserved_on(region, gpu_type, az, day)
                holders = [h for h in held if h.on(day)]
                carved = sum(h.nodes for h in holders)
                if reserved and reserved + carved > entry.count:
                    names = tuple(sorted(h.who for h in holders))
                    stacks = tuple(sorted(h.stack for h in holders))
                    yield Collision(
                        region.region, region.stack, gpu_type, az, day, entry.count, reserved, carved, names, stacks
                    )
