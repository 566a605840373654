"""`gpucloud health check --nccl`: NVIDIA's nccl-tests `all_reduce_perf` over every GPU of the node, its bus
bandwidth at the largest message size against the SKU's floor (data/health.yaml ``nccl``)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

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
    efa_environment: dict[str, str]  # what a run across nodes over EFA is given (health.yaml nccl.efa)
    efa_library_path: tuple[str, ...]  # put before LD_LIBRARY_PATH: libfabric, the EFA Open MPI, aws-ofi-nccl
    image_all_reduce: str = "/opt/nccl-tests/build/all_reduce_perf"  # where a container image keeps it

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
    efa = require(doc, "efa", dict, where)
    return NcclLimits(
        floor_fraction=float(require(doc, "floor_fraction", float, where)),
        nvlink_gbs_per_link={k: float(v) for k, v in require(doc, "nvlink_gbs_per_link", dict, where).items()},
        internode_floor_fraction=float(require(doc, "internode_floor_fraction", float, where)),
        srun_mpi=str(require(doc, "srun_mpi", str, where)),
        max_bytes=str(require(doc, "max_bytes", str, where)),
        timeout_s=float(require(doc, "timeout_s", (int, float), where)),
        efa_environment={str(k): str(v) for k, v in require(efa, "environment", dict, f"{where}.efa").items()},
        efa_library_path=tuple(str(p) for p in require(efa, "library_path", list, f"{where}.efa")),
        image_all_reduce=str(require(doc, "image_all_reduce", str, where)),
    )


# The EFA installer's record of what it installed (AWS, "Get started with EFA and NCCL"; our efa role's stand-in
# writes it too): a node with it runs its all-reduce across nodes over EFA, and must show that it did.
EFA_INSTALLED = Path("/opt/amazon/efa_installed_packages")
# What aws-ofi-nccl logs under NCCL_DEBUG=INFO when NCCL uses libfabric's EFA provider: "NET/OFI Selected provider is
# efa, fabric is efa-direct (found 32 nics)" (aws-ofi-nccl 1.1x) or "NET/OFI Selected Provider is efa" (older; the
# EC2 User Guide's NCCL tutorial shows it). NCCL over TCP instead logs "NET/Socket" and "Using network Socket".
_EFA_SELECTED = re.compile(r"NET/OFI Selected provider is efa\b", re.IGNORECASE)
_SOCKETS = re.compile(r"NET/Socket|Using network Socket")


def efa_installed() -> bool:
    return EFA_INSTALLED.exists()


def efa_environment(limits: NcclLimits, base: dict[str, str]) -> dict[str, str]:
    """``base`` with what a run over EFA needs: AWS's variables, and its libraries ahead of LD_LIBRARY_PATH."""
    path = [*limits.efa_library_path, *([base["LD_LIBRARY_PATH"]] if base.get("LD_LIBRARY_PATH") else [])]
    return {**base, **limits.efa_environment, "LD_LIBRARY_PATH": ":".join(path)}


def check_efa_selected(output: str) -> None:
    """A ValueError unless NCCL's log shows libfabric's EFA provider, and no socket transport, carried the run."""
    if _SOCKETS.search(output):
        raise ValueError("NCCL ran over TCP sockets, not EFA (its log says NET/Socket)")
    if not _EFA_SELECTED.search(output):
        raise ValueError("NCCL did not select libfabric's EFA provider (no 'NET/OFI Selected provider is efa')")


# What an image must carry to run NCCL over EFA in a container (a tenant's job, the cluster's smoke job): AWS, "Get
# started with EFA and NCCL", and aws-samples/awsome-distributed-training micro-benchmarks/nccl-tests/
# nccl-tests.Dockerfile (read 2026-12-07) install the EFA software in the image with
# `efa_installer.sh -y --skip-kmod --skip-limit-conf --no-verify` and put its libraries on the image's
# LD_LIBRARY_PATH; pyxis gives the image's own values precedence over the job's (pyxis's --container-env).
IMAGE_NEEDS_EFA = (
    "the image must carry libfabric and aws-ofi-nccl on its LD_LIBRARY_PATH (the EFA installer in the image with "
    "--skip-kmod --skip-limit-conf --no-verify, as AWS's nccl-tests image does)"
)


def run_all_reduce(gpus: int, limits: NcclLimits, nodes: int = 1, efa: bool = False, image: str | None = None) -> str:
    """``all_reduce_perf`` over ``gpus`` GPUs of this node, 8 bytes to max_bytes, doubling; its output. Across
    ``nodes`` nodes: one process per node with ``gpus`` GPUs each, started by Slurm's srun (a job of its own, the
    nodes to itself) from this node, which must be one of the cluster's; with ``efa``, over EFA, which NCCL's log
    must show (a ValueError otherwise). With ``image`` (across nodes only), in that container image through pyxis,
    at ``image_all_reduce``: the image's own libraries carry it (the host's are not put on its path)."""
    argv = ["all_reduce_perf", "-b", "8", "-e", limits.max_bytes, "-f", "2", "-g", str(gpus)]
    what = "all_reduce_perf"
    env = None
    if nodes > 1 and efa:
        env = efa_environment(limits, dict(os.environ)) if image is None else {**os.environ, **limits.efa_environment}
    if nodes > 1:
        minutes = max(1, math.ceil(limits.timeout_s / 60))
        container = [f"--container-image={image}"] if image is not None else []
        if image is not None:
            argv[0] = limits.image_all_reduce
        argv = ["srun", f"--nodes={nodes}", "--ntasks-per-node=1", f"--gres=gpu:{gpus}", "--exclusive",
                f"--mpi={limits.srun_mpi}", f"--time={minutes}", *container, *argv]  # fmt: skip
        what = "srun all_reduce_perf" + (f" in {image}" if image is not None else "")
    result = run_tool(argv, limits.timeout_s, env=env)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [f"exit {result.returncode}"]
        raise ValueError(f"{what} failed: {last[0]}")
    if env is not None:
        try:
            check_efa_selected(result.stdout + result.stderr)
        except ValueError as err:
            raise ValueError(f"{err}: {IMAGE_NEEDS_EFA}" if image is not None else str(err)) from None
    return result.stdout
