"""Any sequence of onboardings and offboardings keeps a region's tenant CIDRs disjoint and inside its
supernet, and never holds more GPU nodes per SKU and AZ than the region has.

Drives the real allocation (``prepare``: registry checks, CIDR and AZ choice, template rendering and the
parse-back of the rendered stack config) against an in-memory registry, so hundreds of sequences run in
seconds; the CLI tests cover the same code through files.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucloud.config import OrgConfig, RegionConfig
from gpucloud.errors import ConfigError
from gpucloud.registry import AccountEntry, Registry, TenantEntry
from gpucloud.repo import Repository
from gpucloud.tenants.onboard import OnboardRequest, prepare
from gpucloud.validate import check_registry

ROOT = Path(__file__).resolve().parents[2]
REGION = Repository(ROOT).load("region-us-east-1")
assert isinstance(REGION, RegionConfig)
# A small supernet (eight /21 blocks) so sequences run out of addresses as well as capacity.
SMALL = replace(REGION, tenant_supernet=IPv4Network("10.16.0.0/18"), tenant_cidr_prefix=21)
NAMES = [f"t{i}" for i in range(12)]
SKUS = sorted({c.gpu_type for c in SMALL.capacity})
ORG = Repository(ROOT).load("org")
assert isinstance(ORG, OrgConfig)


def _registry(tenants: list[TenantEntry]) -> Registry:
    """The registry the sequence built: each tenant with the account its first onboarding wrote."""
    accounts = {
        t.name: AccountEntry(
            stack=f"account-{t.name}",
            name=t.name,
            display_name=t.name,
            org=t.org,
            email=ORG.account_email(t.name),
            account_id=None,
            admin_principals=(),
        )
        for t in tenants
    }
    return Registry(regions={SMALL.region: SMALL}, tenants=list(tenants), problems={}, accounts=accounts, org=ORG)


onboard_op = st.tuples(st.just("onboard"), st.sampled_from(NAMES), st.sampled_from(SKUS), st.integers(1, 9))
offboard_op = st.tuples(st.just("offboard"), st.sampled_from(NAMES), st.just(""), st.just(0))


def _invariants(tenants: list[TenantEntry]) -> None:
    for i, a in enumerate(tenants):
        assert a.cidr.subnet_of(SMALL.tenant_supernet), a
        assert a.cidr.prefixlen == SMALL.tenant_cidr_prefix
        for b in tenants[i + 1 :]:
            assert not a.cidr.overlaps(b.cidr), (a, b)
    for entry in SMALL.capacity:
        held = sum(t.nodes for t in tenants if t.gpu_type == entry.gpu_type and t.az == entry.az_id)
        assert held <= entry.count, (entry, held)
    registry = _registry(tenants)
    assert check_registry(registry, len(tenants) + 1).problems == []  # validate agrees


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(onboard_op, offboard_op), min_size=1, max_size=25))
def test_any_sequence_keeps_cidrs_disjoint_and_capacity_within_the_region(
    ops: list[tuple[str, str, str, int]],
) -> None:
    repo = Repository(ROOT)
    tenants: list[TenantEntry] = []
    for op, name, sku, nodes in ops:
        registry = _registry(tenants)
        if op == "offboard":
            tenants = [t for t in tenants if t.name != name]
            continue
        request = OnboardRequest(name=name, region="us-east-1", gpu_type=sku, nodes=nodes, new_account=True)
        try:
            result = prepare(repo, registry, request)
        except ConfigError as err:
            message = str(err)
            taken = any(t.name == name for t in tenants)
            free = registry.remaining(SMALL, sku)
            full = len(tenants) >= 2 ** (SMALL.tenant_cidr_prefix - SMALL.tenant_supernet.prefixlen)
            # a refusal is only ever for a reason that holds
            assert (
                (taken and "already onboarded" in message)
                or (max(free.values()) < nodes and "too few free" in message)
                or (full and "no free" in message)
            ), message
            continue
        assert result.config.node_pool.nodes == nodes
        assert result.config.node_pool.az_id in registry.remaining(SMALL, sku)
        assert result.account.email == ORG.account_email(name)
        tenants.append(TenantEntry.of(result.config))
        _invariants(tenants)
