"""``gpucloud tenant onboard``: validate, allocate a CIDR and capacity, render the templates, write atomically.

Order matters for "nothing written on a refusal":

1. everything that does not depend on the repository's state is checked first (name, region, SKU,
   sizes, display name, principals);
2. under the repository lock the registry is read, the region's remaining capacity and free address
   space are computed, the templates are rendered and the rendered stack config is parsed back with
   the same checks ``pulumi up`` runs (so a template can never write a config the program refuses);
3. only then are the files written, all or none (``gpucloud.transaction``).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gpucloud.allocation import choose_az, first_free_block
from gpucloud.capacity.reserve import crossing, leasable_through, reserved_on, term_window
from gpucloud.catalog import load_catalog
from gpucloud.config import (
    ACCOUNT_ID_PATTERN,
    ACCOUNT_ID_RULE,
    EGRESS_MODES,
    EMAIL_RULE,
    ORG_PATTERN,
    ORG_STACK,
    PRINCIPAL_PATTERN,
    ROOT_VOLUME_GIB_MAX,
    ROOT_VOLUME_GIB_MIN,
    SCHEDULERS,
    AccountConfig,
    ClusterConfig,
    TenantConfig,
    check_display_name,
    check_head_node_type,
    config_from_namespaced,
    email_ok,
    fsx_size_ok,
    fsx_sizes_rule,
)
from gpucloud.errors import ConfigError
from gpucloud.names import check_tenant_name
from gpucloud.organization.roles import ADMIN_ROLE_NAME
from gpucloud.rates import TERMS, load_rate_card
from gpucloud.regions import known_region, load_regions
from gpucloud.registry import AccountEntry, Registry, iso, load_registry
from gpucloud.repo import Repository, config_mapping
from gpucloud.templating import render
from gpucloud.tenants.defaults import (
    DEFAULT_EGRESS,
    DEFAULT_ORG,
    DEFAULT_ROOT_VOLUME_GIB,
    DEFAULT_SCHEDULER,
    DEFAULT_STORAGE_TIB,
)
from gpucloud.tenants.files import TenantFiles
from gpucloud.transaction import FileTransaction, repository_lock
from gpucloud.validate import check_registry, foreign_admin


@dataclass(frozen=True, kw_only=True)
class OnboardRequest:
    """What the user asked for. ``None`` means "not given": the default for a new tenant, the current
    value for ``--update``."""

    name: str
    region: str
    gpu_type: str | None = None
    nodes: int | None = None
    storage_tib: float | None = None
    fsx_tib: float | None = None  # 0 with --update removes the file system
    egress: str | None = None
    display_name: str | None = None
    org: str | None = None
    admin_principals: tuple[str, ...] | None = None  # added to the account's principals (never replacing them)
    remove_admin_principals: tuple[str, ...] = ()  # taken away, explicitly
    az: str | None = None  # an AZ ID of the region with room for the nodes; None: the first with room
    root_volume_gib: int | None = None
    new_account: bool = False  # the tenant's first onboarding: a new account (its root e-mail is ours)
    account_id: str | None = None  # ... or adopt this existing account of the organization
    scheduler: str | None = None  # "slurm" (a head node and a Slurm cluster) or "none" (bare GPU nodes)
    head_node_type: str | None = None  # the head node's CPU type [the catalog's default]; Slurm only
    term: str | None = None  # the rate card term [new tenants: on-demand]; a change starts the term today
    today: datetime.date | None = None  # when the onboarding happens (UTC) [now]
    update: bool = False


@dataclass(frozen=True)
class RenderedFile:
    path: PurePosixPath
    text: str
    existed: bool
    changed: bool = True  # False: the file already says exactly this, and is left as it is
    before: str = ""  # what the file said before (empty for a new file)


@dataclass(frozen=True)
class Onboarding:
    """The outcome: the tenant's typed config and the files that carry it."""

    config: TenantConfig
    account: AccountConfig
    files: tuple[RenderedFile, ...]
    updated: bool

    @property
    def stack(self) -> str:
        return self.config.stack

    @property
    def written(self) -> tuple[RenderedFile, ...]:
        """The files this onboarding writes (or, in a dry run, would write): new or changed ones."""
        return tuple(f for f in self.files if f.changed)

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.config.tenant,
            "region": self.config.region,
            "stack": self.config.stack,
            "cidr": str(self.config.cidr),
            "az": self.config.node_pool.az_id,
            "scheduler": self.config.cluster.scheduler,
            "head_node_type": self.config.cluster.head_node_type,
            "term": self.config.term,
            "term_start": None if self.config.term_start is None else self.config.term_start.isoformat(),
            "account": {
                "stack": self.account.stack,
                "id": self.account.account_id,
                "email": self.account.email,
            },
            "files": [str(f.path) for f in self.written],
        }


def check_request(request: OnboardRequest) -> OnboardRequest:
    """The checks that need no repository: each refusal names the value and what is allowed."""
    check_tenant_name(request.name, key="NAME")
    aws_region = known_region(request.region, f"--region={request.region!r}")
    catalog = load_catalog()
    if request.gpu_type is not None:
        if request.gpu_type not in catalog.skus:
            raise ConfigError(f"--gpu-type={request.gpu_type!r}: unknown; allowed: {', '.join(catalog.names())}")
        if not catalog.skus[request.gpu_type].offered_in(request.region):
            offered = ", ".join(catalog.offered_in(request.region)) or "none"
            raise ConfigError(
                f"--gpu-type={request.gpu_type}: not offered in {request.region}; offered there: {offered}"
            )
    elif not request.update:
        raise ConfigError("--gpu-type is required for a new tenant; allowed: " + ", ".join(catalog.names()))
    if request.nodes is not None and request.nodes < 1:
        raise ConfigError(f"--nodes={request.nodes}: want a whole number >= 1")
    if request.nodes is None and not request.update:
        raise ConfigError("--nodes is required for a new tenant: how many GPU nodes (a whole number >= 1)")
    if (
        request.root_volume_gib is not None
        and not ROOT_VOLUME_GIB_MIN <= request.root_volume_gib <= ROOT_VOLUME_GIB_MAX
    ):
        raise ConfigError(
            f"--root-volume-gib={request.root_volume_gib}: want {ROOT_VOLUME_GIB_MIN} to {ROOT_VOLUME_GIB_MAX} GiB"
        )
    if request.az is not None and request.az not in aws_region.az_ids:
        az_ids = ", ".join(aws_region.az_ids)
        raise ConfigError(f"--az={request.az!r}: not an AZ ID of {request.region}; AZ IDs: {az_ids}")
    if request.storage_tib is not None and not request.storage_tib > 0:
        raise ConfigError(f"--storage-tib={request.storage_tib:g}: want a positive number of TiB")
    if (
        request.fsx_tib is not None
        and not (request.fsx_tib == 0 and request.update)
        and not fsx_size_ok(request.fsx_tib)
    ):
        extra = " (0 with --update removes it)" if request.update else ""
        raise ConfigError(f"--fsx-tib={request.fsx_tib:g}: {fsx_sizes_rule()}{extra}")
    if request.scheduler is not None and request.scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler={request.scheduler!r}: allowed: {', '.join(SCHEDULERS)}")
    if request.head_node_type is not None:
        if request.scheduler == "none":
            raise ConfigError(
                f"--head-node-type={request.head_node_type}: only a cluster with --scheduler slurm has a head node"
            )
        check_head_node_type(
            request.head_node_type,
            request.region,
            catalog,
            fail=lambda allowed: ConfigError(f"--head-node-type={request.head_node_type!r}: {allowed}"),
        )
    if request.term is not None and request.term not in TERMS:
        raise ConfigError(f"--term={request.term!r}: allowed: {', '.join(TERMS)}")
    if request.egress is not None and request.egress not in EGRESS_MODES:
        raise ConfigError(f"--egress={request.egress!r}: allowed: {', '.join(EGRESS_MODES)}")
    if request.display_name is not None:
        check_display_name(request.display_name)
    if request.org is not None and not ORG_PATTERN.fullmatch(request.org):
        raise ConfigError(f"--org={request.org!r}: want a Pulumi organization name ([A-Za-z0-9_.-])")
    if request.new_account and request.account_id is not None:
        raise ConfigError("--new-account and --account-id exclude each other: a new account or an existing one (id)")
    if request.account_id is not None and not ACCOUNT_ID_PATTERN.fullmatch(request.account_id):
        raise ConfigError(f"--account-id={request.account_id!r}: {ACCOUNT_ID_RULE}")
    for arn in (*(request.admin_principals or ()), *request.remove_admin_principals):
        if not PRINCIPAL_PATTERN.fullmatch(arn):
            raise ConfigError(
                f"--admin-principal={arn!r}: want arn:aws:iam::<12 digits>:root, :role/NAME or :user/NAME"
            )
    return request


def onboard(repo: Repository, request: OnboardRequest, *, dry_run: bool = False) -> Onboarding:
    """Onboard (or ``--update``) a tenant; with ``dry_run`` compute everything and write nothing."""
    check_request(request)
    with repository_lock(repo.root):
        result = prepare(repo, load_registry(repo), request)
        if not dry_run and result.written:  # nothing to change: nothing is written
            txn = FileTransaction(repo.root)
            for file in result.written:
                txn.write(file.path, file.text)
            txn.commit()
    return result


def prepare(repo: Repository, registry: Registry, request: OnboardRequest) -> Onboarding:
    """Allocate and render against ``registry``; pure: reads templates, writes nothing."""
    if registry.problems:
        raise ConfigError(
            f"the registry has {len(registry.problems)} stack(s) that do not load; fix them first "
            f"(gpucloud validate): {next(iter(registry.problems.values()))}"
        )
    # Problems only: the warnings' capacity ledger (and its rate card) is no business of an onboarding.
    # A tenant whose term now crosses a reserve step added later ("reserve") does not stop other onboardings: each
    # one checks the reserve itself, on every day of its own term, and an --update that shrinks that tenant is how
    # the collision is resolved.
    inconsistent = [p for p in check_registry(registry, 0, warnings=False).problems if p.check != "reserve"]
    if inconsistent:  # allocating against overlapping CIDRs or over-committed capacity would compound them
        first = inconsistent[0]
        raise ConfigError(
            f"the registry is inconsistent ({len(inconsistent)} problem(s)); fix them first (gpucloud validate): "
            f"{first.check} {first.stack or '-'}: {first.message}"
        )
    add = f"; add it first: gpucloud region add {request.region}" if request.region in load_regions().regions else ""
    region = registry.require_region(request.region, then=add)
    files = TenantFiles(request.name, request.region)
    current = registry.tenant(request.name, request.region)
    if current is not None and not request.update:
        raise ConfigError(
            f"tenant {request.name} is already onboarded in {request.region} (stack {current.stack}); "
            "pass --update to change it"
        )
    if current is None and request.update:
        raise registry.unknown_tenant(
            request.name, request.region, lead="--update: ", then="; a new tenant: drop --update"
        )
    existing = repo.load(current.stack) if current is not None else None
    assert existing is None or isinstance(existing, TenantConfig)
    if existing is not None and existing.leaving is not None:
        raise ConfigError(
            f"tenant {request.name} is leaving {request.region} (offboarding began {existing.leaving}): finish it "
            f"(pulumi destroy, then gpucloud tenant offboard {request.name} --region {request.region} --destroyed)"
        )
    gpu_type = request.gpu_type or (existing.node_pool.gpu_type if existing else "")
    nodes = request.nodes or (existing.node_pool.nodes if existing else 0)
    if not any(c.gpu_type == gpu_type for c in region.capacity):
        held = ", ".join(sorted({c.gpu_type for c in region.capacity}))
        raise ConfigError(f"--gpu-type={gpu_type}: {region.stack} holds no capacity for it; it holds: {held}")
    excluding = current.stack if current else None
    remaining = registry.remaining(region, gpu_type, excluding=excluding)
    for entry in region.capacity:  # a Capacity Block is shared whole: it serves one tenant
        if entry.gpu_type == gpu_type and entry.capacity_block_id and remaining.get(entry.az_id) != entry.count:
            remaining[entry.az_id] = 0
    # Our own needs first: what the internal reserve keeps, on every day of the term asked for.
    today = request.today or datetime.datetime.now(datetime.UTC).date()
    term = _term(request, existing)
    start, end = term_window(term["term"], term["term_start"], today)
    ours = {a: reserved_on(region, gpu_type, a, today) for a in remaining}
    leasable = {
        a: min(free - ours[a], leasable_through(registry, region, gpu_type, a, start, end, today=today,
                                                 excluding=excluding))
        for a, free in remaining.items()
    }  # fmt: skip
    asked = f"{nodes} {gpu_type} nodes " + (
        f"on a {term['term']} term ({start} to {end})" if end is not None else f"on demand (from {start})"
    )

    def crosses(az: str) -> ConfigError | None:
        found = crossing(registry, region, gpu_type, az, nodes, start, end, today=today, excluding=excluding)
        return None if found is None else ConfigError(found.message(f"tenant {request.name}: {asked}"))

    az = None
    if request.az is not None:
        if request.az not in remaining:
            raise ConfigError(
                f"--az={request.az}: {region.stack} holds no {gpu_type} there; it does in: {', '.join(remaining)}"
            )
        if remaining[request.az] - ours[request.az] < nodes:
            raise ConfigError(
                f"--az={request.az}: {max(remaining[request.az] - ours[request.az], 0)} {gpu_type} free there"
                f"{_reserved_note(ours[request.az])}, --nodes={nodes} asked"
            )
        refusal = crosses(request.az)
        if refusal is not None:
            raise refusal
        az = request.az
    elif existing is not None and existing.node_pool.gpu_type == gpu_type:
        az = existing.node_pool.az_id if leasable.get(existing.node_pool.az_id, 0) >= nodes else None
    az = az or choose_az(leasable, nodes)
    if az is None:
        # Room today, but not on every day of the term: say which reserve step it would cross, and what fits.
        for a in remaining:
            if remaining[a] - ours[a] >= nodes and (refusal := crosses(a)) is not None:
                raise refusal
        free = ", ".join(f"{a}: {max(n - ours[a], 0)}{_reserved_note(ours[a])}" for a, n in remaining.items())
        # Nodes an offboarded tenant still holds (its grace period) are not free, and the refusal says whose.
        retired = [
            f"{r.nodes} in {r.az} held by {r.stack} until {r.until}"
            for r in registry.retired
            if r.region == request.region and r.gpu_type == gpu_type
        ]
        still = f"; retired, not yet free: {', '.join(retired)}" if retired else ""
        raise ConfigError(
            f"--nodes={nodes}: {region.stack} has too few free {gpu_type} nodes in any one AZ (free: {free}{still})"
        )
    if existing is not None:
        cidr = existing.cidr
    else:
        block = first_free_block(region.tenant_supernet, region.tenant_cidr_prefix, registry.taken_cidrs())
        if block is None:
            raise ConfigError(
                f"--region={request.region}: the tenant supernet {region.tenant_supernet} has no free "
                f"/{region.tenant_cidr_prefix} left ({len(registry.tenants_in(request.region))} tenants)"
            )
        cidr = block
    account = registry.account(request.name)
    if account is not None and account.leaving is not None:
        raise ConfigError(
            f"tenant {request.name}'s account is being closed (offboarding began {account.leaving}); "
            "finish that offboarding first"
        )
    _check_account(registry, request, account)
    org = request.org or (
        existing.org if existing else account.org if account else _region_org(registry, request.region)
    )
    fsx = _fsx(request, existing)
    capacity_entry = region.capacity_for(gpu_type, az)
    assert capacity_entry is not None
    principals = _principals(request, account)
    own = request.account_id or (account.account_id if account else None)
    for arn in request.admin_principals or ():
        why = foreign_admin(registry, arn)
        if why is None and own is not None and arn.split(":")[4] == own:
            why = f"account {own} is tenant {request.name}'s own (its nodes' role could assume the admin role)"
        if why is not None:
            raise ConfigError(f"--admin-principal={arn}: {why}; name one of the tenant's own, outside our organization")
    cluster = _cluster(request, existing)
    context = {
        "tenant": request.name,
        "region": request.region,
        "stack": files.stack,
        "account_stack": files.account_stack,
        "admin_role_name": ADMIN_ROLE_NAME,
        "display_name": request.display_name or (account.display_name if account else request.name),
        "account_email": account.email if account else _new_account_email(registry, request),
        "account_id": account.account_id if account else request.account_id,
        "home_region": registry.org.region if registry.org else request.region,
        "capacity_type": capacity_entry.capacity_type,
        "capacity_ends": iso(capacity_entry.capacity_block_end),
        "org": org,
        "cidr": cidr,
        "supernet": region.tenant_supernet,
        "gpu_type": gpu_type,
        "sku": load_catalog().get(gpu_type),
        "nodes": nodes,
        "az": az,
        "root_volume_gib": request.root_volume_gib
        or (existing.node_pool.root_volume_gib if existing else DEFAULT_ROOT_VOLUME_GIB),
        "storage_tib": request.storage_tib or (existing.storage.bucket_tib if existing else DEFAULT_STORAGE_TIB),
        "fsx_tib": fsx,
        "egress": request.egress or (existing.egress if existing else DEFAULT_EGRESS),
        "scheduler": cluster.scheduler,
        "head_node_type": cluster.head_node_type,
        **term,
        "admin_principals": list(principals),
        "inventory_path": str(files.inventory),
    }
    rendered = {
        files.account_config: render(repo.root, "account/stack.yaml.j2", context),
        files.stack_config: render(repo.root, "tenant/stack.yaml.j2", context),
        files.inventory: render(repo.root, "tenant/inventory.aws_ec2.yml.j2", context),
        files.handover: render(repo.root, "tenant/handover.md.j2", context),
    }
    config = _parse_back(files.stack, rendered[files.stack_config], context)
    account_config = _parse_back_account(files.account_stack, rendered[files.account_config], context)
    return Onboarding(
        config=config,
        account=account_config,
        files=tuple(_rendered(repo, path, text) for path, text in rendered.items()),
        updated=existing is not None,
    )


def _reserved_note(nodes: int) -> str:
    return f" ({nodes} more reserved for us)" if nodes else ""


def _principals(request: OnboardRequest, account: AccountEntry | None) -> tuple[str, ...]:
    """The account's admin principals: the current ones, plus those added, less those explicitly removed."""
    current = account.admin_principals if account else ()
    absent = [arn for arn in request.remove_admin_principals if arn not in current]
    if absent:
        have = ", ".join(current) or "none"
        raise ConfigError(
            f"--remove-admin-principal={absent[0]}: not an admin principal of {request.name} (it has: {have})"
        )
    kept = [arn for arn in current if arn not in request.remove_admin_principals]
    return tuple(dict.fromkeys([*kept, *(request.admin_principals or ())]))


def _rendered(repo: Repository, path: PurePosixPath, text: str) -> RenderedFile:
    target = repo.root / path
    before = target.read_text(encoding="utf-8") if target.is_file() else None
    return RenderedFile(path=path, text=text, existed=before is not None, changed=before != text, before=before or "")


def _new_account_email(registry: Registry, request: OnboardRequest) -> str | None:
    """A new account's root e-mail: our mailbox, plus-addressed with the tenant's name (never the tenant's own)."""
    if not request.new_account:
        return None
    if registry.org is None:
        raise ConfigError(
            f"--new-account: no org stack (stacks/Pulumi.{ORG_STACK}.yaml): a new account's e-mail is its "
            "accountMailbox, plus-addressed"
        )
    email = registry.org.account_email(request.name)
    if not email_ok(email):
        raise ConfigError(f"--new-account: {email!r}, the org's accountMailbox plus {request.name}: {EMAIL_RULE}")
    return email


def _check_account(registry: Registry, request: OnboardRequest, account: AccountEntry | None) -> None:
    """A tenant's first onboarding names its account; later ones reuse it and may not name another."""
    if account is None:
        if not request.new_account and request.account_id is None:
            raise ConfigError(
                f"tenant {request.name} has no account yet: pass --new-account (a new account in the "
                "tenant OU) or --account-id ID (adopt an account of the organization)"
            )
    else:
        # Naming the account it has (its id, or --new-account for one its first onboarding created) changes nothing.
        other_id = request.account_id is not None and request.account_id != account.account_id
        if (request.new_account and account.account_id is not None) or other_id:
            raise ConfigError(
                f"tenant {request.name} already has its account ({account.label}, stack {account.stack}); "
                "drop --new-account/--account-id: a tenant's account does not change"
            )
        return
    for other in registry.accounts.values():
        if request.account_id is not None and other.account_id == request.account_id:
            raise ConfigError(f"--account-id={request.account_id}: already tenant {other.name}'s account")


def _parse_back_account(stack: str, text: str, context: dict[str, Any]) -> AccountConfig:
    config = config_from_namespaced(stack, config_mapping(text, "templates/account/stack.yaml.j2"))
    if not isinstance(config, AccountConfig):
        raise ConfigError(f"templates/account/stack.yaml.j2 rendered a {type(config).__name__}, not an account stack")
    if config.display_name != context["display_name"] or config.admin_principals != tuple(context["admin_principals"]):
        raise ConfigError("templates/account/stack.yaml.j2 does not round-trip the display name or principals")
    return config


def _cluster(request: OnboardRequest, existing: TenantConfig | None) -> ClusterConfig:
    """The scheduler asked for, else the tenant's current one (a new tenant: Slurm), and the head node's type: the
    one asked for, else the current one, else the catalog's default."""
    scheduler = request.scheduler or (existing.cluster.scheduler if existing else DEFAULT_SCHEDULER)
    if scheduler == "none":
        if request.head_node_type is not None:
            raise ConfigError(
                f"--head-node-type={request.head_node_type}: tenant {request.name} has no scheduler (bare nodes); "
                "add --scheduler slurm"
            )
        return ClusterConfig(scheduler="none")
    head = request.head_node_type or (existing.cluster.head_node_type if existing else None)
    return ClusterConfig(scheduler=scheduler, head_node_type=head or load_catalog().default_head_node_type)


def _term(request: OnboardRequest, existing: TenantConfig | None) -> dict[str, Any]:
    """The term asked for (a new or changed term starts today; asking again for a term that has ended renews it),
    else the tenant's current one."""
    today = request.today or datetime.datetime.now(datetime.UTC).date()
    if existing is not None:
        ends = load_rate_card().terms[existing.term].ends(existing.term_start)
        renewal = request.term == existing.term and ends is not None and ends <= today
        if (request.term is None or request.term == existing.term) and not renewal:
            start = existing.term_start
            return {"term": existing.term, "term_start": None if start is None else start.isoformat()}
    return {"term": request.term or "on-demand", "term_start": today.isoformat()}


def _fsx(request: OnboardRequest, existing: TenantConfig | None) -> float | None:
    if request.fsx_tib is not None:
        return None if request.fsx_tib == 0 else request.fsx_tib
    return existing.storage.fsx_tib if existing else None


def _region_org(registry: Registry, region: str) -> str:
    """The org the region's other tenants use (their StackReferences must agree), else Pulumi's default."""
    orgs = sorted({t.org for t in registry.tenants_in(region)})
    return orgs[0] if orgs else DEFAULT_ORG


def _parse_back(stack: str, text: str, context: dict[str, Any]) -> TenantConfig:
    """The rendered stack config, checked exactly as ``pulumi up`` would read it, and equal to what was asked."""
    config = config_from_namespaced(stack, config_mapping(text, "templates/tenant/stack.yaml.j2"))
    if not isinstance(config, TenantConfig):
        raise ConfigError(f"templates/tenant/stack.yaml.j2 rendered a {type(config).__name__}, not a tenant stack")
    wanted = {"cidr": ipaddress.IPv4Network(context["cidr"]), "org": context["org"]}
    got = {"cidr": config.cidr, "org": config.org}
    if got != wanted:  # a template that mangles what the user typed is a bug, never a silent change
        raise ConfigError(f"templates/tenant/stack.yaml.j2 does not round-trip: wrote {got}, wanted {wanted}")
    return config
