"""The same health checks on the real NVML, where a GPU is present (a lent GPU machine); skipped elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpucloud.catalog import load_catalog
from gpucloud.health.checks import FAIL
from gpucloud.health.expect import Expectation, load_thresholds
from gpucloud.health.nccl import parse
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
    # A GPU in no NVSwitch system (NVML: fabric state "not supported") is no failure when no SKU is expected.
    lone = [c for c in doc["checks"] if c["name"] == "fabric" and c["seen"] == "not supported"]
    assert all(c["verdict"] == "WARN" for c in lone), lone
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


def test_the_parser_reads_what_the_real_all_reduce_perf_prints() -> None:
    """all_reduce_perf over one GPU runs too (one rank: nothing crosses a bus, so busbw is 0): its real output, not
    the unit tests' copy of its layout, must parse, every result checked and none wrong."""
    import shutil

    _real_nvml_or_skip()
    if shutil.which("all_reduce_perf") is None:
        pytest.skip("all_reduce_perf is not on PATH (build github.com/NVIDIA/nccl-tests on the GPU machine)")
    run = subprocess.run(
        ["all_reduce_perf", "-b", "8", "-e", "64M", "-f", "2", "-g", "1"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    print(run.stdout)
    result = parse(run.stdout)
    assert result.size_bytes == 64 * 2**20 and result.wrong == 0
    assert result.busbw_gbs == 0.0


# GPU families the catalog sells: a real GPU of one of these must match a SKU's gpu_model exactly, or the model check
# would fail every node of that SKU on the day it is handed over.
SOLD_FAMILIES = ("NVIDIA H100", "NVIDIA H200", "NVIDIA B200", "NVIDIA A100", "NVIDIA L40S", "NVIDIA L4")


def test_the_catalog_names_and_sizes_the_real_gpu_as_nvml_does(tmp_path: Path) -> None:
    """--expect each SKU whose gpu_model is this GPU's NVML name: model and memory PASS on every GPU, and the count
    is judged against the SKU's (a lent machine has fewer GPUs than an 8-GPU SKU: FAIL naming the count seen)."""
    facts = read_node(_real_nvml_or_skip())
    name = facts.gpus[0].name.value
    skus = [s for s in load_catalog().skus.values() if s.gpu_model == name]
    if not skus:
        assert not str(name).startswith(SOLD_FAMILIES), f"NVML calls this GPU {name!r}; no catalog SKU is named so"
        pytest.skip(f"the catalog sells no {name}")
    for sku in skus:
        prom = tmp_path / f"{sku.instance_type}.prom"
        result = subprocess.run(
            [sys.executable, "-m", "gpucloud", "health", "check", "--expect", sku.instance_type, "--json",
             "--textfile", str(prom)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        doc = json.loads(result.stdout)
        by_name = {(c["name"], c["gpu"]): c for c in doc["checks"]}
        for gpu in facts.gpus:
            assert by_name[("model", gpu.index)]["verdict"] == "PASS", by_name[("model", gpu.index)]
            assert by_name[("memory", gpu.index)]["verdict"] == "PASS", by_name[("memory", gpu.index)]
        count = by_name[("gpu-count", None)]
        assert count["verdict"] == ("PASS" if len(facts.gpus) == sku.gpu_count else "FAIL"), count
        assert str(len(facts.gpus)) in str(count["seen"])
        families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
        assert families, prom.read_text()
        print(sku.instance_type, json.dumps(doc["failed"], indent=1))
