"""`gpucloud plan` as a user runs it: a real process, every sample stack, human and JSON output, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_STACKS, edit_stack

from gpucloud.cli import main
from gpucloud.plan.mocks import made_up_account_id

pytestmark = pytest.mark.integration
GPUCLOUD = [sys.executable, "-m", "gpucloud"]


def gpucloud(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUCLOUD, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("stack", SAMPLE_STACKS)
def test_plan_json_of_every_sample_stack(repo_root: Path, stack: str) -> None:
    result = gpucloud("--root", str(repo_root), "plan", stack, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stack"] == stack
    assert doc["violations"] == []
    assert doc["summary"]["resource_count"] == len(doc["resources"]) > 5
    if stack.startswith(("region-", "tenant-")):
        assert doc["summary"]["gpus"] > 0 and doc["summary"]["hourly_usd"] > 0
    lines = doc["summary"]["cost"]  # the totals are the sums of the lines as shown (issue 22.8)
    if doc["summary"]["monthly_usd"] is not None:
        assert doc["summary"]["monthly_usd"] == round(sum(line["usd_month"] for line in lines), 2)
        assert doc["summary"]["hourly_usd"] == round(sum(line["usd_hour"] for line in lines), 4)
    urns = {r["urn"] for r in doc["resources"]}
    providers = {r["urn"] for r in doc["resources"] if r["type"].startswith("pulumi:providers:")}
    for res in doc["resources"]:
        assert set(res) == {"type", "name", "urn", "parent", "inputs", "provider", "account", "dependencies"}
        assert res["parent"] is None or res["parent"] in urns
        assert res["provider"] is None or res["provider"] in providers  # explicit providers only; null: default
        waits = {u for u in res["dependencies"] if "$pulumi:pulumi:StackReference::" not in u}  # read from a stack
        assert waits <= urns and res["dependencies"] == sorted(res["dependencies"])
        assert res["type"] != "pulumi:pulumi:Stack"
    if stack.startswith(("account-", "tenant-")):  # built in the tenant's own account, through its providers
        # the account: its access role and our deployer; a tenant: its account, our capacity and log-archive accounts
        assert len(providers) == (2 if stack.startswith("account-") else 3)
        landing = {r["account"] for r in doc["resources"]} - {None, "ours"}
        assert len(landing) == len(providers) - 1 if stack.startswith("account-") else len(providers)


def sample_account(duty: str) -> str:
    """The id the offline plan makes up for our own account of ``duty`` (the org stack creates it)."""
    from gpucloud.plan.offline import Planner
    from gpucloud.repo import Repository

    return str(Planner(Repository(ROOT)).plan("org").exports[f"{duty}AccountId"])


def test_plan_human_output_shows_tree_summary_and_cost(repo_root: Path, cli_env: dict[str, str]) -> None:
    result = gpucloud("--root", str(repo_root), "plan", "tenant-acme-us-east-1", env=cli_env)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "tenant-acme-us-east-1-nodes-0" in text and "aws:ec2/launchTemplate:LaunchTemplate" in text
    assert "tenant-acme-us-east-1-capacity-carve (in our capacity account, as its role)" in text  # where it lands
    capacity = sample_account("capacity")
    assert f"tenant-acme-us-east-1-capacity-share (in account {capacity}* capacity)" in text  # named by duty
    assert "tenant-acme-us-east-1-nodes-0 (in account " in text
    made_up = made_up_account_id("account-acme")  # acme's account is a new one: its id is known at `pulumi up`
    footnote = next(line for line in text.splitlines() if line.startswith("* "))
    assert f"(in account {made_up}* tenant acme)" in text and made_up in footnote and "made up offline" in footnote
    assert "AWS gives a new account its id at `pulumi up`" in text
    assert "GPUs: 16" in text
    # two KMS keys: the tenant's, and its audit record's (in our log-archive account)
    assert "indicative: $112.3572/hour, $82,020.75/month" in text and "catalog 2026-11-26" in text
    assert "policy: no violations" in text


def test_plan_finds_the_repository_from_a_subdirectory(repo_root: Path) -> None:
    result = subprocess.run(
        [*GPUCLOUD, "plan", "region-eu-north-1", "--json"],
        capture_output=True,
        text=True,
        cwd=repo_root / "stacks",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "no-such-stack"], "no stack 'no-such-stack'"),
        (["plan"], "Missing argument 'STACK'"),
        (["plan", "region-us-east-1", "--bogus"], "No such option '--bogus'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(repo_root: Path, args: list[str], message: str) -> None:
    result = gpucloud("--root", str(repo_root), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 3
    assert result.stdout == ""


def test_unknown_stack_lists_the_stacks_that_exist(repo_root: Path) -> None:
    result = gpucloud("--root", str(repo_root), "plan", "tenant-nobody-us-east-1")
    assert result.returncode == 2
    listed = result.stderr.strip().split("; stacks: ")[1].split(", ")
    assert sorted(listed) == ["account-acme", "org", "region-eu-north-1", "region-us-east-1", "tenant-acme-us-east-1"]


def test_a_config_error_exits_2_naming_key_and_value(repo_copy: Path) -> None:
    edit_stack(repo_copy, "tenant-acme-us-east-1", lambda cfg: cfg["gpucloud:nodePool"].__setitem__("nodes", 0))
    result = gpucloud("--root", str(repo_copy), "plan", "tenant-acme-us-east-1", "--json")
    assert result.returncode == 2
    assert "gpucloud:nodePool.nodes=0" in result.stderr and "Traceback" not in result.stderr


def test_a_tenant_without_its_region_stack_is_refused(repo_copy: Path) -> None:
    (repo_copy / "stacks" / "Pulumi.region-us-east-1.yaml").unlink()
    result = gpucloud("--root", str(repo_copy), "plan", "tenant-acme-us-east-1")
    assert result.returncode == 2
    assert "it reads stack region-us-east-1, which does not exist" in result.stderr


def test_a_tenant_without_its_account_stack_is_refused(repo_copy: Path) -> None:
    (repo_copy / "stacks" / "Pulumi.account-acme.yaml").unlink()
    result = gpucloud("--root", str(repo_copy), "plan", "tenant-acme-us-east-1")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "it reads stack account-acme, which does not exist" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("gpucloud:organizationId", "o-SHOUTING", "gpucloud:organizationId='o-SHOUTING': want an organization id"),
        ("gpucloud:rootId", "r-", "gpucloud:rootId='r-': want an organization root id"),
        ("gpucloud:operationsRoleArn", "arn:aws:iam::1:role/x", "want an IAM role ARN"),
    ],
)
def test_bad_organization_ids_are_one_line_refusals(repo_copy: Path, key: str, value: str, needle: str) -> None:
    edit_stack(repo_copy, "org", lambda cfg: cfg.__setitem__(key, value))
    for args in (("plan", "org"), ("plan", "region-us-east-1")):  # a region reads the org stack
        result = gpucloud("--root", str(repo_copy), *args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert needle in result.stderr and "Traceback" not in result.stderr
    check = gpucloud("--root", str(repo_copy), "validate", "--json")
    assert check.returncode == 1 and needle in check.stdout


def test_root_that_is_not_a_repository(tmp_path: Path) -> None:
    result = gpucloud("--root", str(tmp_path), "plan", "region-us-east-1")
    assert result.returncode == 2 and "no Pulumi.yaml there" in result.stderr


def test_main_in_process_returns_the_status(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo_root), "plan", "region-eu-north-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "region-eu-north-1"
    assert main(["--root", str(repo_root), "plan", "nope"]) == 2


@pytest.mark.parametrize("stack", ["region-us-east-1", "tenant-acme-us-east-1"])
@pytest.mark.parametrize("fmt", ["json", "terraform-plan"])
def test_plan_json_is_byte_identical_across_processes(repo_root: Path, stack: str, fmt: str) -> None:
    """A second offline plan of an unchanged stack is the same plan, byte for byte."""
    first = gpucloud("--root", str(repo_root), "plan", stack, "--format", fmt)
    second = gpucloud("--root", str(repo_root), "plan", stack, "--format", fmt)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout


def test_help_teaches(repo_root: Path) -> None:
    result = gpucloud("plan", "--help")
    assert result.returncode == 0 and "mock runtime" in result.stdout


def test_graph_prints_dot_with_each_dependency(repo_root: Path) -> None:
    result = gpucloud("--root", str(repo_root), "plan", "tenant-acme-us-east-1", "--graph")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith('digraph "tenant-acme-us-east-1" {') and text.rstrip().endswith("}")
    assert 'label="our account"' in text and 'label="account ' in text  # the two accounts, as clusters
    edges = [line for line in text.splitlines() if " -> " in line]
    from_fs = [e.split(" -> ")[1] for e in edges if 'lustre-fs"' in e.split(" -> ")[0]]
    assert sum("SecurityGroupIngressRule" in e or "SecurityGroupEgressRule" in e for e in from_fs) == 12


def test_terraform_plan_format_speaks_terraform(repo_root: Path) -> None:
    result = gpucloud("--root", str(repo_root), "plan", "tenant-acme-us-east-1", "--format", "terraform-plan")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    resources = doc["planned_values"]["root_module"]["resources"]
    by_type = {r["type"]: r for r in resources}
    assert "aws_launch_template" in by_type and "aws_vpc_security_group_ingress_rule" in by_type
    assert not any(r["type"].startswith(("pulumi", "gpucloud")) for r in resources)
    template = by_type["aws_launch_template"]["values"]
    assert template["metadata_options"] == [
        {"http_endpoint": "enabled", "http_put_response_hop_limit": 2, "http_tokens": "required",
         "instance_metadata_tags": "enabled"}
    ]  # fmt: skip
    assert template["tags"]["gpucloud:tenant"] == "acme"  # map keys are data, never renamed
    sse = by_type["aws_s3_bucket_server_side_encryption_configuration"]
    assert "rule" in sse["values"] and "rules" not in sse["values"]  # Pulumi's plural list is Terraform's block
    assert sse["values"]["bucket"] is None  # unknown until apply, as in a fresh Terraform plan...
    config = {c["address"]: c for c in doc["configuration"]["root_module"]["resources"]}
    bucket_ref = config[sse["address"]]["expressions"]["bucket"]["references"]
    assert bucket_ref[1].startswith("aws_s3_bucket.")  # ...and the configuration says where it comes from
    assert {c["change"]["actions"][0] for c in doc["resource_changes"]} == {"create"}


def test_plan_output_options_that_exclude_each_other(repo_root: Path) -> None:
    for args in (("--json", "--format", "terraform-plan"), ("--graph", "--json")):
        result = gpucloud("--root", str(repo_root), "plan", "org", *args)
        assert result.returncode == 2, result.stderr
        assert "exclude each other" in result.stderr or "drop --json" in result.stderr


def test_an_unknown_stack_among_many_names_a_few_closest_and_the_count(repo_copy: Path) -> None:
    for i in range(150):
        (repo_copy / "stacks" / f"Pulumi.tenant-t{i:03d}-us-east-1.yaml").write_text("config: {}\n")
    result = gpucloud("--root", str(repo_copy), "plan", "tenant-t042-us-east")
    assert result.returncode == 2
    assert "(did you mean tenant-t042-us-east-1?)" in result.stderr
    assert "more; 155 in all)" in result.stderr and len(result.stderr) < 400


def test_the_sdks_event_loops_are_closed_before_exit(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The mock runtime leaves a loop per worker thread: closed by main(), not by GC at interpreter shutdown
    (where BaseEventLoop.__del__ can find its self-pipe finalised: 'Invalid file descriptor: -1')."""
    from gpucloud.plan import mocks

    created: list[object] = []
    original = mocks._note_thread_loop

    def note() -> None:
        original()
        created.extend(mocks.THREAD_LOOPS)

    mocks._note_thread_loop = note  # type: ignore[assignment]
    try:
        assert main(["--root", str(repo_root), "plan", "region-eu-north-1", "--json"]) == 0
    finally:
        mocks._note_thread_loop = original  # type: ignore[assignment]
    capsys.readouterr()
    assert created, "the mock runtime made no loop in a worker thread: this test no longer tests anything"
    assert all(loop.is_closed() for loop in created)  # type: ignore[attr-defined]
    assert not mocks.THREAD_LOOPS


def test_a_plan_on_a_terminal_exits_clean_every_time(repo_root: Path) -> None:
    from pty_run import run_in_pty

    for _ in range(8):
        result = run_in_pty(["--root", str(repo_root), "plan", "region-eu-north-1"], columns=160)
        assert result.returncode == 0, result.output[-400:]
        assert "Exception ignored" not in result.output and "Invalid file descriptor" not in result.output
        assert "policy: no violations" in result.output


def test_a_plan_says_what_it_adds_in_colour_on_a_terminal_and_plainly_elsewhere(repo_root: Path) -> None:
    """`Plan: N to add` as Terraform says it, a green + per create on a terminal; no colour piped or with NO_COLOR."""
    from pty_run import run_in_pty

    on_terminal = run_in_pty(["--root", str(repo_root), "plan", "tenant-acme-us-east-1"], columns=160)
    assert on_terminal.returncode == 0
    assert "\x1b[32m+\x1b[0m" in on_terminal.output  # green +
    piped = gpucloud("--root", str(repo_root), "plan", "tenant-acme-us-east-1", "--json")
    count = json.loads(piped.stdout)["summary"]["resource_count"]
    plain = gpucloud("--root", str(repo_root), "plan", "tenant-acme-us-east-1")
    assert f"Plan: {count} to add, 0 to change, 0 to destroy" in plain.stdout and "\x1b[" not in plain.stdout


@pytest.mark.parametrize("command", [("plan", "tenant-acme-us-east-1"), ("capacity",)])
def test_a_reader_that_goes_away_ends_the_command_as_sigpipe_ends_a_unix_tool(
    repo_root: Path, command: tuple[str, ...]
) -> None:
    """`gpucloud plan X | head -1`: killed by SIGPIPE, as `git log | head` is, with nothing on stderr (it was exit 1
    and, before that, "Exception ignored ... BrokenPipeError")."""
    proc = subprocess.Popen(
        [*GPUCLOUD, "--root", str(repo_root), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == -signal.SIGPIPE, stderr
    assert first and stderr == b""
