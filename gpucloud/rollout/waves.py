"""Which stacks a rollout runs, and in which waves.

SPEC (``--waves``): waves separated by ``;``, each ``[NAME:]GLOB[,GLOB...]``. A stack joins the first
wave one of whose globs matches its name; stacks no wave names form a last wave, ``rest``. Waves left
empty are dropped. The default is the org stack alone (its guardrails bind every tenant account), then a
canary wave of one stack (the region stack with the fewest tenant stacks, ties by name; the first tenant
when no region is selected), then the other region stacks, the tenants' account stacks, and the tenant stacks:

    org:org;canary:<region stack with the fewest tenants>;regions:region-*;accounts:account-*;tenants:tenant-*

A stack reads the outputs of the stacks it builds on (regions and accounts read the org stack; a tenant
stack reads its region and its account), so it may never run before, or in the same wave as, one of them
when both are rolled out: such a SPEC is refused.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from gpucloud.choices import closest
from gpucloud.errors import ConfigError


@dataclass(frozen=True)
class Wave:
    name: str
    stacks: tuple[str, ...]


def select(stacks: list[str], globs: tuple[str, ...]) -> list[str]:
    """The stacks that match any of ``globs`` (all of them when no glob is given), in name order."""
    if not globs:
        return sorted(stacks)
    chosen = sorted({s for s in stacks for g in globs if fnmatch.fnmatchcase(s, g)})
    if not chosen:
        wanted = " ".join(globs)
        raise ConfigError(f"--stacks {wanted}: matches no stack; stacks: {closest(wanted, stacks)}")
    return chosen


def default_spec(selected: list[str]) -> str:
    """The default waves; the canary is the region stack whose failure hurts the fewest tenants."""
    regions = [s for s in selected if s.startswith("region-")]
    tenants = [s for s in selected if s.startswith("tenant-")]
    load = {r: sum(1 for t in tenants if region_of(t, {r}) == r) for r in regions}
    canary = min(sorted(regions), key=lambda r: load[r]) if regions else (tenants or sorted(selected))[0]
    return f"org:org;canary:{canary};regions:region-*;accounts:account-*;tenants:tenant-*"


def parse_spec(spec: str) -> list[tuple[str, tuple[str, ...]]]:
    waves: list[tuple[str, tuple[str, ...]]] = []
    for i, part in enumerate(p.strip() for p in spec.split(";")):
        if not part:
            raise ConfigError(f"--waves={spec!r}: wave {i + 1} is empty; want [NAME:]GLOB[,GLOB...] separated by ;")
        name, _, globs = part.rpartition(":") if ":" in part else ("", "", part)
        patterns = tuple(g.strip() for g in globs.split(",") if g.strip())
        if not patterns:
            raise ConfigError(f"--waves={spec!r}: wave {part!r} names no stack glob")
        waves.append((name.strip() or f"wave-{i + 1}", patterns))
    names = [n for n, _ in waves]
    if len(set(names)) != len(names):
        raise ConfigError(f"--waves={spec!r}: wave names must differ")
    return waves


def region_of(tenant_stack: str, regions: set[str]) -> str | None:
    """``tenant-acme-us-east-1`` -> ``region-us-east-1`` when that region stack is among ``regions``."""
    return next((r for r in sorted(regions) if tenant_stack.endswith("-" + r.removeprefix("region-"))), None)


def reads(stack: str, selected: set[str]) -> list[str]:
    """The selected stacks whose outputs ``stack`` reads (through StackReferences), which must run before it."""
    if stack.startswith(("region-", "account-")):
        return [s for s in ("org",) if s in selected]
    if not stack.startswith("tenant-"):
        return []
    regions = {s for s in selected if s.startswith("region-")}
    region = region_of(stack, regions)
    found = [region] if region is not None else []
    for account in sorted(s for s in selected if s.startswith("account-")):
        tenant = account.removeprefix("account-")
        if region is not None and stack == f"tenant-{tenant}-{region.removeprefix('region-')}":
            found.append(account)
    return found


def plan_waves(selected: list[str], spec: str | None) -> list[Wave]:
    spec = spec or default_spec(selected)
    parsed = parse_spec(spec)
    buckets: dict[str, list[str]] = {name: [] for name, _ in parsed}  # in the SPEC's order
    for stack in selected:
        wave = next((name for name, globs in parsed if any(fnmatch.fnmatchcase(stack, g) for g in globs)), "rest")
        buckets.setdefault(wave, []).append(stack)
    waves = [Wave(name, tuple(stacks)) for name, stacks in buckets.items() if stacks]
    index = {stack: i for i, wave in enumerate(waves) for stack in wave.stacks}
    chosen = set(selected)
    for stack in selected:
        for before in reads(stack, chosen):
            if index[before] >= index[stack]:
                raise ConfigError(
                    f"--waves={spec!r}: {stack} would run in wave {waves[index[stack]].name!r}, not after "
                    f"{before} (wave {waves[index[before]].name!r}), whose outputs it reads"
                )
    return waves
