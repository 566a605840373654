"""`gpucloud health check --nccl`: NVIDIA's nccl-tests `all_reduce_perf` over every GPU of the node, its bus
bandwidth at the largest message size against the SKU's floor (data/health.yaml ``nccl``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gpucloud.catalog import GpuSku
from gpucloud.datafiles import load_data_file, require
from gpucloud.health.tools import run_tool

# A result row, as nccl-tests' src/util.cu writes it (writeBenchmarkLinePreamble, writeBenchmarkLineBody; read
# 2026-11-27 at github.com/NVIDIA/nccl-tests a0b82b2): size count type redop root, then time algbw busbw #wrong for
# out-of-place and again for in-place. Times and bandwidths fall back to exponent form when wide ("%7.1e"); #wrong is
# "%6g" (so 1e+06 for a million bad elements) or "N/A" when the run was told not to check (-c 0).
_NUMBER = r"[\d.]+(?:e[+-]?\d+)?"
_HALF = rf"\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER}|N/A)"
_ROW = re.compile(rf"^\s*(\d+)\s+(\d+)\s+\w+\s+\w+\s+-?\d+{_HALF}{_HALF}(?:\s|$)")


@dataclass(frozen=True)
class AllReduce:
    size_bytes: int  # the largest message size measured
    busbw_gbs: float  # its bus bandwidth, the better of out-of-place and in-place
    wrong: int  # results that did not check out, over every size (nccl-tests' #wrong columns)


def parse(stdout: str) -> AllReduce:
    """The largest size's row of ``all_reduce_perf`` output; a ValueError when there is none."""
    rows = [m for m in map(_ROW.match, stdout.splitlines()) if m]
    if not rows:
        raise ValueError("all_reduce_perf printed no result row")
    unchecked = [m.group(1) for m in rows if "N/A" in (m.group(6), m.group(10))]
    if unchecked:
        why = f"#wrong N/A at {unchecked[0]} B; run it without -c 0"
        raise ValueError(f"all_reduce_perf did not check its results ({why})")
    wrong = sum(int(float(v)) for m in rows for v in (m.group(6), m.group(10)))
    last = max(rows, key=lambda m: int(m.group(1)))
    return AllReduce(int(last.group(1)), max(float(last.group(5)), float(last.group(9))), wrong)


@dataclass(frozen=True)
class NcclLimits:
    floor_fraction: float
    nvlink_gbs_per_link: dict[str, float]
    internode_floor_fraction: float
    srun_mpi: str
    max_bytes: str
    timeout_s: float

    def floor_gbs(self, sku: GpuSku, nodes: int = 1) -> float | None:
        """The busbw a SKU must reach within a node (an NVSwitch SKU; None without NVLink: reported, not judged)
        or across ``nodes`` nodes (a share of its network bandwidth)."""
        if nodes > 1:
            return self.internode_floor_fraction * sku.network_gbps / 8
        per_link = self.nvlink_gbs_per_link.get(sku.architecture)
        if not sku.nvswitch or per_link is None:
            return None
        return self.floor_fraction * per_link * sku.nvlinks_per_gpu


def load_limits() -> NcclLimits:
    doc = require(load_data_file("health.yaml"), "nccl", dict, "health.yaml")
    where = "health.yaml: nccl"
    return NcclLimits(
        floor_fraction=float(require(doc, "floor_fraction", float, where)),
        nvlink_gbs_per_link={k: float(v) for k, v in require(doc, "nvlink_gbs_per_link", dict, where).items()},
        internode_floor_fraction=float(require(doc, "internode_floor_fraction", float, where)),
        srun_mpi=str(require(doc, "srun_mpi", str, where)),
        max_bytes=str(require(doc, "max_bytes", str, where)),
        timeout_s=float(require(doc, "timeout_s", (int, float), where)),
    )


def run_all_reduce(gpus: int, limits: NcclLimits, nodes: int = 1) -> str:
    """``all_reduce_perf`` over ``gpus`` GPUs of this node, 8 bytes to max_bytes, doubling; its output. Across
    ``nodes`` nodes: one process per node with ``gpus`` GPUs each, started by Slurm's srun (a job of its own, the
    nodes to itself) from this node, which must be one of the cluster's."""
    argv = ["all_reduce_perf", "-b", "8", "-e", limits.max_bytes, "-f", "2", "-g", str(gpus)]
    what = "all_reduce_perf"
    if nodes > 1:
        minutes = max(1, math.ceil(limits.timeout_s / 60))
        argv = ["srun", f"--nodes={nodes}", "--ntasks-per-node=1", f"--gres=gpu:{gpus}", "--exclusive",
                f"--mpi={limits.srun_mpi}", f"--time={minutes}", *argv]  # fmt: skip
        what = "srun all_reduce_perf"
    result = run_tool(argv, limits.timeout_s)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [f"exit {result.returncode}"]
        raise ValueError(f"{what} failed: {last[0]}")
    return result.stdout
