"""`gpucloud region add` as a user runs it, on a copy of the repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import edit_stack, snapshot

pytestmark = pytest.mark.integration
AMI = "ami-0123456789abcdef0:/dev/sda1"
P4D = ["eu-west-1", "--capacity", "p4d.24xlarge=4", "--ami", f"p4d.24xlarge={AMI}"]


@pytest.fixture
def served(repo_copy: Path) -> Path:
    """The org stack serves the regions these tests add (region add refuses one it does not serve)."""
    assert {"eu-west-1", "us-west-2"} <= set(yaml.safe_load((repo_copy / "stacks" / "Pulumi.org.yaml").read_text())[
        "config"]["gpucloud:servedRegions"])  # fmt: skip
    return repo_copy


def test_a_region_the_org_does_not_serve_is_refused(repo_copy: Path) -> None:
    edit_stack(repo_copy, "org", lambda cfg: cfg.__setitem__("gpucloud:servedRegions", ["us-east-1", "eu-north-1"]))
    before = snapshot(repo_copy)
    result = gpucloud(repo_copy, "region", "add", *P4D)
    assert result.returncode == 2 and "not in org's servedRegions" in result.stderr
    assert snapshot(repo_copy) == before


def gpucloud(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(root), *args], capture_output=True, text=True, timeout=300
    )


def test_add_a_region_then_plan_and_validate_it(served: Path) -> None:
    repo_copy = served
    result = gpucloud(
        repo_copy, "region", "add", "eu-west-1", "--capacity", "p4d.24xlarge@euw1-az2=4", "--capacity",
        "g5.48xlarge=2", "--ami", f"p4d.24xlarge={AMI}", "--ami", f"g5.48xlarge={AMI}", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["region"] == "eu-west-1" and doc["stack"] == "region-eu-west-1"
    assert doc["supernet"] == "10.0.0.0/12"  # the first /12 of 10.0.0.0/8 no region holds
    assert doc["azs"] == ["euw1-az1", "euw1-az2"]
    assert doc["files"] == ["stacks/Pulumi.region-eu-west-1.yaml", "inventories/regions/eu-west-1.aws_ec2.yml"]
    config = yaml.safe_load((repo_copy / doc["files"][0]).read_text())["config"]
    assert config["gpucloud:capacity"] == [
        {"gpuType": "p4d.24xlarge", "az": "euw1-az2", "count": 4},
        {"gpuType": "g5.48xlarge", "az": "euw1-az1", "count": 2},
    ]
    inventory = yaml.safe_load((repo_copy / doc["files"][1]).read_text())
    assert inventory["plugin"] == "amazon.aws.aws_ec2" and inventory["filters"]["tag:gpucloud:region"] == "eu-west-1"
    plan = gpucloud(repo_copy, "plan", "region-eu-west-1", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["summary"]["gpus"] == 4 * 8 + 2 * 8
    assert json.loads(plan.stdout)["violations"] == []
    assert gpucloud(repo_copy, "validate").returncode == 0
    # and a tenant can be onboarded there at once
    onboard = gpucloud(repo_copy, "tenant", "onboard", "zeta", "--region", "eu-west-1", "--gpu-type", "p4d.24xlarge",
                       "--nodes", "2", "--new-account", "--json")  # fmt: skip
    assert onboard.returncode == 0, onboard.stderr
    assert json.loads(onboard.stdout)["cidr"] == "10.0.0.0/20"


def test_like_copies_the_capacity_of_another_region(served: Path) -> None:
    repo_copy = served
    amis = [
        a
        for sku in ("p5.48xlarge", "p5en.48xlarge", "p6-b200.48xlarge", "g6e.48xlarge")
        for a in ("--ami", f"{sku}={AMI}")
    ]
    result = gpucloud(repo_copy, "region", "add", "us-west-2", "--like", "region-us-east-1", *amis, "--json")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((repo_copy / "stacks" / "Pulumi.region-us-west-2.yaml").read_text())["config"]
    # the spread over AZs is kept, by position (us-east-1's az4 is its 4th AZ ID: us-west-2's 4th is usw2-az4)
    assert {(c["gpuType"], c["az"], c["count"]) for c in config["gpucloud:capacity"]} == {
        ("p5.48xlarge", "usw2-az4", 16), ("p5en.48xlarge", "usw2-az2", 4), ("p6-b200.48xlarge", "usw2-az4", 2),
        ("g6e.48xlarge", "usw2-az2", 4),
    }  # fmt: skip
    assert config["gpucloud:tenantCidrPrefix"] == 20
    assert json.loads(result.stdout)["supernet"] == "10.0.0.0/12"


def test_dry_run_writes_nothing(served: Path) -> None:
    repo_copy = served
    before = snapshot(repo_copy)
    result = gpucloud(
        repo_copy,
        "region",
        "add",
        "eu-west-1",
        "--capacity",
        "p4d.24xlarge=1",
        "--ami",
        f"p4d.24xlarge={AMI}",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert "would write stacks/Pulumi.region-eu-west-1.yaml" in result.stdout
    assert snapshot(repo_copy) == before


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["mars-1", "--capacity", "p5.48xlarge=1", "--dry-run"], ["'mars-1'", "us-east-1"]),
        (["us-east1", "--capacity", "p5.48xlarge=1", "--dry-run"], ["'us-east1'", "did you mean us-east-1?"]),
        (["eu-west-1", "--capacity", "p5.48xlarge=4"], ["not offered in eu-west-1", "g5.48xlarge, p4d.24xlarge"]),
        (["eu-west-1", "--capacity", "p4d.24xlarge@use1-az4=4"], ["'use1-az4' is not an AZ ID of eu-west-1"]),
        (["eu-west-1", "--capacity", "p4d.24xlarge=lots"], ["want SKU=N"]),
        (["eu-west-1", "--capacity", "p4d.24xlarge=0", "--ami", f"p4d.24xlarge={AMI}"], [">= 1"]),
        (["eu-west-1", "--capacity", "p4d.24xlarge=4"], ["no AMI pinned for p4d.24xlarge"]),
        (["eu-west-1", "--capacity", "p4d.24xlarge=4", "--ami", "p4d.24xlarge=ami-xyz"], ["--ami="]),
        (  # 17 x 96 vCPUs = 1632 > the 1536 recorded for eu-west-1
            ["eu-west-1", "--capacity", "p4d.24xlarge=17", "--ami", f"p4d.24xlarge={AMI}"],
            ["1632 vCPUs count against quota L-417A185B in eu-west-1, which is 1536", "request an increase"],
        ),
        (
            ["eu-west-1", "--capacity", "p4d.24xlarge=4", "--ami", "p4d.24xlarge=ami-0123456789abcdef0"],
            ["SKU=AMI:ROOT_DEVICE", "/dev/xvda on Amazon Linux 2023"],
        ),
        (
            ["eu-west-1", "--capacity", "p4d.24xlarge=4", "--ami", "p4d.24xlarge=ami-0123456789abcdef0:/dev/hda"],
            ["/dev/hda is not a root device name"],
        ),
        (["eu-west-1"], ["--capacity SKU=N", "--like"]),
        (["eu-west-1", "--like", "region-mars-1"], ["no such region stack"]),
        (["eu-north-1", "--capacity", "p5.48xlarge=1", "--ami", f"p5.48xlarge={AMI}"], ["already has its stack"]),
        ([*P4D, "--supernet", "10.16.0.0/12"], ["overlaps region-us-east-1's 10.16.0.0/12"]),
        ([*P4D, "--supernet", "10.20.0.0/16"], ["overlaps"]),
        ([*P4D, "--supernet", "172.16.0.0/12"], ["outside the address plan"]),
        ([*P4D, "--supernet", "10.64.0.0/21"], ["larger than one tenant block"]),
        ([*P4D, "--tenant-prefix", "30"], ["--tenant-prefix=30"]),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_write_nothing(served: Path, args: list[str], needles: list[str]) -> None:
    repo_copy = served
    before = snapshot(repo_copy)
    result = gpucloud(repo_copy, "region", "add", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert snapshot(repo_copy) == before


def test_capacity_beside_like_overrides_the_skus_it_names_only(served: Path) -> None:
    amis = [
        a
        for sku in ("p5.48xlarge", "p5en.48xlarge", "p6-b200.48xlarge", "g6e.48xlarge")
        for a in ("--ami", f"{sku}={AMI}")
    ]
    result = gpucloud(
        served,
        "region",
        "add",
        "us-west-2",
        "--like",
        "region-us-east-1",
        "--capacity",
        "p5.48xlarge@usw2-az1=8",
        *amis,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((served / "stacks" / "Pulumi.region-us-west-2.yaml").read_text())["config"]
    held = {(c["gpuType"], c["az"], c["count"]) for c in config["gpucloud:capacity"]}
    assert ("p5.48xlarge", "usw2-az1", 8) in held and not any(g == "p5.48xlarge" and n == 16 for g, _, n in held)
    assert ("p5en.48xlarge", "usw2-az2", 4) in held  # the others come from --like


def test_a_repeated_ami_is_refused_like_a_repeated_capacity(served: Path) -> None:
    before = snapshot(served)
    result = gpucloud(served, "region", "add", *P4D, "--ami", f"p4d.24xlarge={AMI}")
    assert result.returncode == 2 and "p4d.24xlarge is given twice; give one image per SKU" in result.stderr
    assert snapshot(served) == before


def test_dry_run_shows_the_plan_summary_and_cost(served: Path) -> None:
    before = snapshot(served)
    result = gpucloud(served, "region", "add", *P4D, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "offline plan of region-eu-west-1" in result.stdout
    assert "p4d.24xlarge reservation euw1-az1" in result.stdout and "indicative: $" in result.stdout
    assert "next:" not in result.stdout and "gpucloud plan region-eu-west-1" not in result.stdout  # not written
    assert result.stdout.strip().endswith(
        "dry run: nothing written; to write it, run the same command without --dry-run"
    )
    assert snapshot(served) == before


def test_every_sample_region_ships_its_inventory_and_update_regenerates_it(repo_copy: Path) -> None:
    for region in ("us-east-1", "eu-north-1"):
        path = repo_copy / "inventories" / "regions" / f"{region}.aws_ec2.yml"
        assert yaml.safe_load(path.read_text())["regions"] == [region]
        assert "nothing to change" in gpucloud(repo_copy, "region", "add", region, "--update").stdout
        path.unlink()
        again = gpucloud(repo_copy, "region", "add", region, "--update")
        assert again.returncode == 0 and path.is_file(), again.stderr
    missing = gpucloud(repo_copy, "region", "add", "eu-west-1", "--update")
    assert missing.returncode == 2 and "has no stack region-eu-west-1" in missing.stderr
