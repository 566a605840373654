"""Which stacks a rollout runs, and in which waves.

SPEC (``--waves``): waves separated by ``;``, each ``[NAME:]GLOB[,GLOB...]``. A stack joins the first
wave one of whose globs matches its name; stacks no wave names form a last wave, ``rest``. Waves left
empty are dropped. The default is a canary wave of one stack (the first region stack selected, or the
first tenant when no region is), then the other region stacks, then the tenant stacks:

    canary:<first region stack>;regions:region-*;tenants:tenant-*

A tenant stack reads its region stack's outputs, so it may never run before, or in the same wave as,
its region stack when both are rolled out: such a SPEC is refused.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

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
        raise ConfigError(f"--stacks {' '.join(globs)}: matches no stack; stacks: {', '.join(sorted(stacks))}")
    return chosen


def default_spec(selected: list[str]) -> str:
    regions = [s for s in selected if s.startswith("region-")]
    canary = regions[0] if regions else selected[0]
    return f"canary:{canary};regions:region-*;tenants:tenant-*"


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


def plan_waves(selected: list[str], spec: str | None) -> list[Wave]:
    spec = spec or default_spec(selected)
    parsed = parse_spec(spec)
    buckets: dict[str, list[str]] = {name: [] for name, _ in parsed}  # in the SPEC's order
    for stack in selected:
        wave = next((name for name, globs in parsed if any(fnmatch.fnmatchcase(stack, g) for g in globs)), "rest")
        buckets.setdefault(wave, []).append(stack)
    waves = [Wave(name, tuple(stacks)) for name, stacks in buckets.items() if stacks]
    index = {stack: i for i, wave in enumerate(waves) for stack in wave.stacks}
    regions = {s for s in selected if s.startswith("region-")}
    for stack in selected:
        if not stack.startswith("tenant-"):
            continue
        region = region_of(stack, regions)
        if region is not None and index[region] >= index[stack]:
            raise ConfigError(
                f"--waves={spec!r}: {stack} would run in wave {waves[index[stack]].name!r}, not after its region "
                f"stack {region} (wave {waves[index[region]].name!r}); tenants read their region's outputs"
            )
    return waves
