"""`gpucloud rollout --plan-only` over a copy of the repository with a few more tenants."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gpucloud.cli import main
from gpucloud.repo import Repository
from gpucloud.tenants.onboard import OnboardRequest, onboard

pytestmark = pytest.mark.integration


@pytest.fixture()
def fleet(repo_copy: Path) -> Path:
    """The sample stacks plus two tenants in each region."""
    for name, region, sku in (
        ("beta", "us-east-1", "p5.48xlarge"),
        ("gamma", "us-east-1", "p5en.48xlarge"),
        ("delta", "eu-north-1", "p5.48xlarge"),
        ("eps", "eu-north-1", "p5en.48xlarge"),
    ):
        onboard(
            Repository(repo_copy),
            OnboardRequest(name=name, region=region, gpu_type=sku, nodes=1, new_account=True),
        )
    return repo_copy


def rollout(root: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(root), "rollout", "--plan-only", "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


def in_process(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    status = main(["--root", str(root), "rollout", "--plan-only", "--json", *args])
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else {}


def test_waves_run_canary_then_regions_then_tenants(fleet: Path) -> None:
    status, doc = rollout(fleet)
    assert status == 0, doc
    waves = [w["name"] for w in doc["waves"]]  # type: ignore[index]
    assert waves == ["org", "canary", "regions", "accounts", "tenants"]
    order = [o["stack"] for o in sorted(doc["done"], key=lambda o: o["started"])]  # type: ignore[arg-type,index]
    assert order[:3] == ["org", "region-eu-north-1", "region-us-east-1"]
    assert sorted(order[3:8]) == [f"account-{t}" for t in ("acme", "beta", "delta", "eps", "gamma")]
    assert sorted(order[8:]) == sorted(
        ["tenant-acme-us-east-1", "tenant-beta-us-east-1", "tenant-gamma-us-east-1", "tenant-delta-eu-north-1",
         "tenant-eps-eu-north-1"]
    )  # fmt: skip
    assert doc["failed"] == [] and doc["not_started"] == []


def test_parallel_is_respected(fleet: Path) -> None:
    status, doc = rollout(fleet, "--parallel", "2")
    assert status == 0, doc
    outcomes = doc["done"]
    assert isinstance(outcomes, list)
    events = sorted([(o["started"], 1) for o in outcomes] + [(o["ended"], -1) for o in outcomes])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 2
    tenant_pids = {o["pid"] for o in outcomes if o["stack"].startswith("tenant-")}
    assert len(tenant_pids) == 2  # two worker processes shared the tenants wave


def test_a_policy_violation_halts_later_waves_and_resume_carries_on(
    fleet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pulumi_aws as aws

    from gpucloud import program

    build_region = program._build_region

    def with_open_ingress(config: object) -> dict[str, object]:
        exports = build_region(config)  # type: ignore[arg-type]
        if config.region == "us-east-1":  # type: ignore[attr-defined]
            aws.vpc.SecurityGroupIngressRule("open", security_group_id="sg-1", cidr_ipv4="0.0.0.0/0", ip_protocol="-1")
        return exports

    monkeypatch.setattr(program, "_build_region", with_open_ingress)
    status, doc = in_process(fleet, capsys)
    assert status == 1
    (failure,) = doc["failed"]  # type: ignore[misc]
    assert failure["stack"] == "region-us-east-1" and failure["step"] == "policy"
    assert failure["message"].startswith("no-world-ingress")
    assert [o["stack"] for o in doc["done"]] == ["org", "region-eu-north-1"]  # type: ignore[index,union-attr]
    assert len(doc["not_started"]) == 10  # type: ignore[arg-type]  # the accounts and tenants waves

    monkeypatch.setattr(program, "_build_region", build_region)  # the fix
    status, doc = in_process(fleet, capsys, "--resume")
    assert status == 0, doc["failed"]
    assert doc["skipped"] == ["org", "region-eu-north-1"]
    assert len(doc["done"]) == 11  # type: ignore[arg-type]
    status, _ = in_process(fleet, capsys, "--resume")
    assert status == 2  # nothing left to resume


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--resume"], "no rollout to resume"),
        (["--resume", "--stacks", "region-*"], "drop --stacks"),
        (["--stacks", "nope-*"], "matches no stack"),
        (["--waves", "canary:tenant-*;region-*"], "whose outputs it reads"),
        (["--parallel", "0"], "--parallel"),
    ],
)
def test_bad_input_is_refused(fleet: Path, args: list[str], needle: str) -> None:
    status, _ = rollout(fleet, *args)
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(fleet), "rollout", "--plan-only", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status == 2 and result.returncode == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) <= 3


def test_a_registry_problem_stops_the_rollout_before_it_starts(fleet: Path) -> None:
    (fleet / "stacks" / "Pulumi.tenant-zeta-us-east-1.yaml").write_text("config: {gpucloud:kind: tenant}\n")
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(fleet), "rollout", "--plan-only"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "tenant-zeta-us-east-1" in result.stderr
    assert not (fleet / ".gpucloud" / "rollout.json").exists()


def test_a_real_rollout_without_the_pulumi_cli_is_refused(fleet: Path) -> None:
    import os

    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(fleet), "rollout"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2 and "needs the Pulumi CLI" in result.stderr


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_ctrl_c_prints_the_summary_so_far_and_resume_carries_on(fleet: Path, parallel: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucloud", "--root", str(fleet), "rollout", "--plan-only", "--json",
         "--parallel", parallel],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which a terminal's Ctrl-C signals as a whole
    )  # fmt: skip
    assert proc.stderr is not None
    finished = 0
    for line in proc.stderr:  # progress goes to stderr with --json
        if "✓" in line:
            finished += 1
            if finished == 2:  # the org stack and the canary are done: interrupt the regions wave
                os.killpg(proc.pid, signal.SIGINT)
                break
    out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 1, rest
    assert "Traceback" not in rest
    assert "stopping once the stacks in flight finish" in rest
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["not_started"]
    done = [o["stack"] for o in doc["done"]]
    assert done[:2] == ["org", "region-eu-north-1"]
    state = json.loads((fleet / ".gpucloud" / "rollout.json").read_text())
    assert state["done"] == done and state["finished"] is False
    status, again = rollout(fleet, "--resume")
    assert status == 0, again
    assert again["skipped"] == done  # recorded before the interrupt: not run again
    assert len(again["done"]) + len(done) == 13


def test_a_stack_being_offboarded_is_not_rolled_out(fleet: Path) -> None:
    marked = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(fleet), "tenant", "offboard", "beta", "--region",
         "us-east-1", "--yes"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    status, doc = rollout(fleet)
    assert status == 0, doc
    ran = {o["stack"] for o in doc["done"]}  # type: ignore[union-attr]
    assert "tenant-beta-us-east-1" not in ran and "account-beta" not in ran
    assert "tenant-gamma-us-east-1" in ran
