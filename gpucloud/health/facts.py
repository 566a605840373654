"""What NVML says about a node, as plain data: the checks are functions of these and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Missing:
    """A fact NVML did not give: ``not_supported`` on hardware that lacks it, else the call failed."""

    reason: str
    not_supported: bool = False


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A value, or why there is none. (Explicit, so a check cannot mistake "not read" for 0 or False.)"""

    value: T | None = None
    missing: Missing | None = None

    @property
    def ok(self) -> bool:
        return self.missing is None


@dataclass(frozen=True)
class NvLink:
    link: int
    active: bool
    crc_flit: int | None
    crc_data: int | None
    replay: int | None
    recovery: int | None

    @property
    def errors(self) -> dict[str, int | None]:
        return {"crc_flit": self.crc_flit, "crc_data": self.crc_data, "replay": self.replay, "recovery": self.recovery}


@dataclass(frozen=True)
class RemappedRows:
    correctable: int
    uncorrectable: int
    pending: bool
    failed: bool


@dataclass(frozen=True)
class GpuFacts:
    index: int
    name: Fact[str]
    uuid: Fact[str]
    bus_id: Fact[str]
    memory_mib: Fact[int]
    persistence: Fact[bool]
    ecc_enabled: Fact[bool]
    ecc_uncorrected_volatile: Fact[int]
    ecc_uncorrected_aggregate: Fact[int]
    remapped_rows: Fact[RemappedRows]
    retired_pages_pending: Fact[bool]
    nvlinks: Fact[tuple[NvLink, ...]]
    pcie_gen: Fact[int]
    pcie_gen_max: Fact[int]
    pcie_width: Fact[int]
    pcie_width_max: Fact[int]
    temperature_c: Fact[int]
    slowdown_c: Fact[int]
    clock_event_reasons: Fact[int]
    fabric_state: Fact[int]
    fabric_status: Fact[int]
    mig_enabled: Fact[bool]


@dataclass(frozen=True)
class NodeFacts:
    driver_version: Fact[str]
    gpus: tuple[GpuFacts, ...] = field(default_factory=tuple)
