"""The same health checks on the real NVML, where a GPU is present (a lent GPU machine); skipped elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gpucloud.health.checks import FAIL
from gpucloud.health.expect import Expectation, load_thresholds
from gpucloud.health.nvml import load_nvml, read_node
from gpucloud.health.run import check_node


def _real_nvml_or_skip() -> object:
    try:
        nvml = load_nvml()
        nvml.nvmlInit()
        count = nvml.nvmlDeviceGetCount()
        nvml.nvmlShutdown()
    except Exception as err:  # noqa: BLE001 - any failure means: no usable GPU here
        pytest.skip(f"no GPU with a working NVML on this machine ({err})")
    if count == 0:
        pytest.skip("NVML works but sees no GPU")
    return nvml


pytestmark = [pytest.mark.gpu, pytest.mark.integration]


def test_every_fact_reads_on_a_real_gpu() -> None:
    facts = read_node(_real_nvml_or_skip())
    assert facts.driver_version.ok and facts.gpus
    for gpu in facts.gpus:
        for name in ("name", "uuid", "bus_id", "memory_mib", "persistence", "temperature_c", "pcie_width"):
            fact = getattr(gpu, name)
            assert fact.ok, f"GPU {gpu.index} {name}: {fact.missing}"
        assert gpu.memory_mib.value and gpu.memory_mib.value > 1000


def test_no_check_fails_for_want_of_an_nvml_answer() -> None:
    nvml = _real_nvml_or_skip()
    report = check_node(Expectation(sku=None, limits=load_thresholds()), sources=None)
    unread = [c for c in report.checks if c.verdict == FAIL and "could not read" in c.reason]
    assert not unread, unread
    assert nvml is not None


def test_the_cli_reports_the_real_gpus_as_json() -> None:
    _real_nvml_or_skip()
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "health", "check", "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert doc["expected"] is None
    assert any(c["name"] == "model" for c in doc["checks"])
    print(json.dumps(doc, indent=1))


def test_the_nccl_all_reduce_runs_over_the_real_gpus() -> None:
    """On a GPU machine with NVIDIA's nccl-tests built (all_reduce_perf on PATH): the check runs it over every GPU;
    with no --expect it reports the bus bandwidth without judging it (one GPU cannot all-reduce: FAIL)."""
    import shutil

    nvml = _real_nvml_or_skip()
    if shutil.which("all_reduce_perf") is None:
        pytest.skip("all_reduce_perf is not on PATH (build github.com/NVIDIA/nccl-tests on the GPU machine)")
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "health", "check", "--nccl", "--json"],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    (check,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "nccl-all-reduce"]
    gpus = len(read_node(nvml).gpus)
    if gpus < 2:
        assert check["verdict"] == FAIL and "needs two GPUs" in check["reason"]
    else:
        assert check["verdict"] == "WARN" and "GB/s" in check["seen"], check
