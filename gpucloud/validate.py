"""``gpucloud validate``: the whole registry at once, as CI checks it before a change merges.

Two reviewed onboardings that each took "the first free block" are each fine alone; merged, they
overlap. This catches that, and every other way the stack configs can disagree with each other.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpucloud.capacity.reserve import collisions
from gpucloud.config import ORG_STACK, SCHEDULERS
from gpucloud.names import account_stack_name, region_stack_name
from gpucloud.regions import load_regions
from gpucloud.registry import Registry, TenantEntry, iso, load_registry
from gpucloud.repo import Repository
from gpucloud.transaction import repository_lock


@dataclass(frozen=True)
class Problem:
    check: str
    stack: str | None
    message: str
    related: tuple[str, ...] = ()  # other stacks it involves (a reserve collision: the tenants holding then)

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "stack": self.stack, "message": self.message}


@dataclass(frozen=True)
class Validation:
    stacks: int
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)  # worth knowing, not a reason to refuse a change
    schedulers: dict[str, int] = field(default_factory=dict)  # tenant stacks per scheduler (slurm, none)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "stacks": self.stacks,
            "problems": [p.as_json() for p in self.problems],
            "warnings": [w.as_json() for w in self.warnings],
            "schedulers": self.schedulers,
        }


def _overlaps(named: Sequence[tuple[str, ipaddress.IPv4Network]]) -> Iterator[tuple[str, str, str, str]]:
    """Each pair of overlapping networks, found with one sort and a sweep (not every pair against every pair)."""
    ordered = sorted(named, key=lambda item: (int(item[1].network_address), -item[1].prefixlen))
    open_: list[tuple[str, ipaddress.IPv4Network]] = []
    for name, net in ordered:
        open_ = [(n, o) for n, o in open_ if int(o.broadcast_address) >= int(net.network_address)]
        for other_name, other in open_:
            yield other_name, str(other), name, str(net)
        open_.append((name, net))


BLOCK_WARNING = datetime.timedelta(days=7)  # how early validate says a Capacity Block is about to end


def check_registry(
    registry: Registry, stack_count: int, *, now: datetime.datetime | None = None, warnings: bool = True
) -> Validation:
    """The registry's problems, and (unless ``warnings`` is false: onboarding needs only the problems) what is worth
    a warning: blocks and terms ending, regions short of free capacity."""
    problems = [Problem("loads", stack, message) for stack, message in registry.problems.items()]
    plan = load_regions().address_plan
    for each in registry.regions.values():
        if not each.tenant_supernet.subnet_of(plan):
            problems.append(
                Problem(
                    "address-plan",
                    each.stack,
                    f"tenant supernet {each.tenant_supernet} is outside the address plan {plan} (regions.yaml)",
                )
            )
    supernets = [(r.stack, r.tenant_supernet) for r in registry.regions.values()]
    for a, a_net, b, b_net in _overlaps(supernets):
        problems.append(Problem("cidr-disjoint", b, f"tenant supernet {b_net} overlaps {a}'s {a_net}"))
    named = [(t.stack, t.cidr) for t in registry.tenants]
    named += [(f"{r.stack} (retired until {r.until})", r.cidr) for r in registry.retired]
    for a, a_net, b, b_net in _overlaps(named):
        problems.append(Problem("cidr-disjoint", b, f"cidr {b_net} overlaps {a}'s {a_net}"))
    held: dict[tuple[str, str, str], list[TenantEntry]] = {}
    for tenant in registry.tenants:
        region = registry.regions.get(tenant.region)
        if region is None:
            problems.append(
                Problem(
                    "region-exists", tenant.stack, f"its region stack {region_stack_name(tenant.region)} is missing"
                )
            )
            continue
        if not tenant.cidr.subnet_of(region.tenant_supernet):
            problems.append(
                Problem(
                    "cidr-in-supernet",
                    tenant.stack,
                    f"cidr {tenant.cidr} is outside {region.stack}'s tenant supernet {region.tenant_supernet}",
                )
            )
        entry = region.capacity_for(tenant.gpu_type, tenant.az)
        if entry is None:
            problems.append(
                Problem(
                    "capacity",
                    tenant.stack,
                    f"{tenant.gpu_type} in {tenant.az}: {region.stack} holds no capacity there",
                )
            )
            continue
        if entry.capacity_block_end is not None and tenant.capacity_ends != iso(entry.capacity_block_end):
            problems.append(
                Problem(
                    "capacity-block-end",
                    tenant.stack,
                    f"nodePool.capacityEnds={tenant.capacity_ends}, but {region.stack}'s block "
                    f"{entry.capacity_block_id} ends {iso(entry.capacity_block_end)}",
                )
            )
        if entry.capacity_type != tenant.capacity_type:
            problems.append(
                Problem(
                    "capacity-type",
                    tenant.stack,
                    f"nodePool.capacityType={tenant.capacity_type}, but {region.stack} holds a "
                    f"{entry.capacity_type} for {tenant.gpu_type} in {tenant.az}",
                )
            )
        held.setdefault((tenant.region, tenant.gpu_type, tenant.az), []).append(tenant)
    for (region_code, gpu_type, az), holders in sorted(held.items()):
        holder = registry.regions[region_code]
        entry = holder.capacity_for(gpu_type, az)
        assert entry is not None
        total = registry.held(region_code, gpu_type, az)  # retired tenants in their grace count too
        if entry.capacity_block_id is not None and len(holders) > 1:
            problems.append(
                Problem(
                    "carved-once",
                    holder.stack,
                    f"Capacity Block {entry.capacity_block_id} ({gpu_type} in {az}) is carved for "
                    f"{len(holders)} tenants ({', '.join(t.stack for t in holders)}); a block serves one tenant",
                )
            )
        if total > entry.count:
            problems.append(
                Problem(
                    "capacity",
                    holder.stack,
                    f"{gpu_type} in {az}: tenants hold {total} nodes, the region has {entry.count} "
                    f"({', '.join(t.stack for t in holders)})",
                )
            )
    moment = now or datetime.datetime.now(datetime.UTC)
    problems += [Problem("reserve", c.stack, c.message(), c.tenant_stacks) for c in collisions(registry, moment.date())]
    problems += list(_account_problems(registry))
    warned = [*_blocks_ending(registry, moment), *_capacity_warnings(registry, moment)] if warnings else []
    schedulers = {scheduler: 0 for scheduler in SCHEDULERS}
    for tenant in registry.tenants:
        schedulers[tenant.scheduler] += 1
    return Validation(stacks=stack_count, problems=problems, warnings=warned, schedulers=schedulers)


def _blocks_ending(registry: Registry, now: datetime.datetime) -> Iterator[Problem]:
    """Capacity Blocks that end within a week, or have ended: their nodes stop with them."""
    for region in registry.regions.values():
        for entry in region.capacity:
            end = entry.capacity_block_end
            if end is None or end - now > BLOCK_WARNING:
                continue
            holders = [t.stack for t in registry.tenants if t.region == region.region and t.az == entry.az_id
                       and t.gpu_type == entry.gpu_type]  # fmt: skip
            left = "has ended" if end <= now else f"ends in {_days(end - now)}"
            yield Problem(
                "capacity-block-ending",
                region.stack,
                f"Capacity Block {entry.capacity_block_id} ({entry.gpu_type} in {entry.az_id}) {left} "
                f"({iso(end)}); its nodes stop then: {', '.join(holders) or 'no tenant holds it'}",
            )


def _capacity_warnings(registry: Registry, now: datetime.datetime) -> Iterator[Problem]:
    """A region whose free GPUs of a SKU are under 10 %, and tenant terms that end within a week (the capacity
    ledger's figures: `gpucloud capacity`). Stacks that do not load are reported as problems, not here."""
    from gpucloud.capacity.ledger import LOW_FREE_FRACTION, WARN_WITHIN_DAYS, build, term_end

    if registry.problems:
        return
    for region in build(registry, now).regions:
        for sku, (held, reserved, _carved, leasable) in sorted(region.by_sku().items()):
            # What tenants may have: held less our internal reserve (all of it ours: nothing to warn of).
            # Short (leasable < 0) is a problem of its own ("capacity", "reserve"), not a low-capacity warning.
            for_lease = held - reserved
            if for_lease > 0 and leasable >= 0 and leasable / for_lease < LOW_FREE_FRACTION:
                ours = f", {reserved} more reserved for us" if reserved else ""
                yield Problem(
                    "capacity-low",
                    registry.regions[region.region].stack,
                    f"{leasable} of {for_lease} {sku} GPUs free ({leasable / for_lease:.0%}, under "
                    f"{LOW_FREE_FRACTION:.0%}{ours}): the next tenant may not fit; add capacity (gpucloud capacity "
                    f"--region {region.region})",
                )
    for tenant in registry.tenants:
        ends = term_end(tenant)
        if ends is not None and (ends - now.date()).days <= WARN_WITHIN_DAYS:
            left = "has ended" if ends <= now.date() else f"ends in {(ends - now.date()).days} days"
            yield Problem(
                "term-ending",
                tenant.stack,
                f"tenant {tenant.name}'s {tenant.term} term (from {tenant.term_start}) {left} ({ends}): renew it "
                f"(gpucloud tenant onboard {tenant.name} --region {tenant.region} --update --term ...) or offboard",
            )


def _days(left: datetime.timedelta) -> str:
    hours = left.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def our_account_ids(registry: Registry) -> dict[str, str]:
    """The AWS accounts of our organization the registry knows, by id: what each is."""
    ours: dict[str, str] = {}
    if registry.org is not None:
        ours[registry.org.operations_role_arn.split(":")[4]] = "our operations account"
    for account in registry.accounts.values():
        if account.account_id is not None:
            ours[account.account_id] = f"tenant {account.name}'s account"
    return ours


def foreign_admin(registry: Registry, arn: str) -> str | None:
    """Why ``arn`` may not be a tenant's admin principal, or None: a principal of one of our organization's
    accounts (ours, another tenant's, or the tenant's own, where a node's role could then assume the admin role)."""
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    owner = our_account_ids(registry).get(account)
    if owner is None:
        return None
    return f"account {account} is {owner}: an admin principal must be the tenant's own, outside our organization"


def _account_problems(registry: Registry) -> Iterator[Problem]:
    """Every tenant has its account; no account serves two tenants; the org stack serves every region."""
    for tenant in registry.tenants:
        if registry.account(tenant.name) is None:
            yield Problem(
                "account-exists",
                tenant.stack,
                f"tenant {tenant.name} has no account stack {account_stack_name(tenant.name)}",
            )
    for kind, key in (("account id", "account_id"), ("e-mail", "email")):
        owners: dict[str, str] = {}
        for account in registry.accounts.values():
            value = getattr(account, key)
            if value is None:
                continue
            if value in owners:
                yield Problem(
                    "account-unique", account.stack, f"{kind} {value} is also {owners[value]}'s: one account per tenant"
                )
            owners.setdefault(value, account.stack)
    for account in registry.accounts.values():
        for arn in account.admin_principals:
            why = foreign_admin(registry, arn)
            if why is not None:
                yield Problem("admin-principal", account.stack, f"admin principal {arn}: {why}")
    if registry.org is None:
        if registry.accounts or registry.regions:
            yield Problem(
                "org-exists", None, f"no org stack (stacks/Pulumi.{ORG_STACK}.yaml): accounts and regions read it"
            )
        return
    for account in registry.accounts.values():
        ours = registry.org.account_email(account.name)
        if account.email is not None and account.email != ours:
            yield Problem(
                "account-email",
                account.stack,
                f"gpucloud:email={account.email} is not ours: want {ours} (the org stack's accountMailbox plus the "
                "tenant; whoever holds an account's mailbox can recover its root password)",
            )
    for region in registry.regions.values():
        if region.region not in registry.org.served_regions:
            yield Problem(
                "served-region",
                region.stack,
                f"{region.region} is not in {ORG_STACK}'s servedRegions ({', '.join(registry.org.served_regions)}): "
                "the SCP would deny its tenants",
            )


def validate(repo: Repository) -> Validation:
    with repository_lock(repo.root):  # also rolls back a change a crashed command left half-done
        registry = load_registry(repo)
    return check_registry(registry, len(repo.stacks()))
