"""`tenant onboard --apply` through the Automation API: only where the Pulumi CLI exists (never faked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(
        shutil.which("pulumi") is None, reason="the Pulumi CLI is not on PATH (it cannot be installed here)"
    ),
]


def gpucloud_on_a_local_backend(
    repo: Path, tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """The CLI with Pulumi state in a folder of this test (the file backend needs no account)."""
    backend = tmp_path / "state"
    backend.mkdir()
    env = {**os.environ, "PULUMI_BACKEND_URL": f"file://{backend}", "PULUMI_CONFIG_PASSPHRASE": "test"}
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    return result, env


def test_apply_runs_pulumi_up_on_the_new_stack(repo_copy: Path, tmp_path: Path) -> None:
    args = ["tenant", "onboard", "beta", "--region", "us-east-1", "--gpu-type", "p5.48xlarge", "--nodes", "1"]
    result, env = gpucloud_on_a_local_backend(repo_copy, tmp_path, *args, "--apply")
    # With AWS credentials the update succeeds; without them `pulumi up` fails, and that is exit 1 with one
    # line naming the stack, never a traceback. Either way the stack exists in the backend now.
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 1:
        assert "pulumi up -s tenant-beta-us-east-1 failed" in result.stderr
    stacks = subprocess.run(["pulumi", "stack", "ls", "--cwd", str(repo_copy)], capture_output=True, text=True, env=env)
    assert "tenant-beta-us-east-1" in stacks.stdout


def test_a_real_rollout_runs_preview_and_up_per_stack(repo_copy: Path, tmp_path: Path) -> None:
    result, _ = gpucloud_on_a_local_backend(repo_copy, tmp_path, "rollout", "--stacks", "region-eu-north-1")
    # Without AWS credentials preview fails: exit 1 naming the step; with them the region stack is up.
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 1:
        assert "region-eu-north-1 at preview" in result.stdout or "region-eu-north-1 at up" in result.stdout


def test_offboarding_destroyed_refuses_while_a_stack_still_manages_resources(repo_copy: Path, tmp_path: Path) -> None:
    """`tenant offboard --destroyed` asks the stack's state (pulumi stack export) before removing any file: a stack
    that still holds a resource is refused (exit 1), and the files stay."""
    first, env = gpucloud_on_a_local_backend(repo_copy, tmp_path, "tenant", "offboard", "acme", "--region",
                                             "us-east-1", "--yes")  # fmt: skip
    assert first.returncode == 0, first.stderr
    stack = "organization/tenant-acme-us-east-1"
    pulumi = ["pulumi", "--cwd", str(repo_copy), "--non-interactive"]
    subprocess.run([*pulumi, "stack", "init", stack], check=True, env=env, capture_output=True)
    root = "urn:pulumi:tenant-acme-us-east-1::gpucloud::pulumi:pulumi:Stack::gpucloud-tenant-acme-us-east-1"
    state = {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-12-07T00:00:00Z", "magic": "", "version": ""},
            "resources": [
                {"urn": root, "custom": False, "type": "pulumi:pulumi:Stack"},
                {"urn": "urn:pulumi:tenant-acme-us-east-1::gpucloud::aws:s3/bucket:Bucket::left-behind",
                 "custom": True, "id": "left-behind", "type": "aws:s3/bucket:Bucket", "parent": root},
            ],
        },
    }  # fmt: skip
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    subprocess.run([*pulumi, "stack", "import", "--stack", stack, "--file", str(state_file), "--force"],
                   check=True, env=env, capture_output=True)  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(repo_copy), "tenant", "offboard", "acme", "--region",
         "us-east-1", "--destroyed", "--yes"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert f"stack {stack} still manages 1 resource(s)" in result.stderr
    assert (repo_copy / "stacks" / "Pulumi.tenant-acme-us-east-1.yaml").is_file()  # nothing removed
