"""One test per class of bad config value: the error names the stack, the key and the value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import edit_stack

from gpucloud.config import AccountConfig, OrgConfig, RegionConfig, TenantConfig
from gpucloud.errors import ConfigError, StackNotFoundError
from gpucloud.repo import Repository

REGION = "region-us-east-1"
TENANT = "tenant-acme-us-east-1"
ACCOUNT = "account-acme"
ORG = "org"
Change = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Change:
    return lambda cfg: cfg.__setitem__(key, value)


def _set_in(key: str, field: str, value: Any) -> Change:
    return lambda cfg: cfg[key].__setitem__(field, value)


def _drop(key: str) -> Change:
    return lambda cfg: cfg.pop(key)


def test_sample_stacks_load_into_typed_configs(repo_root: Path) -> None:
    repo = Repository(repo_root)
    region = repo.load(REGION)
    tenant = repo.load(TENANT)
    assert isinstance(region, RegionConfig) and isinstance(tenant, TenantConfig)
    assert sum(c.count for c in region.capacity if c.gpu_type == "p5.48xlarge") >= 16
    assert (tenant.tenant, tenant.node_pool.nodes, tenant.node_pool.capacity_type) == ("acme", 2, "reservation")
    assert tenant.region_stack_ref == "organization/gpucloud/region-us-east-1"
    assert tenant.account_stack_ref == "organization/gpucloud/account-acme"
    account = repo.load(ACCOUNT)
    assert isinstance(account, AccountConfig)
    assert (account.display_name, account.account_id) == ("Acme AI", None)
    assert account.email == "aws-accounts+acme@example.com"  # ours: the org's accountMailbox, plus-addressed
    org = repo.load("org")
    assert isinstance(org, OrgConfig) and set(org.served_regions) == {
        "us-east-1",
        "eu-north-1",
        "eu-west-1",
        "us-west-2",
    }


@pytest.mark.parametrize(
    ("stack", "change", "expected"),
    [
        (TENANT, _drop("gpucloud:cidr"), "missing required key gpucloud:cidr"),
        (TENANT, _set("gpucloud:kind", "silo"), "gpucloud:kind='silo': allowed: org, account, region, tenant"),
        (TENANT, _set("gpucloud:region", "mars-1"), "gpucloud:region='mars-1': allowed:"),
        (TENANT, _set("gpucloud:colour", "blue"), "unknown key gpucloud:colour"),
        (TENANT, _set("gpucloud:cidr", "8.8.8.0/24"), "gpucloud:cidr='8.8.8.0/24': want a private range"),
        (TENANT, _set("gpucloud:cidr", "10.16.0.1/20"), "gpucloud:cidr='10.16.0.1/20': want an IPv4 network"),
        (
            TENANT,
            _set("gpucloud:cidr", "10.16.0.0/12"),
            "gpucloud:cidr='10.16.0.0/12': want a prefix between /16 and /24",
        ),
        (TENANT, _set_in("gpucloud:nodePool", "nodes", 0), "gpucloud:nodePool.nodes=0: want a whole number >= 1"),
        (TENANT, _set_in("gpucloud:nodePool", "nodes", "two"), "gpucloud:nodePool.nodes='two'"),
        (
            TENANT,
            _set_in("gpucloud:nodePool", "gpuType", "p5e.48xlarge"),
            "gpucloud:nodePool.gpuType='p5e.48xlarge': not offered in us-east-1; offered there:",
        ),
        (
            TENANT,
            _set_in("gpucloud:nodePool", "gpuType", "p9.48xlarge"),
            "gpucloud:nodePool.gpuType='p9.48xlarge': allowed:",
        ),
        (
            TENANT,
            _set_in("gpucloud:nodePool", "az", "eun1-az1"),
            "gpucloud:nodePool.az='eun1-az1': want an AZ ID of us-east-1",
        ),
        (TENANT, _set_in("gpucloud:nodePool", "rootVolumeGib", 10), "gpucloud:nodePool.rootVolumeGib=10"),
        (TENANT, _set_in("gpucloud:storage", "fsxTib", 3), "gpucloud:storage.fsxTib=3: FSx for Lustre takes 1.2 TiB"),
        (TENANT, _set_in("gpucloud:storage", "bucketTib", -5), "gpucloud:storage.bucketTib=-5: want a positive number"),
        (TENANT, _set("gpucloud:egress", "open"), "gpucloud:egress='open': allowed: nat, none"),
        (TENANT, _set("gpucloud:egress", True), "allowed: nat, none (YAML reads unquoted yes/no/on/off as true/false"),
        (
            REGION,
            lambda cfg: cfg["gpucloud:capacity"][0].update(capacityBlockId="cr-0123456789abcdef0"),
            "gpucloud:capacity[0].capacityBlockEnd=None: a Capacity Block needs its end",
        ),
        (
            REGION,
            lambda cfg: cfg["gpucloud:capacity"][0].update(
                capacityBlockId="cr-0123456789abcdef0", capacityBlockEnd="next tuesday"
            ),
            "gpucloud:capacity[0].capacityBlockEnd='next tuesday': want a UTC time in ISO 8601",
        ),
        (
            TENANT,
            lambda cfg: cfg["gpucloud:nodePool"].update(capacityType="capacity-block"),
            "gpucloud:nodePool.capacityEnds=None: a capacity-block pool records its block's end",
        ),
        (
            REGION,
            lambda cfg: cfg["gpucloud:capacity"][0].update(startDate="2027-01-01T00:00:00Z"),
            "future-dated Capacity Reservations for the C, I, M, R, T families only",
        ),
        (ACCOUNT, _set("gpucloud:adminPrincipals", ["*"]), "gpucloud:adminPrincipals[0]='*'"),
        (ACCOUNT, _set("gpucloud:email", "not-an-email"), "gpucloud:email='not-an-email': want an e-mail address"),
        (ACCOUNT, _set("gpucloud:accountId", "1234"), "want exactly one of gpucloud:email (a new account)"),
        (ACCOUNT, _set("gpucloud:tenant", "other"), "the account stack of tenant other must be named account-other"),
        (ORG, _set("gpucloud:organizationId", "org-1"), "gpucloud:organizationId='org-1': want an organization id"),
        (ORG, _set("gpucloud:rootId", "root"), "gpucloud:rootId='root': want an organization root id"),
        (ORG, _set("gpucloud:servedRegions", ["mars-1"]), "gpucloud:servedRegions[0]='mars-1': allowed:"),
        (ORG, _set("gpucloud:servedRegions", ["eu-north-1"]), "gpucloud:region='us-east-1': the organization's home"),
        (ORG, _set("gpucloud:operationsRoleArn", "ops"), "gpucloud:operationsRoleArn='ops': want an IAM role ARN"),
        (ORG, _drop("gpucloud:dataOperationsRoleArn"), "missing required key gpucloud:dataOperationsRoleArn"),
        (
            ORG,
            _set("gpucloud:dataOperationsRoleArn", "arn:aws:iam::111111111111:role/gpucloud-operations"),
            "want a role of its own, not operationsRoleArn: one duty each",
        ),
        (ORG, _set("gpucloud:auditRetentionDays", 0), "gpucloud:auditRetentionDays=0: want a whole number between 1"),
        (
            TENANT,
            _set(
                "gpucloud:nodePool",
                {"gpuType": "p5.48xlarge", "nodes": 2, "az": "use1-az4", "rootVolumeGib": 500, "capacityType": "spot"},
            ),
            "gpucloud:nodePool.capacityType='spot': allowed: reservation, capacity-block",
        ),
        (TENANT, _set("gpucloud:tenant", "Acme"), "'Acme' is not a valid tenant name"),
        (TENANT, _set("gpucloud:tenant", "admin"), "'admin' is reserved"),
        (TENANT, _set("gpucloud:tenant", "other"), "tenant other in us-east-1 must be named tenant-other-us-east-1"),
        (TENANT, _set("aws:region", "us-west-2"), "aws:region='us-west-2' must equal gpucloud:region='us-east-1'"),
        (
            REGION,
            _set("gpucloud:tenantSupernet", "100.64.0.0/10"),
            "gpucloud:tenantSupernet='100.64.0.0/10': want a private range",
        ),
        (REGION, _set("gpucloud:tenantCidrPrefix", 8), "gpucloud:tenantCidrPrefix=8: want a whole number between"),
        (REGION, _set("gpucloud:capacity", []), "gpucloud:capacity=[]: want a non-empty list"),
        (REGION, lambda cfg: cfg["gpucloud:capacity"][0].__setitem__("count", 0), "gpucloud:capacity[0].count=0"),
        (
            REGION,
            lambda cfg: cfg["gpucloud:capacity"][0].__setitem__("gpuType", "p5e.48xlarge"),
            "gpucloud:capacity[0].gpuType='p5e.48xlarge': not offered in us-east-1",
        ),
        (
            REGION,
            lambda cfg: cfg["gpucloud:capacity"][0].__setitem__("az", "use1-az9"),
            "gpucloud:capacity[0].az='use1-az9'",
        ),
        (
            REGION,
            lambda cfg: cfg["gpucloud:capacity"][0].update(capacityBlockId="block-1", capacityBlockEnd="2026-12-31"),
            "gpucloud:capacity[0].capacityBlockId='block-1'",
        ),
        (REGION, lambda cfg: cfg["gpucloud:capacity"].append(dict(cfg["gpucloud:capacity"][0])), "is listed twice"),
        (
            REGION,
            _set_in("gpucloud:amis", "p5.48xlarge", {"id": "ubuntu", "rootDevice": "/dev/sda1"}),
            "gpucloud:amis.p5.48xlarge.id='ubuntu': want an AMI id",
        ),
        (
            REGION,
            _set_in("gpucloud:amis", "p5.48xlarge", "ami-0a1b2c3d4e5f60001"),
            "gpucloud:amis.p5.48xlarge='ami-0a1b2c3d4e5f60001': want {id: ami-..., rootDevice:",
        ),
        (
            REGION,
            _set_in("gpucloud:amis", "p5.48xlarge", {"id": "ami-0a1b2c3d4e5f60001", "rootDevice": "sda1"}),
            "gpucloud:amis.p5.48xlarge.rootDevice='sda1': want the AMI's root device name",
        ),
        (REGION, lambda cfg: cfg["gpucloud:amis"].pop("g6e.48xlarge"), "no AMI pinned for g6e.48xlarge"),
    ],
)
def test_bad_values_are_refused_naming_stack_key_and_value(
    repo_copy: Path, stack: str, change: Change, expected: str
) -> None:
    edit_stack(repo_copy, stack, change)
    with pytest.raises(ConfigError) as err:
        Repository(repo_copy).load(stack)
    message = str(err.value)
    assert expected in message
    assert stack in message or "stack" not in expected
    assert "\n" not in message


def test_a_stack_file_named_for_another_region_is_refused(repo_copy: Path) -> None:
    source = repo_copy / "stacks" / "Pulumi.region-eu-north-1.yaml"
    source.rename(repo_copy / "stacks" / "Pulumi.region-us-west-2.yaml")
    with pytest.raises(ConfigError, match="a region stack of eu-north-1 must be named region-eu-north-1"):
        Repository(repo_copy).load("region-us-west-2")


def test_an_unknown_stack_names_the_stacks_that_exist(repo_root: Path) -> None:
    with pytest.raises(StackNotFoundError) as refused:
        Repository(repo_root).load("tenant-nobody-us-east-1")
    listed = str(refused.value).split("; stacks: ")[1].split(", ")
    assert listed[0] == "tenant-acme-us-east-1"  # the closest first
    assert sorted(listed) == ["account-acme", "org", "region-eu-north-1", "region-us-east-1", "tenant-acme-us-east-1"]


@pytest.mark.parametrize("stack", ["../Pulumi", "stacks/../x", ".hidden"])
def test_a_path_is_never_a_stack(repo_root: Path, stack: str) -> None:
    with pytest.raises(StackNotFoundError):
        Repository(repo_root).load(stack)


def test_invalid_yaml_is_a_config_error_with_the_line(repo_copy: Path) -> None:
    (repo_copy / "stacks" / "Pulumi.region-us-east-1.yaml").write_text("config:\n  a: [1,\n")
    with pytest.raises(ConfigError, match=r"Pulumi.region-us-east-1.yaml line \d+: not valid YAML: .*expected"):
        Repository(repo_copy).load(REGION)
