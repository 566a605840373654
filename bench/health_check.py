"""Wall time of the whole NVML health check of every GPU, against a baseline that shells out to
`nvidia-smi --query-gpu` for the same facts, measured in the same run on the same node.

    .venv/bin/python bench/health_check.py [--repeat 10]

On a machine without a GPU (this workplace) it says so and measures only the checks' own cost over the
fake NVML of the tests (8 H100s): the part of the check that is gpucloud's code, not the driver's.
Prints figures; asserts nothing. Target (issue 5): 8-GPU node under 1 s, >= 10x faster than nvidia-smi.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from gpucloud.health.expect import Expectation, load_thresholds  # noqa: E402
from gpucloud.health.nvml import load_nvml  # noqa: E402
from gpucloud.health.run import Sources, check_node  # noqa: E402

# The facts the NVML check reads, as nvidia-smi names them.
QUERY = ",".join(
    [
        "index", "name", "uuid", "pci.bus_id", "memory.total", "driver_version", "persistence_mode",
        "ecc.mode.current", "ecc.errors.uncorrected.volatile.total", "ecc.errors.uncorrected.aggregate.total",
        "remapped_rows.pending", "remapped_rows.failure", "pcie.link.gen.current", "pcie.link.gen.max",
        "pcie.link.width.current", "pcie.link.width.max", "temperature.gpu", "clocks_event_reasons.active",
        "mig.mode.current",
    ]
)  # fmt: skip


def timed(fn: object, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    limits = load_thresholds()
    expect = Expectation(sku=None, limits=limits)
    no_log = Sources(kernel_log=lambda hours, timeout: [])  # the kernel log is the same cost for both
    try:
        nvml = load_nvml()
        nvml.nvmlInit()
        gpus = nvml.nvmlDeviceGetCount()
        nvml.nvmlShutdown()
    except Exception as err:  # noqa: BLE001 - no usable NVML: say so
        print(f"no GPU here ({err}): the NVML and nvidia-smi timings need a GPU node")
        from fake_nvml import FakeNvml, h100

        fake = FakeNvml([h100(i) for i in range(8)])
        checks = timed(
            lambda: check_node(expect, sources=Sources(nvml=lambda: fake, kernel_log=no_log.kernel_log)), args.repeat
        )
        median_ms = statistics.median(checks) * 1000
        print(f"checks over a fake NVML of 8 H100s (gpucloud's own code): median {median_ms:.2f} ms")
        return
    no_log.nvml = lambda: nvml
    ours = timed(lambda: check_node(expect, sources=no_log), args.repeat)
    median = statistics.median(ours)
    print(f"{gpus} GPU(s); NVML check (all GPUs, every check): median {median:.3f} s, best {min(ours):.3f} s")
    if shutil.which("nvidia-smi") is None:
        print("nvidia-smi is not installed: no baseline")
        return
    argv = ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader"]
    nvlink = ["nvidia-smi", "nvlink", "--status"]
    smi = timed(
        lambda: (
            subprocess.run(argv, capture_output=True, check=False),
            subprocess.run(nvlink, capture_output=True, check=False),
        ),
        args.repeat,
    )
    print(f"nvidia-smi --query-gpu (+ nvlink --status): median {statistics.median(smi):.3f} s, best {min(smi):.3f} s")
    print(f"speed-up: {statistics.median(smi) / statistics.median(ours):.1f}x (target >= 10x; 8 GPUs under 1 s)")


if __name__ == "__main__":
    main()
