"""Our own needs first (issue 27), through the CLI on a copy of the sample stacks: an internal reserve refuses the
onboarding whose term would cross it and takes the shorter term that fits; the ledger adds up (held = reserved +
carved + leasable) before and after a step and `--at` moves across it; a step added after tenants were onboarded
makes `validate` fail naming them (and `capacity --json` list it) until an --update resolves it; bad reserve input is
one line and writes nothing."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import edit_stack, snapshot
from html_page import Page
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration
GPUCLOUD = [sys.executable, "-m", "gpucloud"]
TODAY = datetime.datetime.now(datetime.UTC).date()
STEP = TODAY + datetime.timedelta(days=150)  # a reserve step about five months ahead
SOON = TODAY + datetime.timedelta(days=10)  # one within the ledger's 30-day timeline
P5, AZ = "p5.48xlarge", "use1-az4"
AMI = "ami-0123456789abcdef0:/dev/sda1"


def gpucloud(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUCLOUD, "--root", str(root), *args], capture_output=True, text=True, timeout=300)


def reserve(root: Path, *steps: tuple[str, str, int, datetime.date]) -> None:
    """Set us-east-1's internal reserve, and make acme (2 p5 nodes) an on-demand tenant: it holds on every day,
    whatever day the test runs."""
    doc = [{"gpuType": sku, "az": az, "nodes": n, "from": day.isoformat()} for sku, az, n, day in steps]
    edit_stack(root, "region-us-east-1", lambda cfg: cfg.__setitem__("gpucloud:internalReserve", doc))
    edit_stack(root, "tenant-acme-us-east-1", lambda cfg: cfg.__setitem__("gpucloud:term", {"plan": "on-demand"}))


def onboard(root: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return gpucloud(root, "tenant", "onboard", name, "--region", "us-east-1", "--gpu-type", P5, *args)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.strip().splitlines()
    return line


def test_a_reserve_refuses_the_onboarding_that_would_cross_it_and_takes_the_shorter_term(repo_copy: Path) -> None:
    reserve(repo_copy, (P5, AZ, 12, STEP))  # 16 held, acme 2: 14 leasable until the step, 2 from it
    before = snapshot(repo_copy)
    line = refused(onboard(repo_copy, "beta", "--nodes", "4", "--term", "12-month", "--new-account"))
    assert f"tenant beta: 4 {P5} nodes on a 12-month term ({TODAY} to " in line
    assert f"from {STEP} the internal reserve keeps 12 {P5} nodes in {AZ} for us (region-us-east-1's " in line
    assert f"leaving 2 for tenants, 4 asked; until {STEP}, 14 fit (a 1-month term, to " in line
    line = refused(onboard(repo_copy, "beta", "--nodes", "4", "--new-account"))  # on demand: every future step
    assert f"on demand (from {TODAY}): from {STEP} the internal reserve keeps 12" in line
    assert snapshot(repo_copy) == before
    # The shorter term the refusal offered fits, and is written.
    taken = onboard(repo_copy, "beta", "--nodes", "4", "--term", "1-month", "--new-account", "--json")
    assert taken.returncode == 0, taken.stderr
    assert (repo_copy / "stacks" / "Pulumi.tenant-beta-us-east-1.yaml").is_file()
    # Renewing into the reserve is refused like a new term; 2 nodes fit on every day of a year.
    line = refused(onboard(repo_copy, "beta", "--update", "--term", "12-month"))
    assert f"from {STEP} the internal reserve keeps 12" in line and "leaving 2 for tenants, 4 asked" in line
    assert onboard(repo_copy, "gamma", "--nodes", "2", "--term", "12-month", "--new-account").returncode == 0
    assert gpucloud(repo_copy, "validate").returncode == 0


def test_a_reserve_in_force_today_leaves_less_to_lease_now(repo_copy: Path) -> None:
    reserve(repo_copy, (P5, AZ, 10, TODAY - datetime.timedelta(days=1)))
    line = refused(onboard(repo_copy, "beta", "--nodes", "5", "--term", "1-month", "--new-account"))
    assert f"too few free {P5} nodes in any one AZ (free: {AZ}: 4 (10 more reserved for us))" in line
    line = refused(onboard(repo_copy, "beta", "--nodes", "5", "--az", AZ, "--new-account"))
    assert f"--az={AZ}: 4 {P5} free there (10 more reserved for us), --nodes=5 asked" in line


def ledger(root: Path, *args: str) -> dict[str, Any]:
    result = gpucloud(root, "capacity", "--json", *args)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    for region in doc["regions"]:
        for ln in region["lines"]:
            assert ln["held_gpus"] == ln["reserved_gpus"] + ln["carved_gpus"] + ln["leasable_gpus"], ln
            assert ln["free_gpus"] == ln["held_gpus"] - ln["carved_gpus"]
    return doc


def p5_line(doc: dict[str, Any]) -> dict[str, Any]:
    (line,) = [ln for r in doc["regions"] for ln in r["lines"] if (r["region"], ln["sku"]) == ("us-east-1", P5)]
    return line


def test_the_ledger_adds_up_before_and_after_a_step_and_at_moves_across_it(repo_copy: Path) -> None:
    reserve(repo_copy, (P5, AZ, 4, TODAY - datetime.timedelta(days=30)), (P5, AZ, 10, STEP))
    now = p5_line(ledger(repo_copy, "--region", "us-east-1"))
    assert (now["held_gpus"], now["reserved_gpus"], now["carved_gpus"], now["leasable_gpus"]) == (128, 32, 16, 80)
    assert now["leasable_until"] == {"day": STEP.isoformat(), "leasable_gpus_from_then": 32}
    assert [s["nodes"] for s in now["reserve_schedule"]] == [4, 10]
    before = p5_line(ledger(repo_copy, "--at", (STEP - datetime.timedelta(days=1)).isoformat()))
    after = p5_line(ledger(repo_copy, "--at", STEP.isoformat()))
    assert (before["reserved_gpus"], before["leasable_gpus"]) == (32, 80)
    assert (after["reserved_gpus"], after["leasable_gpus"], after["leasable_until"]) == (80, 32, None)
    text = gpucloud(repo_copy, "capacity", "--region", "us-east-1").stdout
    assert f"{P5} in {AZ}: 80 GPUs leasable until {STEP}, 32 from then (internal reserve)" in text
    # --fit looks at every day of the term: 10 nodes lease for a month (16 - 4 ours - acme's 2), 4 for a year.
    (year,) = ledger(repo_copy, "--region", "us-east-1", "--fit", f"{P5}=10", "--term", "12-month")["fit"]
    (month,) = ledger(repo_copy, "--region", "us-east-1", "--fit", f"{P5}=10", "--term", "1-month")["fit"]
    assert (year["fits"], year["free_nodes"], month["fits"], month["free_nodes"]) == (False, 4, True, 10)


def test_the_page_and_the_textfile_show_the_reserve(repo_copy: Path, tmp_path: Path) -> None:
    reserve(repo_copy, (P5, AZ, 4, TODAY - datetime.timedelta(days=30)), ("g6e.48xlarge", "use1-az2", 1, SOON))
    page, prom = tmp_path / "capacity.html", tmp_path / "capacity.prom"
    doc = ledger(repo_copy, "--html", str(page), "--textfile", str(prom))
    assert [(s["kind"], s["ends"]) for s in doc["reserve_steps"]] == [("reserve-step", SOON.isoformat())]
    parser = Page()
    parser.feed(page.read_text())
    bars = {a["data-sku"]: a for t, a in parser.tags if t == "g" and a.get("class") == "sku" and a.get("data-held")
            == "128"}  # fmt: skip
    assert (bars[P5]["data-reserved"], bars[P5]["data-carved"], bars[P5]["data-leasable"]) == ("32", "16", "80")
    bands = [a for t, a in parser.tags if t == "rect" and a.get("class") == "reserved" and float(a["width"] or 0) > 0]
    assert bands, "no reserved band drawn"
    marks = [a for t, a in parser.tags if t == "g" and a.get("class") == "mark"]
    assert [(m["data-kind"], m["data-days"]) for m in marks] == [("reserve-step", "10")]
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    series = {(s.labels["region"], s.labels["sku"], s.labels["state"]): s.value
              for s in families["gpucloud_capacity_gpus"].samples}  # fmt: skip
    assert (series[("us-east-1", P5, "reserved")], series[("us-east-1", P5, "leasable")]) == (32, 80)


def test_a_step_added_after_tenants_were_onboarded_fails_validate_naming_them_until_resolved(repo_copy: Path) -> None:
    reserve(repo_copy)
    assert onboard(repo_copy, "beta", "--nodes", "6", "--new-account").returncode == 0  # on demand
    assert gpucloud(repo_copy, "validate").returncode == 0
    reserve(repo_copy, (P5, AZ, 12, STEP))  # then we need 12 of the 16 back from the step on
    result = gpucloud(repo_copy, "validate")
    assert result.returncode == 1
    assert (
        f"reserve region-us-east-1: {P5} in {AZ}: from {STEP} the internal reserve keeps 12 of 16 nodes, but tenants "
        "hold 8 then (acme, beta): 4 nodes short" in result.stdout + result.stderr
    )
    (collision,) = ledger(repo_copy)["collisions"]
    assert (collision["from"], collision["short_nodes"]) == (STEP.isoformat(), 4)
    assert collision["tenants"] == ["acme", "beta"]
    # A rollout of a tenant stack involved stops before it starts (the problem is the region's, the stack is in it).
    line = refused(gpucloud(repo_copy, "rollout", "--plan-only", "--stacks", "tenant-beta-us-east-1"))
    assert line.endswith("4 nodes short; shorten or move their terms, or change internalReserve (1 problem(s))"), line
    assert "reserve short: us-east-1:" in gpucloud(repo_copy, "capacity").stdout
    # Onboarding elsewhere goes on (each onboarding checks the reserve itself); more p5 is refused.
    g6e = ["--gpu-type", "g6e.48xlarge", "--nodes", "1", "--new-account"]
    assert gpucloud(repo_copy, "tenant", "onboard", "gamma", "--region", "us-east-1", *g6e).returncode == 0
    assert "leaving 0 for tenants, 1 asked" in refused(onboard(repo_copy, "delta", "--nodes", "1", "--new-account"))
    # Shrinking beta to what fits resolves it.
    assert onboard(repo_copy, "beta", "--update", "--nodes", "2").returncode == 0
    assert gpucloud(repo_copy, "validate").returncode == 0
    assert ledger(repo_copy)["collisions"] == []


@pytest.mark.parametrize(
    ("reserve_arg", "needle"),
    [
        ("p4d.24xlarge=many", "--reserve='p4d.24xlarge=many': want SKU=N, SKU@AZ-ID=N or either with @YYYY-MM-DD"),
        ("p4d.24xlarge=3", "--reserve=p4d.24xlarge=3: 3 nodes, more than the 2 held (p4d.24xlarge)"),
        ("p5.48xlarge=1", "--reserve=p5.48xlarge=1: the region would hold no p5.48xlarge; it holds: p4d.24xlarge"),
        ("p4d.24xlarge@euw1-az3=1", "p4d.24xlarge is held in euw1-az1 only"),
        ("p4d.24xlarge=1@2027-02-30", "'2027-02-30' is not a day; want YYYY-MM-DD"),
    ],
)
def test_bad_reserve_input_to_region_add_is_one_line_and_writes_nothing(
    repo_copy: Path, reserve_arg: str, needle: str
) -> None:
    before = snapshot(repo_copy)
    args = ["region", "add", "eu-west-1", "--capacity", "p4d.24xlarge=2", "--ami", f"p4d.24xlarge={AMI}"]
    assert needle in refused(gpucloud(repo_copy, *args, "--reserve", reserve_arg))
    assert snapshot(repo_copy) == before


def test_region_add_writes_a_reserve_schedule_that_validate_and_the_ledger_read(repo_copy: Path) -> None:
    args = ["region", "add", "eu-west-1", "--capacity", "p4d.24xlarge=2", "--ami", f"p4d.24xlarge={AMI}"]
    result = gpucloud(repo_copy, *args, "--reserve", "p4d.24xlarge=1", "--reserve", f"p4d.24xlarge=2@{STEP}")
    assert result.returncode == 0, result.stderr
    assert f"ours: p4d.24xlarge × 1 in euw1-az1 from {TODAY}, p4d.24xlarge × 2 in euw1-az1 from {STEP}" in result.stdout
    config = yaml.safe_load((repo_copy / "stacks" / "Pulumi.region-eu-west-1.yaml").read_text())["config"]
    assert config["gpucloud:internalReserve"] == [
        {"gpuType": "p4d.24xlarge", "az": "euw1-az1", "nodes": 1, "from": TODAY.isoformat()},
        {"gpuType": "p4d.24xlarge", "az": "euw1-az1", "nodes": 2, "from": STEP.isoformat()},
    ]
    assert gpucloud(repo_copy, "validate").returncode == 0
    (line,) = [ln for r in ledger(repo_copy, "--region", "eu-west-1")["regions"] for ln in r["lines"]]
    assert (line["reserved_gpus"], line["leasable_gpus"]) == (8, 8)
    assert gpucloud(repo_copy, "plan", "region-eu-west-1").returncode == 0  # the program reads the key too


def test_a_hand_written_bad_reserve_fails_validate_naming_the_key(repo_copy: Path) -> None:
    step = [{"gpuType": P5, "az": AZ, "nodes": 17, "from": STEP.isoformat()}]
    edit_stack(repo_copy, "region-us-east-1", lambda cfg: cfg.__setitem__("gpucloud:internalReserve", step))
    result = gpucloud(repo_copy, "validate")
    assert result.returncode == 1
    assert "gpucloud:internalReserve[0].nodes=17: want a whole number between 0 and 16" in result.stdout + result.stderr

