"""GPU health checks through a fake NVML at the boundary: every check passing and failing, and the gate
failing closed when NVML, the driver, a call or a tool lets it down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pynvml
import pytest
from fake_nvml import FakeGpu, FakeNvml, h100, l40s

from gpucloud.errors import ConfigError
from gpucloud.exposition import check_textfile_path
from gpucloud.health import kernel_log
from gpucloud.health.checks import FAIL, PASS, WARN
from gpucloud.health.expect import Expectation, load_thresholds, sku_named
from gpucloud.health.nvml import NvmlUnavailableError, read_node
from gpucloud.health.report import textfile
from gpucloud.health.run import Report, Sources, check_node
from gpucloud.health.tools import ToolError

LIMITS = load_thresholds()
P5 = Expectation(sku=sku_named("p5.48xlarge"), limits=LIMITS)
XID_79 = "2026-11-26T10:00:00+0000 node kernel: NVRM: Xid (PCI:0000:53:00): 79, pid=1, GPU has fallen off the bus."


def sources(nvml: Any, *, log: list[str] | None = None, **overrides: Any) -> Sources:
    return Sources(nvml=lambda: nvml, kernel_log=lambda hours, timeout: log or [], **overrides)


def run(gpus: list[FakeGpu], expect: Expectation = P5, *, log: list[str] | None = None, **fake: Any) -> Report:
    return check_node(expect, sources=sources(FakeNvml(gpus, **fake), log=log))


def verdicts(report: Report, name: str) -> set[str]:
    return {c.verdict for c in report.checks if c.name == name}


def test_a_healthy_p5_node_passes_every_check() -> None:
    report = run([h100(i) for i in range(8)])
    assert report.verdict == PASS, [c for c in report.checks if c.verdict != PASS]
    names = {c.name for c in report.checks}
    assert names >= {
        "gpu-count", "driver-branch", "model", "memory", "persistence-mode", "ecc-mode", "ecc-uncorrected-volatile",
        "ecc-uncorrected-aggregate", "row-remapping", "nvlink", "nvlink-errors", "pcie-link", "temperature",
        "clock-events", "fabric", "mig", "xid",
    }  # fmt: skip
    doc = report.as_json()
    assert doc["verdict"] == "PASS" and doc["expected"] == "p5.48xlarge"
    assert set(doc["checks"][0]) == {"name", "gpu", "verdict", "seen", "expected", "reason"}


def broken(**change: Any) -> Callable[[], list[FakeGpu]]:
    """Eight healthy H100s, GPU 3 changed."""

    def make() -> list[FakeGpu]:
        gpus = [h100(i) for i in range(8)]
        gpus[3] = replace(gpus[3], **change)
        return gpus

    return make


NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
CASES: list[tuple[str, Callable[[], list[FakeGpu]], str, str]] = [
    ("seven GPUs", lambda: [h100(i) for i in range(7)], "gpu-count", FAIL),
    ("wrong model", broken(name="NVIDIA H100 PCIe"), "model", FAIL),
    ("half the memory", broken(memory_mib=40960), "memory", FAIL),
    ("persistence off", broken(persistence=0), "persistence-mode", FAIL),
    ("ECC off", broken(ecc=(0, 0)), "ecc-mode", FAIL),
    ("volatile uncorrectable ECC", broken(ecc_volatile=1), "ecc-uncorrected-volatile", FAIL),
    (
        "aggregate uncorrectable ECC, a remap pending",
        broken(ecc_aggregate=2, remapped=(0, 1, 1, 0)),
        "ecc-uncorrected-aggregate",
        FAIL,
    ),
    (
        "aggregate uncorrectable ECC before Ampere",
        broken(ecc_aggregate=2, remapped=None),
        "ecc-uncorrected-aggregate",
        FAIL,
    ),
    (
        "aggregate uncorrectable ECC, rows remapped",
        broken(ecc_aggregate=3, remapped=(0, 1, 0, 0)),
        "ecc-uncorrected-aggregate",
        WARN,
    ),
    ("row remap pending", broken(remapped=(0, 1, 1, 0)), "row-remapping", FAIL),
    ("row remap failed", broken(remapped=(0, 1, 0, 1)), "row-remapping", FAIL),
    ("retired pages pending (pre-Ampere)", broken(remapped=None, retired_pending=1), "retired-pages", FAIL),
    ("an NVLink down", broken(nvlinks=[1] * 17 + [0]), "nvlink", FAIL),
    ("no NVLink on an NVLink SKU", broken(nvlinks=[]), "nvlink", FAIL),
    ("NVLink replays", broken(nvlink_errors={(2, pynvml.NVML_NVLINK_ERROR_DL_REPLAY): 5}), "nvlink-errors", WARN),
    (
        "NVLink CRC storm",
        broken(nvlink_errors={(0, pynvml.NVML_NVLINK_ERROR_DL_CRC_FLIT): 5000}),
        "nvlink-errors",
        FAIL,
    ),
    ("PCIe at x8", broken(pcie=(5, 5, 8, 16)), "pcie-link", FAIL),
    ("PCIe gen1 at idle", broken(pcie=(1, 5, 16, 16)), "pcie-link", WARN),
    ("too hot", broken(temperature=87), "temperature", FAIL),
    ("hardware slowdown", broken(reasons=0x8), "clock-events", FAIL),
    ("power brake", broken(reasons=0x80), "clock-events", FAIL),
    ("thermal slowdown", broken(reasons=0x40), "clock-events", FAIL),
    ("fabric in progress", broken(fabric=(2, 0)), "fabric", FAIL),
    ("fabric failed", broken(fabric=(3, 1)), "fabric", FAIL),
    ("no fabric state on Hopper", broken(fabric=None), "fabric", FAIL),
    ("in no NVLink fabric on an NVSwitch SKU", broken(fabric=(0, 0)), "fabric", FAIL),
    ("MIG on", broken(mig=(1, 1)), "mig", FAIL),
    ("a call failing", broken(fail={"nvmlDeviceGetTemperature": pynvml.NVML_ERROR_UNKNOWN}), "temperature", FAIL),
    ("memory call failing", broken(fail={"nvmlDeviceGetMemoryInfo": pynvml.NVML_ERROR_GPU_IS_LOST}), "memory", FAIL),
    ("a GPU lost", broken(fail={"nvmlDeviceGetHandleByIndex": pynvml.NVML_ERROR_GPU_IS_LOST}), "model", FAIL),
]


@pytest.mark.parametrize(("what", "gpus", "check", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_each_check_catches_its_fault(what: str, gpus: Callable[[], list[FakeGpu]], check: str, verdict: str) -> None:
    report = run(gpus())
    assert verdict in verdicts(report, check), [c for c in report.checks if c.name == check]
    assert report.verdict == verdict
    bad = [c for c in report.checks if c.verdict != PASS]
    assert all(c.reason for c in bad)
    if check not in ("gpu-count",):
        assert {c.gpu for c in bad} == {3}  # the check names the GPU


def test_a_lone_gpu_in_no_nvlink_fabric_is_no_failure_when_no_sku_is_expected() -> None:
    """NVML says NOT_SUPPORTED for a GPU in no NVSwitch system (a lone H100 in a VM, seen on a lent GPU machine):
    the bare check warns; it must not send the engineer looking for a fabric manager that cannot help."""
    report = run([replace(h100(), fabric=(0, 0), nvlinks=[])], Expectation(sku=None, limits=LIMITS))
    (fabric,) = [c for c in report.checks if c.name == "fabric"]
    assert (fabric.verdict, fabric.seen) == (WARN, "not supported")
    assert "fabricmanager" not in fabric.reason
    assert report.verdict == WARN


def test_a_failing_call_names_the_nvml_function() -> None:
    report = run(broken(fail={"nvmlDeviceGetTemperature": pynvml.NVML_ERROR_UNKNOWN})())
    (temp,) = [c for c in report.checks if c.name == "temperature" and c.gpu == 3]
    assert "nvmlDeviceGetTemperature" in temp.reason and "Unknown Error" in temp.reason


def test_the_wrong_driver_branch_fails() -> None:
    report = run([h100(i) for i in range(8)], driver="550.90.07")
    (check,) = [c for c in report.checks if c.name == "driver-branch"]
    assert (check.verdict, check.seen, check.expected) == (FAIL, "550.90.07", f"{LIMITS.driver_branch}.x")


@pytest.mark.parametrize(
    ("init_error", "count_error", "needle"),
    [
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, None, "Driver Not Loaded"),
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, None, "Library Not Found"),
        (None, pynvml.NVML_ERROR_UNKNOWN, "nvmlDeviceGetCount"),
    ],
)
def test_no_driver_or_no_library_fails_closed(init_error: int | None, count_error: int | None, needle: str) -> None:
    report = run([h100()], init_error=init_error, count_error=count_error)
    assert report.verdict == FAIL
    (nvml,) = [c for c in report.checks if c.name == "nvml"]
    assert nvml.verdict == FAIL and needle in nvml.reason


def test_nvml_package_missing_fails_closed() -> None:
    def missing() -> Any:
        raise NvmlUnavailableError("the nvidia-ml-py package is not installed")

    report = check_node(P5, sources=Sources(nvml=missing, kernel_log=lambda h, t: []))
    assert report.verdict == FAIL and "not installed" in report.checks[0].reason


def test_a_hung_nvml_fails_closed_within_the_timeout() -> None:
    quick = Expectation(sku=P5.sku, limits=replace(LIMITS, nvml_timeout_s=0.2))
    report = run([h100()], expect=quick, hang_s=5)
    assert report.verdict == FAIL
    assert "did not answer within 0.2 s" in report.checks[0].reason


def test_nvml_is_shut_down_after_reading() -> None:
    nvml = FakeNvml([h100()])
    read_node(nvml)
    assert nvml.shut_down


def test_a_pcie_sku_runs_no_nvlink_or_fabric_check() -> None:
    expect = Expectation(sku=sku_named("g6e.48xlarge"), limits=LIMITS)
    report = run([l40s(i) for i in range(8)], expect=expect)
    names = {c.name for c in report.checks}
    assert not names & {"nvlink", "nvlink-errors", "fabric", "fabric-manager"}
    assert report.verdict == PASS, [c for c in report.checks if c.verdict != PASS]


def test_ampere_nvswitch_checks_the_fabric_manager_service() -> None:
    expect = Expectation(sku=sku_named("p4d.24xlarge"), limits=LIMITS)
    a100 = [
        replace(h100(i), name="NVIDIA A100-SXM4-40GB", memory_mib=40960, nvlinks=[1] * 12, fabric=None)
        for i in range(8)
    ]
    up = check_node(expect, sources=sources(FakeNvml(a100), service_state=lambda unit, t: "active"))
    down = check_node(expect, sources=sources(FakeNvml(a100), service_state=lambda unit, t: "inactive"))
    assert up.verdict == PASS, [c for c in up.checks if c.verdict != PASS]
    assert verdicts(down, "fabric-manager") == {FAIL}


def test_without_an_expected_sku_identity_checks_warn() -> None:
    report = run([h100()], expect=Expectation(sku=None, limits=LIMITS))
    assert report.verdict == WARN
    assert verdicts(report, "gpu-count") == {WARN} and verdicts(report, "model") == {WARN}
    assert verdicts(report, "nvlink") == {PASS}  # the links it has are checked anyway


def test_no_gpu_at_all_fails_even_without_an_expected_sku() -> None:
    report = run([], expect=Expectation(sku=None, limits=LIMITS))
    assert report.verdict == FAIL


def test_critical_xid_fails_and_other_xids_warn() -> None:
    assert verdicts(run([h100(i) for i in range(8)], log=[XID_79]), "xid") == {FAIL}
    other = XID_79.replace(": 79,", ": 13,")
    assert verdicts(run([h100(i) for i in range(8)], log=[other]), "xid") == {WARN}


def test_an_unreadable_kernel_log_fails_closed() -> None:
    def unreadable(hours: float, timeout: float) -> list[str]:
        raise kernel_log.KernelLogError("journalctl -k: permission denied")

    report = check_node(P5, sources=Sources(nvml=lambda: FakeNvml([h100(i) for i in range(8)]), kernel_log=unreadable))
    assert verdicts(report, "xid") == {FAIL} and report.verdict == FAIL


def test_xid_parsing_of_real_driver_lines() -> None:
    lines = [
        XID_79,
        "Nov 26 10:00:01 node kernel: NVRM: Xid (PCI:0000:b8:00): 94, pid='<unknown>', name=<unknown>, Contained: CE",
        "unrelated line",
    ]
    assert [(x, dev) for x, dev, _ in kernel_log.xid_events(lines)] == [(79, "PCI:0000:53:00"), (94, "PCI:0000:b8:00")]


@pytest.mark.parametrize(
    ("diag", "verdict"),
    [
        (lambda level, t: (True, f"level {level} passed"), PASS),
        (lambda level, t: (False, "| Memory | Fail - GPU: 3 |"), FAIL),
    ],
)
def test_deep_check_runs_dcgm(diag: Callable[[int, float], tuple[bool, str]], verdict: str) -> None:
    report = check_node(P5, deep=2, sources=sources(FakeNvml([h100(i) for i in range(8)]), dcgm_diag=diag))
    assert verdicts(report, "dcgm-diag-r2") == {verdict}


@pytest.mark.parametrize("error", ["dcgmi is not installed", "dcgmi diag -r 3 did not finish within 1800 s"])
def test_deep_check_fails_closed_without_dcgm_or_when_it_hangs(error: str) -> None:
    def diag(level: int, timeout: float) -> tuple[bool, str]:
        raise ToolError(error)

    report = check_node(P5, deep=3, sources=sources(FakeNvml([h100(i) for i in range(8)]), dcgm_diag=diag))
    assert verdicts(report, "dcgm-diag-r3") == {FAIL}
    assert error in next(c for c in report.checks if c.name == "dcgm-diag-r3").reason


def test_textfile_is_prometheus_exposition_format() -> None:
    report = run(broken(temperature=90)())
    text = textfile(report, now=1764151200)
    assert 'gpucloud_gpu_health_verdict{expected="p5.48xlarge"} 2' in text
    assert 'gpucloud_gpu_health_check{check="temperature",gpu="3"} 2' in text
    assert 'gpucloud_gpu_health_check{check="xid",gpu=""} 0' in text
    assert text.endswith("gpucloud_gpu_health_last_run_timestamp_seconds 1764151200\n")
    for line in text.splitlines():
        assert line.startswith("#") or line.rsplit(" ", 1)[1].isdigit()


def test_textfile_path_must_be_a_prom_file_in_an_existing_directory(tmp_path: Path) -> None:
    assert check_textfile_path(tmp_path / "gpu.prom") == tmp_path / "gpu.prom"
    with pytest.raises(ConfigError, match=r"\*\.prom"):
        check_textfile_path(tmp_path / "gpu.txt")
    with pytest.raises(ConfigError, match="does not exist"):
        check_textfile_path(tmp_path / "nope" / "gpu.prom")


def test_unknown_sku_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"p5\.48xlarge"):
        sku_named("p9.huge")


def test_dmesg_lines_outside_the_lookback_window_are_dropped() -> None:
    from datetime import UTC, datetime

    since = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert kernel_log._after("2026-11-26T01:00:00,000000+00:00 NVRM: Xid", since)
    assert not kernel_log._after("2026-11-25T01:00:00,000000+00:00 NVRM: Xid", since)


def test_the_table_folds_gpus_that_saw_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    from gpucloud.health.report import gpu_ranges, render

    assert gpu_ranges([0, 1, 2, 5, 7, 6]) == "0-2,5-7"
    render(Console(width=200), run(broken(temperature=90)()))
    out = capsys.readouterr().out
    assert "temperature" in out and "0-2,4-7" in out and "90 C" in out
    assert "verdict: FAIL" in out


def test_the_json_names_each_failed_check_in_one_line_for_the_gate_and_slurm() -> None:
    gpus = [h100(i) for i in range(7)]  # one GPU missing: a node-wide failure
    doc = run(gpus).as_json()
    failed = [c for c in doc["checks"] if c["verdict"] == "FAIL"]
    assert failed and len(doc["failed"]) == len(failed)
    assert doc["failed"][0] == f"gpu-count on the node: {failed[0]['reason']}"
    healthy = run([h100(i) for i in range(8)]).as_json()
    assert healthy["failed"] == []
