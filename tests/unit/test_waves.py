"""Wave planning: canary first, regions before the tenants that read them, SPEC parsing and refusals."""

from __future__ import annotations

import pytest

from gpucloud.errors import ConfigError
from gpucloud.rollout.waves import Wave, parse_spec, plan_waves, select

STACKS = [
    "region-eu-north-1",
    "region-us-east-1",
    "tenant-acme-us-east-1",
    "tenant-beta-eu-north-1",
    "tenant-gamma-us-east-1",
]


def test_default_waves_are_canary_regions_tenants() -> None:
    assert plan_waves(STACKS, None) == [
        Wave("canary", ("region-eu-north-1",)),  # one tenant there, two in us-east-1
        Wave("regions", ("region-us-east-1",)),
        Wave("tenants", ("tenant-acme-us-east-1", "tenant-beta-eu-north-1", "tenant-gamma-us-east-1")),
    ]


def test_a_tenant_canary_follows_its_region() -> None:
    waves = plan_waves(STACKS, "regions:region-*;canary:tenant-acme-*;rest:*")
    assert [w.name for w in waves] == ["regions", "canary", "rest"]
    assert waves[1].stacks == ("tenant-acme-us-east-1",)


def test_stacks_no_wave_names_run_last() -> None:
    waves = plan_waves(STACKS, "region-*")
    assert waves[-1] == Wave("rest", ("tenant-acme-us-east-1", "tenant-beta-eu-north-1", "tenant-gamma-us-east-1"))


ALL = ["account-acme", "account-beta", "org", *STACKS]


def test_default_waves_put_the_org_first_and_accounts_before_their_tenants() -> None:
    assert [(w.name, w.stacks) for w in plan_waves(ALL, None)] == [
        ("org", ("org",)),
        ("canary", ("region-eu-north-1",)),
        ("regions", ("region-us-east-1",)),
        ("accounts", ("account-acme", "account-beta")),
        ("tenants", ("tenant-acme-us-east-1", "tenant-beta-eu-north-1", "tenant-gamma-us-east-1")),
    ]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("region-*;tenant-*;account-*;org", "account-acme would run in wave 'wave-3', not after org"),
        ("org;region-*;tenant-*;account-*", "tenant-acme-us-east-1 would run in wave 'wave-3', not after account-acme"),
        ("regions:region-*;org:org;rest:*", "region-eu-north-1 would run in wave 'regions', not after org"),
        ("org;all:*", "tenant-acme-us-east-1 would run in wave 'all', not after region-us-east-1"),
    ],
)
def test_a_stack_never_runs_before_a_stack_it_reads(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        plan_waves(ALL, spec)


def test_the_canary_is_the_region_whose_failure_hurts_the_fewest_tenants() -> None:
    stacks = [
        "region-eu-north-1",
        "region-us-east-1",
        "tenant-a-eu-north-1",
        "tenant-b-eu-north-1",
        "tenant-c-us-east-1",
    ]
    assert plan_waves(stacks, None)[0] == Wave("canary", ("region-us-east-1",))  # not the first by name
    tied = ["region-us-east-1", "region-eu-north-1"]
    assert plan_waves(tied, None)[0] == Wave("canary", ("region-eu-north-1",))  # ties: the first by name


def test_only_tenants_selected_the_canary_is_a_tenant() -> None:
    tenants = [s for s in STACKS if s.startswith("tenant-")]
    waves = plan_waves(tenants, None)
    assert waves[0] == Wave("canary", ("tenant-acme-us-east-1",))


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("canary:tenant-acme-*;region-*", "not after region-us-east-1"),
        ("*", "whose outputs it reads"),  # everything in one wave: tenants beside their regions
        ("region-*;;tenant-*", "wave 2 is empty"),
        ("a:region-*;a:tenant-*", "names must differ"),
        ("canary:", "names no stack glob"),
    ],
)
def test_bad_specs_are_refused(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        plan_waves(STACKS, spec)


def test_spec_names_default_to_their_position() -> None:
    assert parse_spec("region-*;tenant-*") == [("wave-1", ("region-*",)), ("wave-2", ("tenant-*",))]


def test_select_by_glob() -> None:
    assert select(STACKS, ("tenant-*-us-east-1",)) == ["tenant-acme-us-east-1", "tenant-gamma-us-east-1"]
    with pytest.raises(ConfigError, match="matches no stack"):
        select(STACKS, ("nope-*",))
