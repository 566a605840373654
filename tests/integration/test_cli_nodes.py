"""`gpucloud nodes configure` as a user runs it, where Ansible reaches no host: it must fail closed (exit 1, with
Ansible's reason), never report "all hosts converged" on nobody. No host is contacted by any of these runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def no_aws(tmp_path: Path) -> dict[str, str]:
    """An environment with no AWS profile at all (what an operator without the tenant's profile has)."""
    (tmp_path / "aws-config").write_text("")
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "COLUMNS": "200",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-config"),
        "AWS_EC2_METADATA_DISABLED": "true",  # never the instance metadata address
    }


def nodes_configure(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(ROOT), "nodes", "configure", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def test_a_tenant_inventory_without_its_aws_profile_fails_and_says_why(no_aws: dict[str, str]) -> None:
    inventory = ROOT / "inventories" / "tenants" / "acme" / "us-east-1.aws_ec2.yml"
    result = nodes_configure(no_aws, "--inventory", str(inventory), "--playbook", "health")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "all hosts converged" not in result.stdout
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("health: no host was run: the inventory did not load"), verdict
    assert "gpucloud-tenant-acme" in verdict and "could not be found" in verdict, verdict

    as_json = nodes_configure(no_aws, "--inventory", str(inventory), "--playbook", "health", "--json")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and doc["hosts"] == []
    assert "could not be found" in doc["no_hosts_reason"]


def _one_host_inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"  # a host no run below may reach: every run limits it away
    path.write_text("all:\n  hosts:\n    node-1:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n")
    return path


def test_a_limit_that_matches_nothing_fails(no_aws: dict[str, str], tmp_path: Path) -> None:
    result = nodes_configure(no_aws, "--inventory", str(_one_host_inventory(tmp_path)), "--limit", "node-9")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("gpu_nodes: no host was run: no host matched --limit")
    assert "node-9" in result.stdout.strip().splitlines()[-1]


def test_an_empty_inventory_fails_unless_allowed(no_aws: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text("all:\n  hosts: {}\n")
    refused = nodes_configure(no_aws, "--inventory", str(empty), "--json")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["no_hosts_reason"] == "the inventory holds no host"

    allowed = nodes_configure(no_aws, "--inventory", str(empty), "--allow-empty")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "no host was run: the inventory holds no host (--allow-empty: accepted)" in allowed.stdout


def test_an_inventory_that_does_not_parse_fails_with_the_parsers_words(no_aws: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("all:\n  hosts:\n    node-1: [unclosed\n")
    result = nodes_configure(no_aws, "--inventory", str(broken), "--allow-empty")  # even allowed: not "empty"
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the inventory did not load" in result.stdout.strip().splitlines()[-1], result.stdout
