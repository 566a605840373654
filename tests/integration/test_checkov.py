"""Checkov's AWS checks over every sample stack's plan as Terraform-plan JSON (`gpucloud plan --format
terraform-plan`): no finding beyond the ones policy/checkov-suppressions.yaml accepts with a reason.

Checkov runs from its own virtual environment (`make checkov`, part of `make test`): it pins packages that
Pulumi's SDK cannot share a venv with.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SAMPLE_STACKS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SUPPRESSIONS = yaml.safe_load((ROOT / "policy" / "checkov-suppressions.yaml").read_text())["suppressions"]


def _checkov_or_skip() -> Path:
    if CHECKOV.exists():
        return CHECKOV
    if os.environ.get("CI") == "true":
        pytest.fail("Checkov is missing under CI: `make test` installs it (make checkov)")
    pytest.skip("Checkov is not installed here: `make checkov` installs it in .venv-checkov")


def _suppressed(check: str, resource: str) -> bool:
    return any(
        s["check"] == check and any(fnmatch.fnmatchcase(resource, g) for g in s["resources"]) for s in SUPPRESSIONS
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    checkov = _checkov_or_skip()
    out: dict[str, dict[str, Any]] = {}
    for stack in SAMPLE_STACKS:
        plan = subprocess.run(
            [sys.executable, "-m", "gpucloud", "--root", str(ROOT), "plan", stack, "--format", "terraform-plan"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert plan.returncode == 0, plan.stderr
        path = tmp_path_factory.mktemp("tf") / f"{stack}.json"
        path.write_text(plan.stdout)
        run = subprocess.run(
            [str(checkov), "-f", str(path), "--framework", "terraform_plan", "--compact", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        doc = json.loads(run.stdout)
        out[stack] = doc[0] if isinstance(doc, list) else doc
    return out


def test_checkov_finds_nothing_we_have_not_accepted_with_a_reason(results: dict[str, dict[str, Any]]) -> None:
    unexpected, used, counts = [], set(), {"passed": 0, "failed": 0, "suppressed": 0}
    for stack, doc in results.items():
        assert doc["summary"]["parsing_errors"] == 0, stack
        assert doc["summary"]["resource_count"] > 0, stack
        counts["passed"] += doc["summary"]["passed"]
        for finding in doc["results"]["failed_checks"]:
            check, resource = finding["check_id"], finding["resource"]
            if _suppressed(check, resource):
                counts["suppressed"] += 1
                used |= {i for i, s in enumerate(SUPPRESSIONS) if s["check"] == check and any(
                    fnmatch.fnmatchcase(resource, g) for g in s["resources"])}  # fmt: skip
            else:
                counts["failed"] += 1
                unexpected.append(f"{stack}: {check} {resource}: {finding['check_name']}")
    print(f"checkov over {len(results)} stacks: {counts['passed']} passed, {counts['suppressed']} suppressed")
    assert unexpected == []
    stale = [SUPPRESSIONS[i]["check"] for i in range(len(SUPPRESSIONS)) if i not in used]
    assert stale == [], "suppressions that match no finding any more: remove them"


def test_checkov_catches_what_a_plan_gets_wrong(results: dict[str, dict[str, Any]]) -> None:
    """The same run can fail: Checkov passes the checks our stacks satisfy (not a run that checked nothing)."""
    passed = {f["check_id"] for doc in results.values() for f in doc["results"]["passed_checks"]}
    # IMDSv2 on the launch template, KMS rotation, bucket public access block and versioning, VPC flow logs
    assert {"CKV_AWS_79", "CKV_AWS_7", "CKV2_AWS_6", "CKV_AWS_21", "CKV2_AWS_11"} <= passed
