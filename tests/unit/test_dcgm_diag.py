"""Reading `dcgmi diag -r LEVEL --json` (issue 26 (8)). The documents are built in the shape DCGM 4 writes them
(NVIDIA/DCGM dcgmi/Diag.cpp, HelperJsonBuildOutput and HelperJsonAddResult, read 2026-12-07): no real GPU's output
is recorded in this repository yet (no session here has had a GPU with DCGM), so the shape is the source's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpucloud.health.dcgm_diag import read_diag

LEVEL2 = (("Deployment", "software"), ("Integration", "pcie"), ("Hardware", "memory"))


def result(gpu: int, status: str = "Pass", warning: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"entity_group_id": 1, "entity_group": "GPU", "entity_id": gpu, "status": status}
    if warning is not None:
        found["warnings"] = [{"warning": warning, "error_id": 30, "error_category": 2, "error_severity": 3}]
    return found


def document(gpus: int = 8, **status: Any) -> str:
    """A level-2 document for ``gpus`` GPUs; ``status``: test name -> {gpu: (status, warning)}."""
    categories: dict[str, list[dict[str, Any]]] = {}
    for category, name in LEVEL2:
        odd = status.get(name, {})
        results = [result(g, *odd.get(g, ("Pass", None))) for g in range(gpus)]
        summary = "Fail" if any(r["status"] == "Fail" for r in results) else "Pass"
        categories.setdefault(category, []).append(
            {"name": name, "results": results, "test_summary": {"status": summary}}
        )
    return json.dumps({
        "entity_groups": [{"entity_group_id": 1, "entity_group": "GPU",
                           "entities": [{"entity_id": g, "device_id": "2330"} for g in range(gpus)]}],
        "metadata": {"version": "4.4.1", "Driver Version Detected": "580.105.08"},
        "DCGM Diagnostic": {"test_categories": [{"category": c, "tests": t} for c, t in categories.items()]},
    })  # fmt: skip


def test_a_clean_run_on_every_gpu_passes_and_says_how_much_it_judged() -> None:
    verdict = read_diag(document(), 2)
    assert verdict.passed and verdict.detail == "level 2: 3 tests passed on 8 GPUs"


@pytest.mark.parametrize(
    ("status", "needle"),
    [
        ({"memory": {3: ("Fail", "GPU 3: a DBE was detected in memory")}},
         "memory (Hardware): Fail on GPU 3: GPU 3: a DBE was detected in memory"),
        ({"pcie": {0: ("Warn", "PCIe replay count 120 exceeds 50")}}, "pcie (Integration): Warn on GPU 0: PCIe replay"),
        ({"software": {5: ("Unknown", None)}}, "software (Deployment): Unknown on GPU 5"),
    ],
)  # fmt: skip
def test_a_failure_or_warning_on_any_gpu_fails_naming_test_gpu_and_why(status: dict[str, Any], needle: str) -> None:
    verdict = read_diag(document(**status), 2)
    assert not verdict.passed and verdict.detail.startswith(needle), verdict.detail


def test_a_run_that_skipped_everything_judged_nothing_and_fails() -> None:
    skipped = {name: {g: ("Skip", None) for g in range(8)} for _, name in LEVEL2}
    verdict = read_diag(document(**skipped), 3)
    assert not verdict.passed and verdict.detail == "level 3 judged no GPU: every test skipped or had no result"
    empty = json.dumps({"DCGM Diagnostic": {"test_categories": []}})
    assert not read_diag(empty, 1).passed


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Error: unable to connect to host engine\n", "printed no JSON document: Error: unable to connect"),
        ("", "printed no JSON document: nothing"),
        (json.dumps({"something": "else"}), "not a DCGM diagnostic document"),
        (json.dumps({"DCGM Diagnostic": {"runtime_error": "The NVVS binary was not found"}}),
         "DCGM could not run the diagnostic: The NVVS binary was not found"),
        (json.dumps({"DCGM Diagnostic": {}}), "lists no test_categories"),
    ],
)  # fmt: skip
def test_what_is_not_a_clean_dcgm_document_fails_closed(text: str, needle: str) -> None:
    verdict = read_diag(text, 2)
    assert not verdict.passed and needle in verdict.detail


def test_a_test_whose_summary_failed_without_a_gpu_result_fails() -> None:
    doc = json.loads(document())
    software = doc["DCGM Diagnostic"]["test_categories"][0]["tests"][0]
    software["test_summary"] = {"status": "Fail", "warnings": [{"warning": "nouveau is loaded"}]}
    verdict = read_diag(json.dumps(doc), 2)
    assert not verdict.passed and verdict.detail == "software: Fail overall: nouveau is loaded"


def test_dcgmi_exiting_non_zero_is_not_a_pass_whatever_its_document_says() -> None:
    verdict = read_diag(document(), 2, exit_status=226)
    assert not verdict.passed and "exited 226" in verdict.detail


def test_dcgm_3s_document_is_read_too() -> None:
    doc = {"DCGM GPU Diagnostic": {"version": "3.3.9", "test_categories": [
        {"category": "Hardware", "tests": [{"name": "GPU Memory",
                                             "results": [{"gpu_id": "0", "status": "Pass"},
                                                         {"gpu_id": "1", "status": "Fail",
                                                          "warnings": [{"warning": "ECC DBE"}]}]}]}]}}  # fmt: skip
    verdict = read_diag(json.dumps(doc), 3)
    assert not verdict.passed and verdict.detail == "GPU Memory (Hardware): Fail on GPU 1: ECC DBE"
    doc["DCGM GPU Diagnostic"]["test_categories"][0]["tests"][0]["results"][1] = {"gpu_id": "1", "status": "Pass"}
    assert read_diag(json.dumps(doc), 3).passed
