"""What ``dcgmi diag -r LEVEL --json`` says, read the way DCGM 4 writes it, failing closed.

The document's shape is DCGM's own (NVIDIA/DCGM ``dcgmi/Diag.cpp``, ``Diag::HelperJsonBuildOutput`` and
``HelperJsonAddResult``, read 2026-12-07; the 4.x reference: docs.nvidia.com/datacenter/dcgm/latest/reference/
command-line-reference/dcgmi/dcgmi-diag.html)::

    {"entity_groups": [{"entity_group": "GPU", "entities": [{"entity_id": 0, ...}]}],
     "metadata": {"version": "4.4.1", "Driver Version Detected": "580.105.08"},
     "DCGM Diagnostic": {"test_categories": [
        {"category": "Deployment", "tests": [
           {"name": "software",
            "results": [{"entity_group": "GPU", "entity_id": 0, "status": "Pass",
                         "warnings": [{"warning": "...", "error_id": 29, "error_category": 8, "error_severity": 5}],
                         "info": ["..."]}],
            "test_summary": {"status": "Pass"}}]}]}}

A test that did not run on an entity has no result there; a result's status is Pass, Fail, Warn or Skip. DCGM 3
wrote the same tree under "DCGM GPU Diagnostic" with ``gpu_id`` in place of the entity: both are read.

The node passes only when every result is Pass or Skip and at least one GPU result is Pass: a document in which
nothing ran on a GPU (every plugin skipped, or no results at all) judged nothing and fails, as does one that is
not DCGM's, or that carries a runtime error. A Warn fails too: a node is handed over only on a clean run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ROOTS = ("DCGM Diagnostic", "DCGM GPU Diagnostic")  # DCGM 4, DCGM 3
PASS, FAIL, WARN, SKIP = "Pass", "Fail", "Warn", "Skip"


@dataclass(frozen=True)
class DiagVerdict:
    passed: bool
    detail: str  # "level 3: 14 tests passed on 8 GPUs", or the first failure, named


def _entity(result: dict[str, Any]) -> str:
    if "entity_id" in result:
        return f"{result.get('entity_group', 'GPU')} {result['entity_id']}"
    if "gpu_id" in result:  # DCGM 3
        return f"GPU {result['gpu_id']}"
    return "the node"


def _on_gpu(result: dict[str, Any]) -> bool:
    return ("entity_id" in result and result.get("entity_group") == "GPU") or "gpu_id" in result


def _why(result: dict[str, Any]) -> str:
    warnings = result.get("warnings") or []
    said = [w.get("warning", "") if isinstance(w, dict) else str(w) for w in warnings]
    return next((s.strip() for s in said if s and s.strip()), "")


def read_diag(text: str, level: int, exit_status: int = 0) -> DiagVerdict:
    """The verdict of one ``dcgmi diag -r LEVEL -j`` document and the exit status dcgmi ended with."""
    try:
        doc = json.loads(text)
    except ValueError:
        first = text.strip().splitlines()[0][:200] if text.strip() else "nothing"
        return DiagVerdict(False, f"dcgmi diag printed no JSON document: {first}")
    root = next((doc[k] for k in ROOTS if isinstance(doc, dict) and isinstance(doc.get(k), dict)), None)
    if root is None:
        return DiagVerdict(False, f"not a DCGM diagnostic document (no {' or '.join(map(repr, ROOTS))})")
    if root.get("runtime_error"):
        return DiagVerdict(False, f"DCGM could not run the diagnostic: {root['runtime_error']}")
    categories = root.get("test_categories")
    if not isinstance(categories, list):
        return DiagVerdict(False, "the DCGM document lists no test_categories")
    judged: set[str] = set()
    ran = 0
    for category in (c for c in categories if isinstance(c, dict)):
        for test in (t for t in category.get("tests") or [] if isinstance(t, dict)):
            name = str(test.get("name", "?"))
            results = [r for r in test.get("results") or [] if isinstance(r, dict)]
            for result in results:
                status = result.get("status")
                if status in (FAIL, WARN) or status not in (PASS, SKIP):
                    why = _why(result)
                    return DiagVerdict(
                        False,
                        f"{name} ({category.get('category', '?')}): {status} on {_entity(result)}"
                        + (f": {why}" if why else ""),
                    )
                if status == PASS and _on_gpu(result):
                    judged.add(_entity(result))
            if any(r.get("status") == PASS for r in results):
                ran += 1
            summary = test.get("test_summary")
            if isinstance(summary, dict) and summary.get("status") in (FAIL, WARN):
                return DiagVerdict(False, f"{name}: {summary['status']} overall" + _summary_why(summary))
    if not judged:
        return DiagVerdict(False, f"level {level} judged no GPU: every test skipped or had no result")
    if exit_status != 0:  # dcgmi's own verdict (Diag::GetFailureResult) disagrees with its document: not a pass
        return DiagVerdict(False, f"dcgmi diag exited {exit_status} though its document shows no failure")
    return DiagVerdict(True, f"level {level}: {ran} tests passed on {len(judged)} GPUs")


def _summary_why(summary: dict[str, Any]) -> str:
    why = _why(summary)
    return f": {why}" if why else ""
