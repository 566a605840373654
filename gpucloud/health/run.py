"""``gpucloud health check``: read NVML (under a timeout), run every check, add the node-level checks.

Each source of facts is a parameter, so tests inject fakes at the boundary and the command runs the
real ones: ``nvml`` (the pynvml module), ``kernel_log`` (lines of the kernel log), ``tools`` for DCGM
and systemd.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpucloud.health import kernel_log as klog
from gpucloud.health import nccl, tools
from gpucloud.health.checks import FAIL, PASS, WARN, Check, node_checks, worst
from gpucloud.health.expect import Expectation
from gpucloud.health.facts import NodeFacts
from gpucloud.health.nvml import NvmlUnavailableError, load_nvml, read_node


@dataclass(frozen=True)
class Report:
    expected: str | None
    checks: list[Check]

    @property
    def verdict(self) -> str:
        return worst([c.verdict for c in self.checks]) if self.checks else FAIL

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "expected": self.expected,
            "checks": [c.as_json() for c in self.checks],
            # Each failed check in one line: what the hand-over gate and Slurm's health program report.
            "failed": [c.summary for c in self.checks if c.verdict == FAIL],
        }


@dataclass
class Sources:
    """Where facts come from; the defaults are the real node."""

    nvml: Callable[[], Any] = load_nvml
    kernel_log: Callable[[float, float], list[str]] = klog.read_kernel_log
    dcgm_diag: Callable[[int, float], tuple[bool, str]] = tools.dcgm_diag
    service_state: Callable[[str, float], str] = tools.service_state
    all_reduce: Callable[[int, nccl.NcclLimits, int, bool, str | None], str] = nccl.run_all_reduce
    efa_installed: Callable[[], bool] = nccl.efa_installed


def read_with_timeout(nvml: Any, timeout_s: float) -> NodeFacts:
    """``read_node`` in a daemon thread: a hung driver becomes an error instead of a hung gate."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["facts"] = read_node(nvml)
        except BaseException as err:  # noqa: BLE001 - carried to the caller, which reports it
            box["error"] = err

    thread = threading.Thread(target=work, name="nvml-read", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise NvmlUnavailableError(f"NVML did not answer within {timeout_s:g} s (a hung driver or GPU)")
    if "error" in box:
        error = box["error"]
        if isinstance(error, NvmlUnavailableError):
            raise error
        raise NvmlUnavailableError(f"reading NVML failed: {type(error).__name__}: {error}")
    facts: NodeFacts = box["facts"]
    return facts


def check_node(
    expect: Expectation,
    *,
    deep: int | None = None,
    all_reduce: bool = False,
    all_reduce_nodes: int | None = None,
    all_reduce_image: str | None = None,
    sources: Sources | None = None,
) -> Report:
    src = sources or Sources()
    limits = expect.limits
    expected = expect.sku.instance_type if expect.sku else None
    checks: list[Check] = []
    gpus = 0
    try:
        facts = read_with_timeout(src.nvml(), limits.nvml_timeout_s)
    except NvmlUnavailableError as err:
        checks.append(Check("nvml", None, FAIL, None, "NVML answering", str(err)))
    else:
        checks.extend(node_checks(facts, expect))
        gpus = len(facts.gpus)
    checks.append(xid_check(src, expect))
    if expect.sku is not None and expect.sku.nvswitch and expect.sku.architecture == "ampere":
        checks.append(fabric_manager_check(src, expect))
    if deep is not None:
        checks.append(deep_check(src, expect, deep))
    if all_reduce:
        checks.append(all_reduce_check(src, expect, gpus))
    if all_reduce_nodes is not None:
        checks.append(all_reduce_check(src, expect, gpus, all_reduce_nodes, all_reduce_image))
    return Report(expected=expected, checks=checks)


def all_reduce_check(src: Sources, expect: Expectation, gpus: int, nodes: int = 1, image: str | None = None) -> Check:
    """nccl-tests' all-reduce over every GPU NVML saw, on this node or with as many on each of ``nodes`` nodes: it
    must run, every result must check out, and the bus bandwidth at the largest size must reach the floor (within
    a node: NVSwitch SKUs only; across nodes: a share of the SKU's network)."""
    name = "nccl-all-reduce" if nodes == 1 else f"nccl-all-reduce-{nodes}-nodes"
    limits = nccl.load_limits()
    floor = limits.floor_gbs(expect.sku, nodes) if expect.sku is not None else None
    expected = f"busbw >= {floor:.0f} GB/s" if floor is not None else "runs, results check out"
    if gpus * nodes < 2:
        return Check(name, None, FAIL, f"{gpus} GPU(s)", expected, "an all-reduce needs two GPUs or more")
    try:
        result = nccl.parse(src.all_reduce(gpus, limits, nodes, nodes > 1 and src.efa_installed(), image))
    except (tools.ToolError, ValueError) as err:
        return Check(name, None, FAIL, None, expected, str(err))
    over = f"{gpus} GPUs" if nodes == 1 else f"{nodes} nodes x {gpus} GPUs"
    seen = f"{result.busbw_gbs:.1f} GB/s at {result.size_bytes} B over {over}"
    if result.wrong:
        return Check(name, None, FAIL, seen, expected, f"{result.wrong} result(s) did not check out (#wrong)")
    if floor is not None and result.busbw_gbs < floor:
        return Check(name, None, FAIL, seen, expected, "bus bandwidth under the SKU's floor (health.yaml nccl)")
    if floor is None:
        why = "no SKU expected" if expect.sku is None else f"{expect.sku.instance_type} has no NVLink floor"
        return Check(name, None, WARN if expect.sku is None else PASS, seen, expected, f"{why}: reported only")
    return Check(name, None, PASS, seen, expected, "")


def xid_check(src: Sources, expect: Expectation) -> Check:
    limits = expect.limits
    window = f"last {limits.xid_lookback_hours:g} h"
    expected = f"no critical Xid ({', '.join(str(x) for x in sorted(limits.critical_xids))}) in the {window}"
    try:
        lines = src.kernel_log(limits.xid_lookback_hours, limits.kernel_log_timeout_s)
    except klog.KernelLogError as err:
        return Check("xid", None, FAIL, None, expected, f"cannot read the kernel log: {err}")
    events = klog.xid_events(lines)
    critical = [e for e in events if e[0] in limits.critical_xids]
    seen = ", ".join(f"Xid {x} on {dev}" for x, dev, _ in events[:5]) or "none"
    if critical:
        xid, device, detail = critical[0]
        return Check("xid", None, FAIL, seen, expected, f"Xid {xid} on {device}: {detail}"[:200])
    if events:
        return Check("xid", None, "WARN", seen, expected, "non-critical Xid events: look before handover")
    return Check("xid", None, PASS, seen, expected, "")


def fabric_manager_check(src: Sources, expect: Expectation) -> Check:
    """Before Hopper, NVML has no fabric state: the nvidia-fabricmanager service must be active."""
    try:
        state = src.service_state("nvidia-fabricmanager", expect.limits.kernel_log_timeout_s)
    except tools.ToolError as err:
        return Check("fabric-manager", None, FAIL, None, "active", str(err))
    ok = state == "active"
    return Check("fabric-manager", None, PASS if ok else FAIL, state, "active", "" if ok else "NVSwitch needs it")


def deep_check(src: Sources, expect: Expectation, level: int) -> Check:
    name = f"dcgm-diag-r{level}"
    try:
        passed, detail = src.dcgm_diag(level, expect.limits.dcgm_timeout_s)
    except tools.ToolError as err:
        return Check(name, None, FAIL, None, "pass", str(err))
    return Check(name, None, PASS if passed else FAIL, detail, "pass", "" if passed else detail)
