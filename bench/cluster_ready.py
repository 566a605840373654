"""Time from an empty lab to a Slurm cluster that runs `srun -N<n> hostname`, for 2 and 4 GPU stand-in nodes
(tests/bootlab.py: fresh Debian 12 root filesystems booted with systemd, a head node, the lab network, the
lab's Secrets Manager holding the MUNGE key), in one run: create and boot the nodes, `gpucloud nodes configure
--playbook cluster`, then the job. The boot and the converge are timed apart.

    .venv/bin/python bench/cluster_ready.py [--nodes 2 4]   # needs root and the lab's packages (make deps)

Prints figures and the 4-node/2-node ratio; asserts nothing. The stand-ins install in seconds what takes
minutes on a real node (driver, CUDA, DKMS), so these figures are the orchestration's share, not a real
cluster's time to ready.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import bootlab  # noqa: E402

from gpucloud.nodes import configure  # noqa: E402

KEY = "bench-munge-key-" + "0123456789abcdef" * 8
SKUS = ("p5.48xlarge", "g6e.48xlarge")


def ready(sources: bootlab.Sources, work: Path, count: int) -> tuple[float, float, float] | str:
    """(boot s, converge s, srun s), or what went wrong."""
    work.mkdir()
    head = bootlab.Node(f"h{count}", work / "head", None, sources.socket)
    gpus = [bootlab.Node(f"g{count}-{i}", work / f"g{i}", SKUS[i % 2], sources.socket) for i in range(count)]
    start = time.perf_counter()
    try:
        with (
            bootlab.LabNetwork(f"gpucloud-bench-{os.getpid()}-{count}") as network,
            bootlab.booted([head, *gpus], sources.key, network=network),
            bootlab.lab_secret(network, work, KEY) as secret,
        ):
            booted = time.perf_counter()
            inventory = bootlab.write_cluster_inventory(
                work / "hosts.yml", sources, head, gpus, **secret, **bootlab.LAB_FSX
            )
            result = configure(ROOT, inventory, "cluster")
            converged = time.perf_counter()
            if not result.ok:
                return next((h.message for h in result.hosts if h.message), f"{result.status}, exit {result.rc}")
            ran = head.run("srun", f"--nodes={count}", "--ntasks-per-node=1", "hostname").stdout.split()
            done = time.perf_counter()
            if sorted(ran) != sorted(node.name for node in gpus):
                return f"srun ran on {sorted(ran)}"
            return booted - start, converged - booted, done - converged
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 4], help="GPU node counts [2 4]")
    counts = parser.parse_args().nodes
    reason = bootlab.require_boot_lab()
    if reason:
        raise SystemExit(f"cannot run here: {reason}")
    rows: dict[int, tuple[float, float, float] | str] = {}
    with tempfile.TemporaryDirectory(prefix="gpucloud-bench-") as tmp, bootlab.lab_sources(Path(tmp)) as sources:
        bootlab.rootfs_tarball()  # built (or taken from the cache) before any clock starts
        for count in counts:
            rows[count] = ready(sources, Path(tmp) / f"n{count}", count)
    print(f"{'GPU nodes':>9}  {'boot s':>7}  {'converge s':>10}  {'srun s':>6}  {'total s':>7}")
    for count, row in rows.items():
        if isinstance(row, str):
            print(f"{count:>9}  failed: {row}")
        else:
            print(f"{count:>9}  {row[0]:>7.1f}  {row[1]:>10.1f}  {row[2]:>6.1f}  {sum(row):>7.1f}")
    totals = {c: sum(r) for c, r in rows.items() if not isinstance(r, str)}
    if len(totals) >= 2:
        low, high = min(totals), max(totals)
        print(f"{high} nodes / {low} nodes, total: {totals[high] / totals[low]:.2f}x")


if __name__ == "__main__":
    main()
