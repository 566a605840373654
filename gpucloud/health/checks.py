"""The health checks: plain functions from what NVML said (``NodeFacts``) to verdicts.

Every check gives PASS, WARN or FAIL with the value seen and the value expected. A fact NVML could
not read (anything but NOT_SUPPORTED) is a FAIL naming the call: the gate fails closed. Checks a SKU
cannot have (NVLink on a PCIe card, fabric state without NVSwitch) are not run there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gpucloud.health.expect import Expectation
from gpucloud.health.facts import Fact, GpuFacts, NodeFacts

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
_ORDER = {PASS: 0, WARN: 1, FAIL: 2}
MIB_PER_GIB = 1024
# NVML clock event (throttle) reasons that mean the hardware is protecting itself.
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
HW_POWER_BRAKE = 0x80
BAD_CLOCK_REASONS = {
    HW_SLOWDOWN: "hardware slowdown",
    SW_THERMAL: "software thermal slowdown",
    HW_THERMAL: "hardware thermal slowdown",
    HW_POWER_BRAKE: "power-brake slowdown",
}
FABRIC_NOT_SUPPORTED = 0  # nvmlGpuFabricState_t, NVML API reference 'Fabric definitions' (R590, read 2026-11-27)
FABRIC_COMPLETED = 3
FABRIC_STATES = {0: "not supported", 1: "not started", 2: "in progress", 3: "completed"}


@dataclass(frozen=True)
class Check:
    name: str
    gpu: int | None  # None: a check of the whole node
    verdict: str
    seen: Any
    expected: Any
    reason: str

    @property
    def summary(self) -> str:
        """One line a person reads: which check, where, and why (the gate's failure, Slurm's drain reason)."""
        where = "the node" if self.gpu is None else f"GPU {self.gpu}"
        return f"{self.name} on {where}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gpu": self.gpu,
            "verdict": self.verdict,
            "seen": self.seen,
            "expected": self.expected,
            "reason": self.reason,
        }


def worst(verdicts: Iterator[str] | list[str]) -> str:
    return max(verdicts, key=lambda v: _ORDER[v], default=PASS)


def _unread(name: str, gpu: int | None, fact: Fact[Any], expected: Any) -> Check | None:
    """A FAIL when NVML could not read the fact (not merely NOT_SUPPORTED)."""
    if fact.missing is not None and not fact.missing.not_supported:
        return Check(name, gpu, FAIL, None, expected, f"NVML could not read it: {fact.missing.reason}")
    return None


def node_checks(facts: NodeFacts, expect: Expectation) -> list[Check]:
    checks: list[Check] = []
    sku = expect.sku
    if sku is None:
        verdict = FAIL if not facts.gpus else WARN
        checks.append(Check("gpu-count", None, verdict, len(facts.gpus), None, "no SKU expected (pass --expect SKU)"))
    else:
        ok = len(facts.gpus) == sku.gpu_count
        checks.append(
            Check(
                "gpu-count",
                None,
                PASS if ok else FAIL,
                len(facts.gpus),
                sku.gpu_count,
                f"{sku.instance_type} has {sku.gpu_count} GPUs" if not ok else "",
            )
        )
    branch = expect.limits.driver_branch
    failed = _unread("driver-branch", None, facts.driver_version, f"{branch}.x")
    if failed:
        checks.append(failed)
    else:
        version = str(facts.driver_version.value)
        ok = version.split(".")[0] == branch
        checks.append(
            Check(
                "driver-branch",
                None,
                PASS if ok else FAIL,
                version,
                f"{branch}.x",
                "" if ok else f"the pinned branch is {branch} (node_software.yaml)",
            )
        )
    for gpu in facts.gpus:
        checks.extend(gpu_checks(gpu, expect))
    return checks


GpuCheck = Callable[[GpuFacts, Expectation], Iterator[Check]]


def _model(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    expected = expect.sku.gpu_model if expect.sku else None
    failed = _unread("model", gpu.index, gpu.name, expected)
    if failed:
        yield failed
    elif expected is None:
        yield Check("model", gpu.index, WARN, gpu.name.value, None, "no SKU expected")
    else:
        ok = gpu.name.value == expected
        yield Check(
            "model", gpu.index, PASS if ok else FAIL, gpu.name.value, expected, "" if ok else "not the model sold"
        )


def _memory(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    failed = _unread("memory", gpu.index, gpu.memory_mib, None)
    if failed:
        yield failed
        return
    seen = gpu.memory_mib.value
    if expect.sku is None:
        yield Check("memory", gpu.index, WARN, f"{seen} MiB", None, "no SKU expected")
        return
    nominal = expect.sku.gpu_memory_gb * MIB_PER_GIB
    low, high = nominal * (1 - expect.limits.memory_below), nominal * (1 + expect.limits.memory_above)
    ok = seen is not None and low <= seen <= high
    yield Check(
        "memory",
        gpu.index,
        PASS if ok else FAIL,
        f"{seen} MiB",
        f"{expect.sku.gpu_memory_gb} GB ({low:.0f}-{high:.0f} MiB)",
        "" if ok else "memory differs from the SKU's",
    )


def _flag(name: str, fact_of: Callable[[GpuFacts], Fact[bool]], want: bool, why: str) -> GpuCheck:
    def check(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
        fact = fact_of(gpu)
        expected = "on" if want else "off"
        failed = _unread(name, gpu.index, fact, expected)
        if failed:
            yield failed
        elif not fact.ok:
            yield Check(name, gpu.index, WARN, "not supported", expected, "this GPU does not report it")
        else:
            ok = bool(fact.value) == want
            seen = "on" if fact.value else "off"
            yield Check(name, gpu.index, PASS if ok else FAIL, seen, expected, "" if ok else why)

    return check


def _ecc_errors(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    for label, fact in (("volatile", gpu.ecc_uncorrected_volatile), ("aggregate", gpu.ecc_uncorrected_aggregate)):
        name = f"ecc-uncorrected-{label}"
        failed = _unread(name, gpu.index, fact, 0)
        if failed:
            yield failed
        elif not fact.ok:
            yield Check(name, gpu.index, WARN, "not supported", 0, "this GPU does not count ECC errors")
        elif fact.value == 0:
            yield Check(name, gpu.index, PASS, 0, 0, "")
        elif label == "aggregate" and _remapped_cleanly(gpu):
            # Ampere and later contain an uncorrectable error and remap its row; the lifetime count stays. NVIDIA's
            # "GPU Memory Error Management" (docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt, "Error Recovery and
            # Response Flags", read 2026-11-27) judges such a GPU by its remap flags (pending: reset; failed: RMA),
            # which row-remapping checks. Seen on a lent H100 (3 in its lifetime, 1 row remapped, none pending).
            yield Check(name, gpu.index, WARN, fact.value, 0, "in the GPU's lifetime; its rows were remapped")
        else:
            yield Check(name, gpu.index, FAIL, fact.value, 0, "uncorrectable memory errors")


def _remapped_cleanly(gpu: GpuFacts) -> bool:
    """Row remapping answers (Ampere or later) with nothing pending and no failure."""
    rows = gpu.remapped_rows.value if gpu.remapped_rows.ok else None
    return rows is not None and not rows.pending and not rows.failed


def _row_remapping(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    failed = _unread("row-remapping", gpu.index, gpu.remapped_rows, "none pending or failed")
    if failed:
        yield failed
        return
    rows = gpu.remapped_rows.value
    if rows is not None:
        bad = rows.pending or rows.failed
        seen = f"pending={rows.pending} failed={rows.failed} uncorrectable={rows.uncorrectable}"
        reason = "a row remap is pending (reset the GPU) or failed (replace it)" if bad else ""
        yield Check("row-remapping", gpu.index, FAIL if bad else PASS, seen, "none pending or failed", reason)
        return
    # GPUs before Ampere retire pages instead of remapping rows.
    failed = _unread("retired-pages", gpu.index, gpu.retired_pages_pending, "none pending")
    if failed:
        yield failed
    elif gpu.retired_pages_pending.ok:
        pending = bool(gpu.retired_pages_pending.value)
        yield Check(
            "retired-pages",
            gpu.index,
            FAIL if pending else PASS,
            "pending" if pending else "none pending",
            "none pending",
            "a page retirement waits for a reset" if pending else "",
        )
    else:
        yield Check(
            "row-remapping", gpu.index, WARN, "not supported", "reported", "neither row remapping nor page retirement"
        )


def _nvlink(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    wanted = expect.sku.nvlinks_per_gpu if expect.sku else None
    if wanted == 0:
        return  # a PCIe SKU: no NVLink to check
    failed = _unread("nvlink", gpu.index, gpu.nvlinks, wanted)
    if failed:
        yield failed
        return
    links = gpu.nvlinks.value or ()
    if not gpu.nvlinks.ok:
        if wanted:
            yield Check("nvlink", gpu.index, FAIL, "no NVLink", f"{wanted} active links", "NVML reports no NVLink")
        return
    active = sum(1 for link in links if link.active)
    ok = active >= (wanted if wanted is not None else len(links))
    yield Check(
        "nvlink",
        gpu.index,
        PASS if ok else FAIL,
        f"{active} of {len(links)} links active",
        f"{wanted if wanted is not None else len(links)} active links",
        "" if ok else "links down",
    )
    limits = expect.limits
    worst_count, where = 0, ""
    for link in links:
        for counter, value in link.errors.items():
            if value is not None and value > worst_count:
                worst_count, where = value, f"link {link.link} {counter}"
    verdict = (
        FAIL if worst_count > limits.nvlink_fail_above else WARN if worst_count > limits.nvlink_warn_above else PASS
    )
    yield Check(
        "nvlink-errors",
        gpu.index,
        verdict,
        worst_count,
        f"<= {limits.nvlink_warn_above}",
        f"{where} counted {worst_count} errors" if verdict != PASS else "",
    )


def _pcie(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    for fact in (gpu.pcie_width, gpu.pcie_width_max, gpu.pcie_gen, gpu.pcie_gen_max):
        failed = _unread("pcie-link", gpu.index, fact, "maximum width")
        if failed:
            yield failed
            return
    width, width_max = gpu.pcie_width.value, gpu.pcie_width_max.value
    gen, gen_max = gpu.pcie_gen.value, gpu.pcie_gen_max.value
    seen = f"gen{gen} x{width}"
    expected = f"gen{gen_max} x{width_max}"
    if width != width_max:
        yield Check("pcie-link", gpu.index, FAIL, seen, expected, "the link trained narrower than it can")
    elif gen != gen_max:
        yield Check("pcie-link", gpu.index, WARN, seen, expected, "lower generation (normal at idle; check under load)")
    else:
        yield Check("pcie-link", gpu.index, PASS, seen, expected, "")


def _temperature(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    failed = _unread("temperature", gpu.index, gpu.temperature_c, None) or _unread(
        "temperature", gpu.index, gpu.slowdown_c, None
    )
    if failed:
        yield failed
        return
    temp, slowdown = gpu.temperature_c.value, gpu.slowdown_c.value
    if temp is None:
        yield Check("temperature", gpu.index, FAIL, None, None, "temperature not reported")
    elif slowdown is None:
        yield Check("temperature", gpu.index, WARN, f"{temp} C", None, "no slowdown threshold reported")
    else:
        ok = temp < slowdown
        yield Check(
            "temperature",
            gpu.index,
            PASS if ok else FAIL,
            f"{temp} C",
            f"< {slowdown} C (slowdown)",
            "" if ok else "at or above the slowdown temperature",
        )


def _clock_events(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    failed = _unread("clock-events", gpu.index, gpu.clock_event_reasons, "no slowdown")
    if failed:
        yield failed
        return
    reasons = int(gpu.clock_event_reasons.value or 0)
    bad = [label for bit, label in BAD_CLOCK_REASONS.items() if reasons & bit]
    yield Check(
        "clock-events",
        gpu.index,
        FAIL if bad else PASS,
        f"0x{reasons:x}",
        "no slowdown",
        ", ".join(bad),
    )


def _fabric(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    sku = expect.sku
    if sku is not None and not sku.nvswitch:
        return  # no NVSwitch, no fabric
    failed = _unread("fabric", gpu.index, gpu.fabric_state, "completed")
    if failed:
        yield failed
        return
    if not gpu.fabric_state.ok:
        if sku is not None and sku.architecture in ("hopper", "blackwell"):
            yield Check("fabric", gpu.index, FAIL, "not supported", "completed", "NVML reports no fabric state")
        return  # before Hopper the fabric manager service is checked instead (node check)
    state, status = gpu.fabric_state.value, gpu.fabric_status.value
    if state == FABRIC_NOT_SUPPORTED:
        # NVML's answer for a GPU in no NVSwitch system (seen on a lone H100 SXM in a VM, 2026-11-27): no fabric
        # manager would change it, so say what it is; only an NVSwitch SKU makes it a failure.
        verdict, why = (WARN, "no SKU expected") if sku is None else (FAIL, f"{sku.instance_type} has NVSwitch")
        yield Check("fabric", gpu.index, verdict, "not supported", "completed", f"in no NVLink fabric; {why}")
        return
    ok = state == FABRIC_COMPLETED and status == 0
    seen = f"{FABRIC_STATES.get(int(state or 0), state)}, status {status}"
    yield Check(
        "fabric",
        gpu.index,
        PASS if ok else FAIL,
        seen,
        "completed, status 0",
        "" if ok else "the GPU has not joined the NVLink fabric (is nvidia-fabricmanager running?)",
    )


def _mig(gpu: GpuFacts, expect: Expectation) -> Iterator[Check]:
    want = expect.limits.mig_enabled
    expected = "enabled" if want else "disabled"
    failed = _unread("mig", gpu.index, gpu.mig_enabled, expected)
    if failed:
        yield failed
        return
    enabled = bool(gpu.mig_enabled.value) if gpu.mig_enabled.ok else False  # no MIG support: MIG is off
    ok = enabled == want
    seen = "enabled" if enabled else ("disabled" if gpu.mig_enabled.ok else "not supported")
    yield Check("mig", gpu.index, PASS if ok else FAIL, seen, expected, "" if ok else "MIG mode differs")


GPU_CHECKS: tuple[GpuCheck, ...] = (
    _model,
    _memory,
    _flag("persistence-mode", lambda g: g.persistence, True, "persistence mode is off (nvidia-persistenced)"),
    _flag("ecc-mode", lambda g: g.ecc_enabled, True, "ECC is off"),
    _ecc_errors,
    _row_remapping,
    _nvlink,
    _pcie,
    _temperature,
    _clock_events,
    _fabric,
    _mig,
)


def gpu_checks(gpu: GpuFacts, expect: Expectation) -> list[Check]:
    return [check for fn in GPU_CHECKS for check in fn(gpu, expect)]
