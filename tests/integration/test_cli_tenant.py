"""Tenant onboarding, listing and offboarding as a user runs them: real processes on a copy of the repository."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml
from conftest import edit_stack, snapshot

from gpucloud.cli import main
from gpucloud.rates import load_rate_card

pytestmark = pytest.mark.integration
GPUCLOUD = [sys.executable, "-m", "gpucloud"]
ONBOARD = ("tenant", "onboard")


def gpucloud(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUCLOUD, "--root", str(root), *args], capture_output=True, text=True, timeout=300, env=env)


def onboard_args(name: str, *extra: str, nodes: int = 1, sku: str = "p5.48xlarge") -> list[str]:
    account = () if "--update" in extra or "--account-id" in extra else ("--new-account",)
    return [*ONBOARD, name, "--region", "us-east-1", "--gpu-type", sku, "--nodes", str(nodes), *account, *extra]


def tenants(root: Path) -> list[dict[str, object]]:
    result = gpucloud(root, "tenant", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def assert_refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_onboard_list_plan_check_offboard(repo_copy: Path) -> None:
    result = gpucloud(repo_copy, *onboard_args("beta", "--display-name", "Beta Labs", nodes=4), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {k: doc[k] for k in ("tenant", "region", "stack", "cidr", "az")} == {
        "tenant": "beta",
        "region": "us-east-1",
        "stack": "tenant-beta-us-east-1",
        "cidr": "10.16.16.0/20",  # acme holds 10.16.0.0/20
        "az": "use1-az4",
    }
    assert doc["account"] == {"stack": "account-beta", "id": None, "email": "aws-accounts+beta@example.com"}
    assert doc["files"] == [
        "stacks/Pulumi.account-beta.yaml",
        "stacks/Pulumi.tenant-beta-us-east-1.yaml",
        "inventories/tenants/beta/us-east-1.aws_ec2.yml",
        "inventories/tenants/beta/us-east-1.handover.md",
    ]
    assert all((repo_copy / f).is_file() for f in doc["files"])

    only_eu = gpucloud(repo_copy, "tenant", "list", "--region", "eu-north-1", "--json")
    assert only_eu.returncode == 0 and json.loads(only_eu.stdout) == []
    human = gpucloud(repo_copy, "tenant", "list", env={**os.environ, "COLUMNS": "200"})
    assert "beta" in human.stdout and "10.16.16.0/20" in human.stdout and "2 tenant(s)" in human.stdout
    rows = {row["name"]: row for row in tenants(repo_copy)}
    assert rows["beta"] == {
        "stack": "tenant-beta-us-east-1",
        "name": "beta",
        "region": "us-east-1",
        "cidr": "10.16.16.0/20",
        "gpu_type": "p5.48xlarge",
        "az": "use1-az4",
        "nodes": 4,
        "capacity_type": "reservation",
        "capacity_ends": None,
        "leaving": None,
        "display_name": "Beta Labs",
        "egress": "none",
        "org": "organization",
        "scheduler": "slurm",
        "head_node_type": "m7i.2xlarge",
        "term": "on-demand",
        "term_start": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "monthly_price_usd": round(4 * 8 * load_rate_card().gpu_hour["p5.48xlarge"] * 730, 2),
        "account": {
            "stack": "account-beta",
            "name": "beta",
            "display_name": "Beta Labs",
            "org": "organization",
            "email": "aws-accounts+beta@example.com",
            "account_id": None,
            "admin_principals": [],
            "leaving": None,
        },
    }

    plan = gpucloud(repo_copy, "plan", "tenant-beta-us-east-1", "--json")
    assert plan.returncode == 0, plan.stderr
    summary = json.loads(plan.stdout)["summary"]
    assert summary["gpus"] == 32 and json.loads(plan.stdout)["violations"] == []
    check = gpucloud(repo_copy, "policy", "check", "tenant-beta-us-east-1", "--json")
    assert check.returncode == 0 and json.loads(check.stdout) == {"stack": "tenant-beta-us-east-1", "violations": []}
    assert gpucloud(repo_copy, "validate").returncode == 0

    # offboarding, step 1: marked leaving, the files stay for `pulumi destroy`
    off = gpucloud(repo_copy, "tenant", "offboard", "beta", "--region", "us-east-1", "--yes")
    assert off.returncode == 0, off.stderr
    assert "pulumi destroy -s organization/tenant-beta-us-east-1" in off.stdout
    assert "gpucloud tenant offboard beta --region us-east-1 --destroyed" in off.stdout
    assert (repo_copy / "inventories" / "tenants" / "beta").is_dir()
    assert {row["name"]: row["leaving"] for row in tenants(repo_copy)}["beta"] is not None
    assert gpucloud(repo_copy, "plan", "tenant-beta-us-east-1").returncode == 0  # the destroy can still run
    assert gpucloud(repo_copy, *ONBOARD, "beta", "--region", "us-east-1", "--update", "--nodes", "2").returncode == 2
    # step 2, once destroyed: the files go, and the CIDR and capacity stay retired for the grace period
    done = gpucloud(repo_copy, "tenant", "offboard", "beta", "--region", "us-east-1", "--destroyed", "--yes")
    assert done.returncode == 0, done.stderr
    assert not (repo_copy / "inventories" / "tenants" / "beta").exists()
    assert [row["name"] for row in tenants(repo_copy)] == ["acme"]
    retired = yaml.safe_load((repo_copy / "stacks" / "retired.yaml").read_text())["retired"]
    assert [(r["stack"], r["cidr"], r["nodes"]) for r in retired] == [("tenant-beta-us-east-1", "10.16.16.0/20", 4)]
    full = gpucloud(repo_copy, *onboard_args("gamma", nodes=14))
    assert full.returncode == 2 and "too few free" in full.stderr  # 16 - acme's 2 - beta's 4 retired
    again = gpucloud(repo_copy, *onboard_args("gamma", nodes=10), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cidr"] == "10.16.32.0/20"  # not beta's 10.16.16.0/20 while it is retired
    assert gpucloud(repo_copy, "validate").returncode == 0
    # once the grace period is over, the tombstone no longer counts
    past = (repo_copy / "stacks" / "retired.yaml").read_text().replace("until: '20", "until: '19")
    (repo_copy / "stacks" / "retired.yaml").write_text(past)
    later = gpucloud(repo_copy, *onboard_args("delta", nodes=1), "--json")
    assert json.loads(later.stdout)["cidr"] == "10.16.16.0/20"


def test_human_output_ends_with_the_next_commands(repo_copy: Path) -> None:
    result = gpucloud(repo_copy, *onboard_args("beta"))
    assert result.returncode == 0, result.stderr
    tail = result.stdout.strip().splitlines()[-4:]
    assert tail[1].strip() == "pulumi up -s organization/tenant-beta-us-east-1"
    assert "gpucloud nodes configure --inventory inventories/tenants/beta/us-east-1.aws_ec2.yml" in tail[2]


def test_dry_run_prints_files_and_plan_and_writes_nothing(repo_copy: Path) -> None:
    before = snapshot(repo_copy)
    result = gpucloud(repo_copy, *onboard_args("beta", nodes=2), "--dry-run", env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "would write stacks/Pulumi.tenant-beta-us-east-1.yaml" in result.stdout
    headings = [line for line in result.stdout.splitlines() if line.startswith("──")]
    assert headings and max(map(len, headings)) < 100  # piped: as long as their titles, not 1,000 columns
    assert "gpucloud:cidr: 10.16.16.0/20" in result.stdout
    assert "GPUs: 16" in result.stdout and "policy: no violations" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == (
        "dry run: nothing written; to write it, run the same command without --dry-run"
    )
    assert "next:" not in result.stdout and "git add -A" not in result.stdout  # no steps for what was not written
    assert snapshot(repo_copy) == before


def test_update_keeps_the_cidr_and_changes_what_was_asked(repo_copy: Path) -> None:
    assert gpucloud(repo_copy, *onboard_args("beta", nodes=2)).returncode == 0
    result = gpucloud(
        repo_copy, *ONBOARD, "beta", "--region", "us-east-1", "--update", "--nodes", "6", "--fsx-tib", "2.4", "--json"
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["updated"] is True and doc["cidr"] == "10.16.16.0/20"
    config = yaml.safe_load((repo_copy / "stacks" / "Pulumi.tenant-beta-us-east-1.yaml").read_text())["config"]
    assert config["gpucloud:nodePool"]["nodes"] == 6
    assert config["gpucloud:storage"]["fsxTib"] == 2.4


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (onboard_args("../x"), ["NAME='../x'", "DNS label"]),
        (onboard_args("a/b"), ["NAME='a/b'"]),
        (onboard_args("Acme"), ["NAME='Acme'"]),
        (onboard_args("a" * 64), ["at most 32"]),
        (onboard_args(""), ["NAME=''"]),
        (onboard_args("\u0430cme"), ["NAME='\u0430cme'"]),  # Cyrillic a
        (onboard_args("acme-"), ["no trailing hyphen"]),
        (onboard_args("admin"), ["'admin' is reserved"]),
        (onboard_args("acme"), ["already onboarded", "--update"]),
        (onboard_args("beta", "--display-name", "bell\x07"), ["control character"]),
        (onboard_args("beta", "--display-name", "x" * 201), ["at most 200"]),
        (onboard_args("beta", "--display-name", "   "), ["non-empty"]),
        ([*ONBOARD, "beta", "--region", "mars-1", "--gpu-type", "p5.48xlarge", "--nodes", "1"], ["mars-1", "allowed"]),
        (
            [*ONBOARD, "beta", "--region", "eu-west-1", "--gpu-type", "p4d.24xlarge", "--nodes", "1"],
            ["no region stack"],
        ),
        (onboard_args("beta", sku="p9.huge"), ["p9.huge", "allowed"]),
        (onboard_args("beta", sku="p4d.24xlarge"), ["holds no capacity", "p5.48xlarge"]),
        (onboard_args("beta", nodes=0), ["--nodes=0", ">= 1"]),
        (onboard_args("beta", nodes=15), ["--nodes=15", "free: use1-az4: 14"]),
        (onboard_args("beta", "--storage-tib", "-1"), ["--storage-tib=-1"]),
        (onboard_args("beta", "--storage-tib", "inf"), ["finite"]),
        (onboard_args("beta", "--fsx-tib", "1.5"), ["--fsx-tib=1.5", "1.2 TiB"]),
        (onboard_args("beta", "--egress", "open"), ["'open'", "nat"]),
        (onboard_args("beta", "--admin-principal", "*"), ["--admin-principal='*'"]),
        (onboard_args("beta", "--admin-principal", "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:root"), ["--admin-principal"]),
        (onboard_args("beta", "--org", "a b"), ["--org='a b'"]),
        (
            [*ONBOARD, "beta", "--region", "us-east-1", "--update", "--nodes", "1"],
            ["no tenant 'beta'", "drop --update"],
        ),
        # Every --region refuses a region without a stack the same way, with the closest one that has a stack.
        (["tenant", "list", "--region", "us-east1"], ["--region='us-east1'", "did you mean us-east-1?"]),
        (["capacity", "--region", "us-east1"], ["--region='us-east1'", "did you mean us-east-1?"]),
        (["tenant", "offboard", "acme", "--region", "us-east1"], ["did you mean us-east-1?"]),
        (
            [*ONBOARD, "x", "--region", "us-east1", "--gpu-type", "p5.48xlarge", "--nodes", "1"],
            ["--region='us-east1'", "did you mean us-east-1?"],
        ),
        # One suggestion for a tenant name, whichever command it is typed into (offboarding asks nothing first).
        (["tenant", "offboard", "acmee", "--region", "us-east-1"], ["no tenant 'acmee'", "did you mean acme?"]),
        ([*ONBOARD, "acmee", "--region", "us-east-1", "--update", "--nodes", "1"], ["did you mean acme?"]),
        ([*ONBOARD, "beta", "--region", "us-east-1", "--nodes", "1"], ["--gpu-type is required"]),
        (["tenant", "offboard", "zeta", "--region", "us-east-1", "--yes"], ["no tenant 'zeta'", "acme"]),
        (["tenant", "offboard", "acme", "--region", "us-east-1"], ["--yes"]),
    ],
    ids=lambda v: repr(v)[:60] if isinstance(v, list) else None,
)
def test_refusals_name_the_value_and_write_nothing(repo_copy: Path, args: list[str], needles: list[str]) -> None:
    before = snapshot(repo_copy)
    result = subprocess.run(
        [*GPUCLOUD, "--root", str(repo_copy), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert_refused(result, *needles)
    assert snapshot(repo_copy) == before


def test_apply_without_the_pulumi_cli_is_refused_before_anything_is_written(repo_copy: Path) -> None:
    before = snapshot(repo_copy)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no pulumi there
    assert_refused(gpucloud(repo_copy, *onboard_args("beta"), "--apply", env=env), "--apply needs the Pulumi CLI")
    assert snapshot(repo_copy) == before


def test_a_broken_registry_blocks_onboarding(repo_copy: Path) -> None:
    (repo_copy / "stacks" / "Pulumi.tenant-zeta-us-east-1.yaml").write_text("config: [not, a, mapping\n")
    assert_refused(gpucloud(repo_copy, *onboard_args("beta")), "gpucloud validate", "not valid YAML")


def test_policy_check_exits_1_on_a_violation(
    repo_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pulumi_aws as aws

    from gpucloud import program

    build_tenant = program._build_tenant

    def with_peering(config: object) -> dict[str, object]:
        exports = build_tenant(config)  # type: ignore[arg-type]
        aws.ec2.VpcPeeringConnection("to-another-tenant", vpc_id="vpc-1", peer_vpc_id="vpc-2")
        return exports

    monkeypatch.setattr(program, "_build_tenant", with_peering)
    status = main(["--root", str(repo_copy), "policy", "check", "tenant-acme-us-east-1", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 1
    # the peering is untagged, joins two networks, and is created in the management account instead of the tenant's
    assert {v["rule"] for v in doc["violations"]} == {
        "tenant-isolation",
        "tenant-tag",
        "tenant-account-provider",
        "management-account-bare",
    }


def test_validate_checks_accounts_blocks_and_served_regions(repo_copy: Path) -> None:
    assert gpucloud(repo_copy, *onboard_args("beta", "--account-id", "210987654321")).returncode == 0
    block, end = "cr-0123456789abcdef0", "2099-12-31T11:30:00Z"
    edit_stack(
        repo_copy,
        "region-us-east-1",
        lambda c: c["gpucloud:capacity"][0].update(capacityBlockId=block, capacityBlockEnd=end),
    )
    for stack in ("tenant-acme-us-east-1", "tenant-beta-us-east-1"):
        edit_stack(
            repo_copy, stack, lambda c: c["gpucloud:nodePool"].update(capacityType="capacity-block", capacityEnds=end)
        )

    def adopt_betas_account(cfg: dict[str, object]) -> None:
        del cfg["gpucloud:email"]
        cfg["gpucloud:accountId"] = "210987654321"

    edit_stack(repo_copy, "account-acme", adopt_betas_account)
    edit_stack(repo_copy, "org", lambda c: c.update({"gpucloud:servedRegions": ["us-east-1"]}))
    result = gpucloud(repo_copy, "validate", "--json")
    assert result.returncode == 1
    problems = {(p["check"], p["stack"]) for p in json.loads(result.stdout)["problems"]}
    assert problems == {
        ("carved-once", "region-us-east-1"),  # one Capacity Block, two tenants
        ("account-unique", "account-beta"),  # two tenants, one account
        ("served-region", "region-eu-north-1"),  # the SCP would deny its tenants
    }
    (repo_copy / "stacks" / "Pulumi.account-beta.yaml").unlink()
    edit_stack(
        repo_copy,
        "tenant-beta-us-east-1",
        lambda c: c["gpucloud:nodePool"].update(capacityType="reservation", capacityEnds=None),
    )
    problems = {
        (p["check"], p["stack"]) for p in json.loads(gpucloud(repo_copy, "validate", "--json").stdout)["problems"]
    }
    assert ("account-exists", "tenant-beta-us-east-1") in problems
    assert ("capacity-type", "tenant-beta-us-east-1") in problems


def test_validate_refuses_an_account_email_that_is_not_ours_and_admins_from_our_accounts(repo_copy: Path) -> None:
    """The root e-mail of a tenant account is ours (else its holder recovers the root password), and no admin
    principal sits in an account of our organization (ours, another tenant's, its own)."""
    assert gpucloud(repo_copy, *onboard_args("beta", "--account-id", "210987654321")).returncode == 0

    def hand_edited(cfg: dict[str, object]) -> None:
        cfg["gpucloud:email"] = "founder@acme.example"
        cfg["gpucloud:adminPrincipals"] = ["arn:aws:iam::210987654321:root", "arn:aws:iam::111111111111:role/x"]

    edit_stack(repo_copy, "account-acme", hand_edited)
    result = gpucloud(repo_copy, "validate", "--json")
    assert result.returncode == 1
    found = [(p["check"], p["stack"], p["message"]) for p in json.loads(result.stdout)["problems"]]
    assert {(check, stack) for check, stack, _ in found} == {
        ("account-email", "account-acme"),
        ("admin-principal", "account-acme"),
    }
    messages = " ".join(message for _, _, message in found)
    assert "want aws-accounts+acme@example.com" in messages
    assert "tenant beta's account" in messages and "our operations account" in messages


def test_validate_finds_overlapping_cidrs_and_overcommitted_capacity(repo_copy: Path) -> None:
    assert gpucloud(repo_copy, *onboard_args("beta", nodes=4)).returncode == 0
    edit_stack(repo_copy, "tenant-beta-us-east-1", lambda c: c.update({"gpucloud:cidr": "10.16.0.0/20"}))
    edit_stack(repo_copy, "tenant-acme-us-east-1", lambda c: c["gpucloud:nodePool"].update(nodes=13))
    result = gpucloud(repo_copy, "validate", "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert {(p["check"], p["stack"]) for p in problems} == {
        ("cidr-disjoint", "tenant-beta-us-east-1"),
        ("capacity", "region-us-east-1"),
    }
    assert any("tenants hold 17 nodes, the region has 16" in p["message"] for p in problems)


def test_concurrent_onboardings_get_disjoint_cidrs(repo_copy: Path) -> None:
    names = [f"team{i}" for i in range(6)]
    procs = [
        subprocess.Popen(
            [*GPUCLOUD, "--root", str(repo_copy), *onboard_args(name), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    results = [(p.wait(timeout=300), p.communicate()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    cidrs = [IPv4Network(json.loads(out)["cidr"]) for _, (out, _) in results]
    assert len(set(cidrs)) == len(cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    rows = tenants(repo_copy)
    assert sorted(r["name"] for r in rows) == sorted(["acme", *names])
    validate = gpucloud(repo_copy, "validate", "--json")
    assert validate.returncode == 0, validate.stdout


KILL_AFTER_FIRST_RENAME = """
import os, signal, sys
from gpucloud import transaction
from gpucloud.cli import main
from gpucloud.rates import load_rate_card
real = os.replace
count = []
def replace(src, dst):
    real(src, dst)
    if not str(dst).endswith(".json"):
        count.append(dst)
        if len(count) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
transaction.os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def test_a_process_killed_while_writing_leaves_no_partial_tenant(repo_copy: Path) -> None:
    before = snapshot(repo_copy)
    args = ["--root", str(repo_copy), *onboard_args("beta")]
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_RENAME, *args], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert (repo_copy / ".gpucloud" / "txn" / "journal.json").exists()  # it died mid-change
    assert [r["name"] for r in tenants(repo_copy)] == ["acme"]  # the next command rolls it back
    assert snapshot(repo_copy) == before
    again = gpucloud(repo_copy, *onboard_args("beta"))
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("delay_s", [0.05, 0.15, 0.3, 0.45, 0.6])
def test_a_kill_at_any_moment_leaves_before_or_after_never_between(repo_copy: Path, delay_s: float) -> None:
    before = snapshot(repo_copy)
    proc = subprocess.Popen([*GPUCLOUD, "--root", str(repo_copy), *onboard_args("beta")], stdout=subprocess.DEVNULL)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    names = [r["name"] for r in tenants(repo_copy)]  # rolls back a half-done change, if any
    after = snapshot(repo_copy)
    if names == ["acme"]:
        assert after == before
    else:
        assert names == ["acme", "beta"]
        assert set(after) - set(before) == {
            "stacks/Pulumi.account-beta.yaml",
            "stacks/Pulumi.tenant-beta-us-east-1.yaml",
            "inventories/tenants/beta/us-east-1.aws_ec2.yml",
            "inventories/tenants/beta/us-east-1.handover.md",
        }
    final = gpucloud(repo_copy, *onboard_args("beta"), "--update" if names != ["acme"] else "--dry-run")
    assert final.returncode == 0, final.stderr


@pytest.mark.parametrize(
    "display_name",
    ["{{ 7*7 }}", "Acme: Labs # not a comment", "\"quoted\" and 'single'", "two\nlines", "{% if x %}y{% endif %}"],
)
def test_a_display_name_with_template_or_yaml_syntax_is_kept_literally(repo_copy: Path, display_name: str) -> None:
    result = gpucloud(repo_copy, *onboard_args("beta", "--display-name", display_name))
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in tenants(repo_copy)}
    assert rows["beta"]["display_name"] == display_name
    stack = yaml.safe_load((repo_copy / "stacks" / "Pulumi.account-beta.yaml").read_text())
    assert stack["config"]["gpucloud:displayName"] == display_name  # the account's name, one per tenant
    note = (repo_copy / "inventories" / "tenants" / "beta" / "us-east-1.handover.md").read_text()
    assert "49" not in note and "{{" not in note and "{%" not in note  # escaped, never evaluated
    assert gpucloud(repo_copy, "plan", "tenant-beta-us-east-1", "--json").returncode == 0


def test_a_tenant_in_two_regions_has_one_account_and_it_goes_with_the_last_region(repo_copy: Path) -> None:
    first = gpucloud(repo_copy, *onboard_args("beta", "--account-id", "210987654321", "--json"))
    assert first.returncode == 0, first.stderr
    assert "stacks/Pulumi.account-beta.yaml" in json.loads(first.stdout)["files"]
    second = gpucloud(
        repo_copy, *ONBOARD, "beta", "--region", "eu-north-1", "--gpu-type", "p5.48xlarge", "--nodes", "1", "--json"
    )
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert doc["account"] == {"stack": "account-beta", "id": "210987654321", "email": None}
    assert "stacks/Pulumi.account-beta.yaml" not in doc["files"]  # reused, not rewritten
    assert sorted(p.name for p in (repo_copy / "stacks").glob("Pulumi.account-*.yaml")) == [
        "Pulumi.account-acme.yaml",
        "Pulumi.account-beta.yaml",
    ]
    assert {r["account"]["account_id"] for r in tenants(repo_copy) if r["name"] == "beta"} == {"210987654321"}
    assert gpucloud(repo_copy, "validate").returncode == 0
    for stack in ("account-beta", "tenant-beta-eu-north-1"):
        plan = json.loads(gpucloud(repo_copy, "plan", stack, "--json").stdout)
        assert plan["violations"] == [], stack
        assert "210987654321" in {r["account"] for r in plan["resources"]}, stack

    other = gpucloud(repo_copy, *ONBOARD, "beta", "--region", "eu-north-1", "--update", "--account-id", "310987654321")
    assert other.returncode == 2 and "a tenant's account does not change" in other.stderr

    off_eu = gpucloud(repo_copy, "tenant", "offboard", "beta", "--region", "eu-north-1", "--yes")
    assert off_eu.returncode == 0, off_eu.stderr
    destroyed = [*ONBOARD[:1], "offboard", "beta", "--destroyed", "--yes", "--region"]
    assert gpucloud(repo_copy, *destroyed, "eu-north-1").returncode == 0
    assert (repo_copy / "stacks" / "Pulumi.account-beta.yaml").is_file()  # another region still uses it
    assert "its account stack account-beta goes too" not in off_eu.stdout
    # the data stays in beta's account, and expires after the notice: the exact steps
    steps = off_eu.stdout
    assert "BUCKET=$(pulumi stack output bucket -s organization/tenant-beta-eu-north-1)" in steps
    assert steps.index("BUCKET=") < steps.index("pulumi destroy -s organization/tenant-beta-eu-north-1")
    assert "put-bucket-lifecycle-configuration --profile gpucloud-data-beta" in steps
    assert '"Expiration":{"Days":30}' in steps and '"NoncurrentVersionExpiration":{"NoncurrentDays":30}' in steps
    assert "aws s3api delete-bucket --profile gpucloud-data-beta" in steps
    off_us = gpucloud(repo_copy, "tenant", "offboard", "beta", "--region", "us-east-1", "--yes")
    assert off_us.returncode == 0, off_us.stderr
    assert "leaving" in (repo_copy / "stacks" / "Pulumi.account-beta.yaml").read_text()  # marked with the last region
    assert gpucloud(repo_copy, *destroyed, "us-east-1").returncode == 0
    assert not (repo_copy / "stacks" / "Pulumi.account-beta.yaml").exists()
    steps = off_us.stdout
    region_step = steps.index("pulumi destroy -s organization/tenant-beta-us-east-1")
    account_step = steps.index("pulumi destroy -s organization/account-beta")
    assert region_step < account_step  # the region stack first, the account after it
    quarantine = steps.index("pulumi up -s organization/account-beta   # first: the account goes into the quarantine")
    assert quarantine < account_step  # shut before our roles go; never left in the organization with nothing on it
    assert "aws organizations remove-account-from-organization --account-id 210987654321" in steps
    assert "aws organizations close-account --account-id 210987654321" in steps and "90 days" in steps
    assert gpucloud(repo_copy, "validate").returncode == 0


def test_a_new_account_is_closed_by_its_destroy_once_unprotected(repo_copy: Path) -> None:
    assert gpucloud(repo_copy, *onboard_args("beta")).returncode == 0
    off = gpucloud(repo_copy, "tenant", "offboard", "beta", "--region", "us-east-1", "--yes")
    assert off.returncode == 0, off.stderr
    quarantine = off.stdout.index("pulumi up -s organization/account-beta   # first: the account goes into the quar")
    unprotect = off.stdout.index("pulumi state unprotect -s organization/account-beta")
    destroy = off.stdout.index("pulumi destroy -s organization/account-beta")
    assert quarantine < unprotect < destroy and "reopen it within 90 days" in off.stdout


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        # A tenant's e-mail as the account's root e-mail: whoever holds the mailbox recovers the root password.
        (("--account-email", "aws-beta@example.com"), ["--account-email='aws-beta@example.com'", "--new-account"]),
        (("--account-id", "12345"), ["--account-id='12345'", "12-digit"]),
        (("--account-id", "abcdefghijkl"), ["--account-id='abcdefghijkl'"]),
        (("--account-id", "210987654321", "--new-account"), ["exclude each other"]),
        # An admin principal in an account of our organization: ours, or the tenant's own (its nodes' role).
        (("--new-account", "--admin-principal", "arn:aws:iam::111111111111:root"), ["our operations account"]),
        (
            ("--account-id", "210987654321", "--admin-principal", "arn:aws:iam::210987654321:role/x"),
            ["--admin-principal=arn:aws:iam::210987654321:role/x", "tenant beta's own"],
        ),
    ],
)
def test_bad_accounts_are_refused_in_one_line_and_nothing_is_written(
    repo_copy: Path, extra: tuple[str, ...], needles: list[str]
) -> None:
    before = snapshot(repo_copy)
    result = gpucloud(
        repo_copy, *ONBOARD, "beta", "--region", "us-east-1", "--gpu-type", "p5.48xlarge", "--nodes", "1", *extra
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr
    assert snapshot(repo_copy) == before


def test_a_first_onboarding_without_an_account_is_refused(repo_copy: Path) -> None:
    before = snapshot(repo_copy)
    args = [*ONBOARD, "beta", "--region", "us-east-1", "--gpu-type", "p5.48xlarge", "--nodes", "1"]
    result = gpucloud(repo_copy, *args)
    assert result.returncode == 2 and "--new-account" in result.stderr and "--account-id ID" in result.stderr
    assert snapshot(repo_copy) == before


def test_a_tenant_on_a_capacity_block_records_its_end_and_validate_warns_before_it(repo_copy: Path) -> None:
    soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    block = "cr-0123456789abcdef0"
    entry = {"gpuType": "p5en.48xlarge", "az": "use1-az6", "count": 4, "capacityBlockId": block}
    edit_stack(
        repo_copy,
        "region-us-east-1",
        lambda c: c["gpucloud:capacity"].__setitem__(1, {**entry, "capacityBlockEnd": soon}),
    )
    result = gpucloud(repo_copy, *onboard_args("beta", sku="p5en.48xlarge", nodes=4))
    assert result.returncode == 0, result.stderr
    pool = yaml.safe_load((repo_copy / "stacks" / "Pulumi.tenant-beta-us-east-1.yaml").read_text())["config"]
    assert pool["gpucloud:nodePool"]["capacityType"] == "capacity-block"
    assert pool["gpucloud:nodePool"]["capacityEnds"] == soon
    second = gpucloud(repo_copy, *onboard_args("gamma", sku="p5en.48xlarge", nodes=1))
    assert second.returncode == 2 and "too few free" in second.stderr  # the block serves beta alone
    check = gpucloud(repo_copy, "validate")
    assert check.returncode == 0, check.stdout  # a warning, not a problem
    assert f"warning: capacity-block-ending region-us-east-1: Capacity Block {block}" in check.stderr
    assert "ends in 3 days" in check.stderr
    assert "tenant-beta-us-east-1" in check.stderr


def test_declining_offboard_at_the_prompt_changes_nothing_and_exits_1(repo_copy: Path) -> None:
    from pty_run import run_in_pty

    before = snapshot(repo_copy)
    result = run_in_pty(["--root", str(repo_copy), "tenant", "offboard", "acme", "--region", "us-east-1"], answer="n")
    assert result.returncode == 1, result.output
    assert "nothing changed" in result.output
    assert snapshot(repo_copy) == before


def test_root_after_the_command_says_where_it_goes(repo_copy: Path) -> None:
    result = subprocess.run([*GPUCLOUD, "tenant", "list", "--root", str(repo_copy)], capture_output=True, text=True)
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "gpucloud: error: --root goes before the command: gpucloud --root DIR tenant list ..."
    )


def test_another_projects_pulumi_yaml_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: webshop\nruntime: nodejs\n")
    for args in (["--root", str(tmp_path), "validate"], ["--root", str(tmp_path), "tenant", "list"]):
        result = subprocess.run([*GPUCLOUD, *args], capture_output=True, text=True)
        assert result.returncode == 2 and "is project 'webshop', not 'gpucloud'" in result.stderr
    inside = subprocess.run([*GPUCLOUD, "validate"], capture_output=True, text=True, cwd=tmp_path)
    assert inside.returncode == 2 and "not a gpucloud repository" in inside.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.yaml"]  # no .gpucloud/lock, nothing


def test_onboarding_refuses_while_the_registry_is_inconsistent(repo_copy: Path) -> None:
    assert gpucloud(repo_copy, *onboard_args("beta", nodes=4)).returncode == 0
    edit_stack(repo_copy, "tenant-acme-us-east-1", lambda c: c["gpucloud:nodePool"].update(nodes=13))  # 17 of 16
    before = snapshot(repo_copy)
    result = gpucloud(repo_copy, *onboard_args("gamma", nodes=1))
    assert result.returncode == 2
    assert "the registry is inconsistent" in result.stderr and "(gpucloud validate)" in result.stderr
    assert "tenants hold 17 nodes, the region has 16" in result.stderr and "free: " not in result.stderr
    assert snapshot(repo_copy) == before


def test_update_shows_the_diff_keeps_principals_and_writes_nothing_when_nothing_changes(repo_copy: Path) -> None:
    update = [*ONBOARD, "acme", "--region", "us-east-1", "--update"]
    before = snapshot(repo_copy)
    same = gpucloud(repo_copy, *update)
    assert same.returncode == 0 and "nothing to change" in same.stdout and snapshot(repo_copy) == before
    assert json.loads(gpucloud(repo_copy, *update, "--json").stdout)["files"] == []

    more = "arn:aws:iam::111122223333:role/More"
    dry = gpucloud(repo_copy, *update, "--admin-principal", more, "--dry-run")
    assert dry.returncode == 0 and snapshot(repo_copy) == before
    assert f'+    - "{more}"' in dry.stdout and "unchanged inventories/tenants/acme/us-east-1.aws_ec2.yml" in dry.stdout
    added = gpucloud(repo_copy, *update, "--admin-principal", more)
    assert added.returncode == 0 and "--- a/stacks/Pulumi.account-acme.yaml" in added.stdout
    principals = yaml.safe_load((repo_copy / "stacks" / "Pulumi.account-acme.yaml").read_text())["config"][
        "gpucloud:adminPrincipals"
    ]
    assert principals == ["arn:aws:iam::111122223333:role/AcmeAdmins", more]  # adding keeps the others

    removed = gpucloud(repo_copy, *update, "--remove-admin-principal", "arn:aws:iam::111122223333:role/AcmeAdmins")
    assert removed.returncode == 0 and '-    - "arn:aws:iam::111122223333:role/AcmeAdmins"' in removed.stdout
    unknown = gpucloud(repo_copy, *update, "--remove-admin-principal", "arn:aws:iam::111122223333:role/Nobody")
    assert unknown.returncode == 2 and "not an admin principal of acme" in unknown.stderr


def test_the_az_and_the_root_volume_are_onboarding_options(repo_copy: Path) -> None:
    result = gpucloud(repo_copy, *onboard_args("beta", "--az", "use1-az4", "--root-volume-gib", "1000", "--json"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["az"] == "use1-az4"
    pool = yaml.safe_load((repo_copy / "stacks" / "Pulumi.tenant-beta-us-east-1.yaml").read_text())["config"]
    assert pool["gpucloud:nodePool"]["rootVolumeGib"] == 1000
    before = snapshot(repo_copy)
    for extra, needle in (
        (("--az", "use1-az1"), "holds no p5.48xlarge there; it does in: use1-az4"),
        (("--az", "use1-az9"), "--az='use1-az9': not an AZ ID of us-east-1"),
        (("--az", "use1-az4", "--nodes", "20"), "--az=use1-az4: 13 p5.48xlarge free there, --nodes=20 asked"),
        (("--root-volume-gib", "50"), "--root-volume-gib=50: want 100 to 16384 GiB"),
    ):
        refused = gpucloud(repo_copy, *onboard_args("gamma", *extra))
        assert refused.returncode == 2 and needle in refused.stderr, (extra, refused.stderr)
    assert snapshot(repo_copy) == before


def test_output_that_is_not_a_terminal_is_never_cut(repo_copy: Path) -> None:
    name = "a-tenant-with-a-long-name-x"
    assert (
        gpucloud(
            repo_copy, *onboard_args(name, "--display-name", "A display name that is rather long indeed")
        ).returncode
        == 0
    )
    listed = gpucloud(repo_copy, "tenant", "list", env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    assert listed.returncode == 0
    assert "…" not in listed.stdout
    for value in (
        name,
        "10.16.16.0/20",
        "p5.48xlarge",
        "tenant-a-tenant-with-a-long-name-x-us-east-1",
        "A display name that is rather long indeed",
        "new: aws-accounts+a-tenant-with-a-long-name-x@example.com",
    ):
        assert value in listed.stdout, value  # fmt: skip
    plan = gpucloud(repo_copy, "plan", "region-us-east-1")
    assert "…" not in plan.stdout and "aws:ec2/capacityReservation:CapacityReservation region-us-east-1-" in plan.stdout


def test_onboarding_asks_for_a_slurm_cluster_by_default_and_bare_nodes_on_request(repo_copy: Path) -> None:
    result = gpucloud(repo_copy, *onboard_args("beta"), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["scheduler"], doc["head_node_type"]) == ("slurm", "m7i.2xlarge")
    stack = yaml.safe_load((repo_copy / "stacks" / "Pulumi.tenant-beta-us-east-1.yaml").read_text())
    assert stack["config"]["gpucloud:cluster"] == {"scheduler": "slurm", "headNodeType": "m7i.2xlarge"}
    handover = (repo_copy / "inventories" / "tenants" / "beta" / "us-east-1.handover.md").read_text()
    assert "| Scheduler | Slurm: a head node (m7i.2xlarge)" in handover and "## Your first job" in handover

    result = gpucloud(repo_copy, *onboard_args("gamma", "--scheduler", "none"))
    assert result.returncode == 0, result.stderr
    assert "no scheduler (bare nodes)" in result.stdout and "--playbook cluster" not in result.stdout
    stack = yaml.safe_load((repo_copy / "stacks" / "Pulumi.tenant-gamma-us-east-1.yaml").read_text())
    assert stack["config"]["gpucloud:cluster"] == {"scheduler": "none"}

    # --update keeps the scheduler unless asked; a bigger head node is a change of its type only
    result = gpucloud(repo_copy, *onboard_args("beta", "--update", "--head-node-type", "m7i.4xlarge"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["head_node_type"] == "m7i.4xlarge"
    listed = {(row["name"], row["scheduler"], row["head_node_type"]) for row in tenants(repo_copy)}
    assert {("beta", "slurm", "m7i.4xlarge"), ("gamma", "none", None), ("acme", "slurm", "m7i.2xlarge")} <= listed
    validated = gpucloud(repo_copy, "validate", "--json")
    assert json.loads(validated.stdout)["schedulers"] == {"slurm": 2, "none": 1}
    assert "tenant schedulers: 2 slurm, 1 none" in gpucloud(repo_copy, "validate").stdout


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (("--scheduler", "pbs"), ("--scheduler", "'pbs'", "slurm", "none")),
        (("--head-node-type", "p5.48xlarge"), ("--head-node-type='p5.48xlarge'", "allowed: m7i.2xlarge, m7i.4xlarge")),
        (("--scheduler", "none", "--head-node-type", "m7i.2xlarge"), ("only a cluster with --scheduler slurm",)),
    ],
)
def test_a_bad_scheduler_or_head_node_type_is_refused_and_nothing_is_written(
    repo_copy: Path, extra: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    before = snapshot(repo_copy)
    assert_refused(gpucloud(repo_copy, *onboard_args("beta", *extra)), *needles)
    assert snapshot(repo_copy) == before


def test_validate_sees_an_edit_that_keeps_the_files_size_and_time(repo_copy: Path) -> None:
    """`cp -p`, rsync, tar or a `git checkout` within the same second can change a stack file and keep its size and
    modification time: the registry cache must still answer from what the file says now."""
    assert gpucloud(repo_copy, *onboard_args("beta")).returncode == 0
    assert gpucloud(repo_copy, "validate").returncode == 0  # fills the cache
    path = repo_copy / "stacks" / "Pulumi.tenant-beta-us-east-1.yaml"
    text, stat = path.read_text(), path.stat()
    assert "10.16.16.0/20" in text
    path.write_text(text.replace("10.16.16.0/20", "10.16.0.0/20 "))  # acme's block, in as many characters
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    result = gpucloud(repo_copy, "validate", "--json")
    assert result.returncode == 1
    assert ("cidr-disjoint", "tenant-beta-us-east-1") in {
        (p["check"], p["stack"]) for p in json.loads(result.stdout)["problems"]
    }


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="with the Pulumi CLI, --destroyed checks the stacks")
def test_offboarding_says_what_goes_before_it_is_confirmed_and_what_it_could_not_check(repo_copy: Path) -> None:
    """Issue 22.10: the first step says the account goes with the last region, and what that means; --destroyed
    without the Pulumi CLI says plainly that nothing could be checked."""
    asked = gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1")
    assert asked.returncode == 2
    assert "last region, so its account stack goes too" in asked.stderr and "AWS account is closed" in asked.stderr
    assert gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--yes").returncode == 0
    unconfirmed = gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--destroyed")
    assert (
        unconfirmed.returncode == 2 and "nothing could be checked: the Pulumi CLI is not on PATH" in unconfirmed.stderr
    )
    confirmed = gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--destroyed", "--yes")
    assert confirmed.returncode == 0
    assert "warning: nothing could be checked" in confirmed.stderr and "organization/account-acme" in confirmed.stderr


def test_tenant_list_on_a_terminal_shows_the_columns_that_matter_uncut(repo_root: Path) -> None:
    """Issue 22.5: at 120 columns every column was cut (us-e…). A terminal gets name, region, GPUs, term, price and
    status, whole; --wide all of them; piped output is whole (test above)."""
    from pty_run import run_in_pty

    narrow = run_in_pty(["--root", str(repo_root), "tenant", "list"], columns=120)
    assert narrow.returncode == 0 and "…" not in narrow.output
    for value in ("acme", "us-east-1", "p5.48xlarge", "12-month", "active", "--wide"):
        assert value in narrow.output, value
    assert "10.16.0.0/20" not in narrow.output  # the CIDR is one of the --wide columns
    wide = run_in_pty(["--root", str(repo_root), "tenant", "list", "--wide"], columns=250)
    assert "10.16.0.0/20" in wide.output and "tenant-acme-us-east-1" in wide.output


def test_offboarding_speaks_json(repo_copy: Path) -> None:
    """Issue 22.11: --json on every command; offboarding had none."""
    first = gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--yes", "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert (doc["tenant"], doc["destroyed"], doc["account"]["stack"]) == ("acme", False, "account-acme")
    assert any(step.startswith("pulumi destroy -s organization/tenant-acme-us-east-1") for step in doc["steps"])
    second = gpucloud(
        repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--destroyed", "--yes", "--json"
    )
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    assert (
        done["destroyed"] is True
        and done["retired_until"]
        and "stacks/Pulumi.tenant-acme-us-east-1.yaml" in done["files"]
    )


def test_a_refusal_for_capacity_names_the_nodes_an_offboarded_tenant_still_holds(repo_copy: Path) -> None:
    """Issue 22.12: after offboarding, `free:` said 14 of 16 with no word of the 2 the retired tenant holds."""
    for step in ((), ("--destroyed",)):
        assert (
            gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--yes", *step).returncode == 0
        )
    refused = gpucloud(repo_copy, *onboard_args("zed", nodes=16))
    assert_refused(refused, "free: use1-az4: 14", "retired, not yet free: 2 in use1-az4 held by tenant-acme-us-east-1")
