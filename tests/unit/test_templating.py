"""The tenant templates: what users type reaches YAML and Markdown escaped, never evaluated; golden files."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gpucloud.errors import ConfigError
from gpucloud.registry import Registry, load_registry
from gpucloud.repo import Repository
from gpucloud.templating import md_text, render, yaml_str
from gpucloud.tenants.onboard import OnboardRequest, prepare

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "tenant"
HOSTILE = "Acme {{ 7*7 }} {% raw %}: \"quoted\" 'single' # not a comment\n- not a list\n[link](http://x) <b>&amp;"


@given(st.text())
def test_yaml_str_loads_back_as_the_same_text(text: str) -> None:
    assert yaml.safe_load(f"key: {yaml_str(text)}\n") == {"key": text}


def test_md_text_escapes_markup_and_keeps_lines() -> None:
    assert md_text("a *b* [c](d)") == r"a \*b\* \[c\]\(d\)"
    assert md_text("one\ntwo") == "one\\\ntwo"
    assert md_text("{{ 7*7 }}") == r"\{\{ 7\*7 \}\}"


def test_a_missing_variable_is_an_error_not_an_empty_string(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.j2").write_text("cidr: {{ cidr }}\n")
    with pytest.raises(ConfigError, match="'cidr' is undefined"):
        render(tmp_path, "t.j2", {})


def _onboard(registry: Registry, display_name: str) -> dict[str, str]:
    request = OnboardRequest(
        name="beta",
        region="us-east-1",
        gpu_type="p5en.48xlarge",
        nodes=2,
        fsx_tib=4.8,
        egress="nat",
        display_name=display_name,
        admin_principals=("arn:aws:iam::210987654321:role/BetaAdmins",),
        new_account=True,
        term="12-month",
        today=datetime.date(2026, 11, 27),  # the term starts the day of the onboarding: fixed, for the golden file
    )
    result = prepare(Repository(ROOT), registry, request)
    return {f.path.name: f.text for f in result.files}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(Repository(ROOT), use_cache=False)


def test_a_hostile_display_name_is_stored_and_shown_as_literal_text(registry: Registry) -> None:
    files = _onboard(registry, HOSTILE)
    stack = yaml.safe_load(files["Pulumi.account-beta.yaml"])
    assert stack["config"]["gpucloud:displayName"] == HOSTILE
    assert "49" not in files["us-east-1.handover.md"]  # {{ 7*7 }} was never evaluated
    assert "For: Acme \\{\\{ 7\\*7 \\}\\}" in files["us-east-1.handover.md"]
    assert "\\[link\\]\\(http\\:\\/\\/x\\) \\<b\\>\\&amp\\;" in files["us-east-1.handover.md"]


@pytest.mark.parametrize(
    "name",
    ["Pulumi.account-beta.yaml", "Pulumi.tenant-beta-us-east-1.yaml", "us-east-1.aws_ec2.yml", "us-east-1.handover.md"],
)
def test_rendered_files_match_the_golden_files(registry: Registry, name: str) -> None:
    """Regenerate on purpose only: GPUCLOUD_REGEN_GOLDEN=1 pytest tests/unit/test_templating.py"""
    text = _onboard(registry, "Beta Labs")[name]
    golden = GOLDEN / name
    if os.environ.get("GPUCLOUD_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_the_inventory_selects_only_the_tenants_instances(registry: Registry) -> None:
    inventory = yaml.safe_load(_onboard(registry, "Beta")["us-east-1.aws_ec2.yml"])
    assert inventory["plugin"] == "amazon.aws.aws_ec2"
    assert inventory["filters"]["tag:gpucloud:tenant"] == "beta"
    assert inventory["filters"]["tag:gpucloud:region"] == "us-east-1"
    assert inventory["regions"] == ["us-east-1"]
    # The nodes live in the tenant's account: the inventory and the SSM connection assume our operator role there.
    assert inventory["profile"] == "gpucloud-tenant-beta"
    assert inventory["compose"]["ansible_aws_ssm_profile"] == "'gpucloud-tenant-beta'"


def test_the_handover_note_gives_values_never_commands_that_need_our_state(registry: Registry) -> None:
    note = _onboard(registry, "Beta")["us-east-1.handover.md"]
    # the tenant has neither our Pulumi state nor this repository: no `pulumi stack output`, no onboard command
    assert "pulumi stack output" not in note and "tenant onboard" not in note.replace("`gpucloud tenant onboard`", "")
    assert "arn:aws:iam::ACCOUNT_ID:role/gpucloud/gpucloud-tenant-admin" in note
    request = OnboardRequest(
        name="gamma",
        region="us-east-1",
        gpu_type="p5.48xlarge",
        nodes=1,
        admin_principals=("arn:aws:iam::210987654321:role/GammaAdmins",),
        account_id="310987654321",
    )
    adopted = {f.path.name: f.text for f in prepare(Repository(ROOT), registry, request).files}
    assert "`arn:aws:iam::310987654321:role/gpucloud/gpucloud-tenant-admin`" in adopted["us-east-1.handover.md"]
