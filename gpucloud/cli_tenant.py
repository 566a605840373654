"""``gpucloud tenant onboard | list | offboard``."""

from __future__ import annotations

import difflib
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from gpucloud.cli_support import CONTEXT, emit_json, err, heading, out, repository
from gpucloud.config import EGRESS_MODES, SCHEDULERS
from gpucloud.errors import ConfigError
from gpucloud.rates import TERMS
from gpucloud.tenants.defaults import DEFAULT_EGRESS, DEFAULT_ROOT_VOLUME_GIB, DEFAULT_SCHEDULER, DEFAULT_STORAGE_TIB

if TYPE_CHECKING:
    from gpucloud.config import TenantConfig
    from gpucloud.registry import AccountEntry, TenantEntry
    from gpucloud.tenants.onboard import Onboarding, RenderedFile


@click.group(context_settings=CONTEXT)
def tenant() -> None:
    """Onboard, list and offboard tenants. The stack configs in stacks/ are the registry.

    \b
    Onboarding is a change to this repository, reviewed like any other:
      gpucloud tenant onboard beta --region us-east-1 --gpu-type p5.48xlarge --nodes 2 \\
          --new-account --dry-run
      gpucloud tenant onboard beta --region us-east-1 --gpu-type p5.48xlarge --nodes 2 \\
          --new-account
      git add -A && git commit          # review; CI runs `gpucloud validate`
      pulumi up -s organization/account-beta              # the account first, once per tenant
      pulumi up -s organization/tenant-beta-us-east-1
    """


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value!r}: want a finite number of TiB", param=param)
    return value


@tenant.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--region", required=True, metavar="R", help="AWS region; it must have a region stack.")
@click.option("--gpu-type", metavar="SKU", help="Instance type from the GPU catalog (required unless --update).")
@click.option("--nodes", type=int, metavar="N", help="GPU nodes, within the region's free capacity for the SKU.")
@click.option(
    "--storage-tib",
    type=float,
    callback=_finite,
    metavar="N",
    help=f"S3 budget in TiB [new tenants: {DEFAULT_STORAGE_TIB:g}].",
)
@click.option(
    "--fsx-tib",
    type=float,
    callback=_finite,
    metavar="N",
    help="FSx for Lustre size: 1.2, 2.4 or a multiple of 2.4 TiB [none; 0 with --update removes it].",
)
@click.option("--az", metavar="AZ-ID", help="An AZ ID of the region with room for all NODES [the first with room].")
@click.option(
    "--root-volume-gib",
    type=int,
    metavar="N",
    help=f"Each node's root volume in GiB [new tenants: {DEFAULT_ROOT_VOLUME_GIB}].",
)
@click.option("--egress", type=click.Choice(EGRESS_MODES), help=f"Internet egress [new tenants: {DEFAULT_EGRESS}].")
@click.option(
    "--scheduler",
    type=click.Choice(SCHEDULERS),
    help="slurm: a head node and a Slurm cluster of the GPU nodes (gpucloud nodes configure --playbook cluster); "
    f"none: bare GPU nodes [new tenants: {DEFAULT_SCHEDULER}].",
)
@click.option(
    "--term",
    type=click.Choice(TERMS),
    help="The term signed on our rate card (gpucloud/data/rate_card.yaml); a new or changed term starts today "
    "[new tenants: on-demand].",
)
@click.option(
    "--head-node-type",
    metavar="TYPE",
    help="The Slurm head node's CPU instance type, from the catalog [the catalog's default, m7i.2xlarge].",
)
@click.option("--display-name", metavar="TEXT", help="The tenant's name as people write it [NAME].")
@click.option("--org", metavar="ORG", help="Pulumi organization of the stacks [the region's tenants' org].")
@click.option(
    "--admin-principal",
    "admin_principals",
    multiple=True,
    metavar="ARN",
    help="Add an IAM principal of the tenant that may assume its admin role (repeat; the others stay) "
    "[none: no admin role].",
)
@click.option(
    "--remove-admin-principal",
    "remove_admin_principals",
    multiple=True,
    metavar="ARN",
    help="Take an admin principal away (repeat); only ever explicit.",
)
@click.option(
    "--new-account",
    is_flag=True,
    help="First onboarding of a tenant: create its AWS account in the tenant OU (its root e-mail is ours: the "
    "org stack's accountMailbox, plus-addressed with NAME).",
)
@click.option("--account-email", hidden=True, metavar="EMAIL")  # refused with the reason: e-mails are ours now
@click.option(
    "--account-id",
    metavar="ID",
    help="First onboarding of a tenant: adopt this existing account of the organization (12 digits).",
)
@click.option("--update", is_flag=True, help="Change a tenant already onboarded; options not given keep their value.")
@click.option("--dry-run", is_flag=True, help="Print the files and the offline plan summary; write nothing.")
@click.option(
    "--apply", is_flag=True, help="Then `pulumi up` the stacks the next steps name, in order (needs the Pulumi CLI)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {tenant, region, stack, cidr, az, account, files, dry_run, updated} as JSON.",
)
@click.pass_context
def onboard(
    ctx: click.Context,
    name: str,
    region: str,
    gpu_type: str | None,
    nodes: int | None,
    storage_tib: float | None,
    fsx_tib: float | None,
    az: str | None,
    root_volume_gib: int | None,
    egress: str | None,
    scheduler: str | None,
    term: str | None,
    head_node_type: str | None,
    display_name: str | None,
    org: str | None,
    admin_principals: tuple[str, ...],
    remove_admin_principals: tuple[str, ...],
    new_account: bool,
    account_email: str | None,
    account_id: str | None,
    update: bool,
    dry_run: bool,
    apply: bool,
    as_json: bool,
) -> None:
    """Onboard tenant NAME in a region: allocate its VPC CIDR and GPU capacity, write its stack config,
    inventory and handover note.

    NAME is a DNS label: a lower-case letter first, then [a-z0-9-], at most 32 characters. The CIDR is
    the first free block of the region's tenant supernet; the AZ is the first that has room for all
    NODES. Everything is checked before anything is written, and the files are written all or none.

    Each tenant has an AWS account of its own: its first onboarding writes the account stack
    (stacks/Pulumi.account-NAME.yaml) from --new-account (a new account, whose root e-mail is ours) or
    --account-id (adopt one); onboardings in other regions reuse it. --display-name and --admin-principal
    belong to the account: the tenant gets in by its admin principals assuming the tenant admin role, never
    as the account's root user.
    """
    from gpucloud.automation import pulumi_up, require_pulumi_cli
    from gpucloud.tenants.onboard import OnboardRequest
    from gpucloud.tenants.onboard import onboard as do_onboard

    if account_email is not None:
        raise ConfigError(
            f"--account-email={account_email!r}: a tenant account's root e-mail is ours now (the org stack's "
            "accountMailbox, plus-addressed with the tenant's name): pass --new-account"
        )
    if apply and dry_run:
        raise ConfigError("--apply and --dry-run exclude each other: a dry run writes nothing to apply")
    if apply:
        require_pulumi_cli("--apply", "nothing was written: run again without --apply, then `pulumi up` yourself")
    repo = repository(ctx)
    request = OnboardRequest(
        name=name,
        region=region,
        gpu_type=gpu_type,
        nodes=nodes,
        storage_tib=storage_tib,
        fsx_tib=fsx_tib,
        egress=egress,
        az=az,
        root_volume_gib=root_volume_gib,
        display_name=display_name,
        org=org,
        admin_principals=admin_principals or None,
        remove_admin_principals=remove_admin_principals,
        new_account=new_account,
        account_id=account_id,
        scheduler=scheduler,
        head_node_type=head_node_type,
        term=term,
        update=update,
    )
    result = do_onboard(repo, request, dry_run=dry_run)
    if as_json:
        emit_json({**result.as_json(), "dry_run": dry_run, "updated": result.updated})
    elif dry_run:
        _show_dry_run(ctx, result)
    else:
        _show_written(result)
    if apply:
        for stack in _stacks_to_apply(result):
            pulumi_up(repo.root, stack)


def _show_written(result: Onboarding) -> None:
    cfg = result.config
    if not result.written:
        out.print(f"nothing to change: tenant {cfg.tenant}'s files for {cfg.region} already say this; nothing written")
        return
    verb = "updated" if result.updated else "onboarded"
    out.print(
        f"{verb} tenant {cfg.tenant} in {cfg.region}: stack {cfg.stack}, cidr {cfg.cidr}, "
        f"{cfg.node_pool.nodes} × {cfg.node_pool.gpu_type} in {cfg.node_pool.az_id}, {_scheduler(cfg)}"
    )
    for file in result.files:
        out.print(f"  {_verb(file, dry_run=False)} {file.path}")
        if file.changed and file.existed:
            _print_diff(file, before=file.before)
    _next_steps(result)


def _scheduler(cfg: TenantConfig) -> str:
    if cfg.cluster.head_node_type is None:
        return "no scheduler (bare nodes)"
    return f"Slurm, head node {cfg.cluster.head_node_type}"


def _print_diff(file: RenderedFile, *, before: str) -> None:
    """The unified diff of what onboarding changes (or would change) in a file that exists."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        file.text.splitlines(keepends=True),
        fromfile=f"a/{file.path}",
        tofile=f"b/{file.path}",
    )
    for line in lines:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        out.print(Text(line.rstrip("\n"), style=style or ""))


def _verb(file: RenderedFile, *, dry_run: bool) -> str:
    if not file.changed:
        return "unchanged"
    if dry_run:
        return "would update" if file.existed else "would write"
    return "updated" if file.existed else "wrote"


def _stacks_to_apply(result: Onboarding) -> list[str]:
    """What `pulumi up` runs on, in order: a new account (its tenant stacks read it), then the tenant."""
    new_account = any(f.path.name == f"Pulumi.{result.account.stack}.yaml" and not f.existed for f in result.written)
    return [*([result.account.stack] if new_account else []), result.config.stack]


def _next_steps(result: Onboarding) -> None:
    cfg = result.config
    inventory = next(f.path for f in result.files if f.path.name.endswith("aws_ec2.yml"))
    out.print("next:")
    out.print("  git add -A && git commit             # review; CI runs `gpucloud validate`")
    for stack in _stacks_to_apply(result):
        why = "   # the account, before its region stacks" if stack == result.account.stack else ""
        out.print(f"  pulumi up -s {cfg.org}/{stack}{why}")
    playbook = " --playbook cluster" if cfg.cluster.has_head_node else ""
    out.print(f"  gpucloud nodes configure --inventory {inventory}{playbook}")
    out.print(f"  gpucloud health check --expect {cfg.node_pool.gpu_type}   # on each node, before handover")


def _show_dry_run(ctx: click.Context, result: Onboarding) -> None:
    from gpucloud.plan.offline import Planner
    from gpucloud.plan.render import render_summary
    from gpucloud.repo import config_mapping

    for file in result.files:
        heading(out, f"{_verb(file, dry_run=True)} {file.path}")
        if not file.changed:
            continue
        if file.existed:
            _print_diff(file, before=file.before)
        else:
            out.print(Text(file.text))
    configs = {
        f.path.name[len("Pulumi.") : -len(".yaml")]: config_mapping(f.text, str(f.path))
        for f in result.files
        if f.path.name.startswith("Pulumi.")
    }
    plan = Planner(repository(ctx), pending=configs).plan(result.stack)
    heading(out, f"offline plan of {result.stack}")
    render_summary(out, plan)
    # The next steps of a real run (commit, pulumi up) do not apply to what was not written.
    out.print("dry run: nothing written; to write it, run the same command without --dry-run")


@tenant.command("list", context_settings=CONTEXT)
@click.option("--region", metavar="R", help="Only the tenants of this region.")
@click.option("--wide", is_flag=True, help="Every column on a terminal too (piped output always has every column).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of tenants.")
@click.pass_context
def list_(ctx: click.Context, region: str | None, wide: bool, as_json: bool) -> None:
    """List onboarded tenants: name, region, stack, account, CIDR, GPU type and nodes, AZ, egress, scheduler,
    term and monthly price (our rate card, gpucloud/data/rate_card.yaml: indicative)."""
    from gpucloud.registry import load_registry
    from gpucloud.tenants.pricing import monthly_price
    from gpucloud.transaction import repository_lock

    repo = repository(ctx)
    with repository_lock(repo.root):
        registry = load_registry(repo)
    if region is not None:
        registry.require_region(region)
    rows = [t for t in registry.tenants if region is None or t.region == region]
    for problem in registry.problems.values():
        err.print(f"warning: {escape(problem)} (not listed)")
    accounts = {row.name: registry.account(row.name) for row in rows}
    prices = {row.stack: monthly_price(row) for row in rows}
    if as_json:
        emit_json([{**_row_json(row, accounts[row.name]), "monthly_price_usd": prices[row.stack]} for row in rows])
        return
    # On a terminal, the columns that matter fit (about 200 characters for all of them); the rest with --wide or
    # --json. Piped output always has every column, whole.
    every = wide or not out.is_terminal
    columns: list[str | Column] = ["name", "region", "gpu type", "nodes", "term", Column("$/month", justify="right")]
    columns += ["status"]
    if every:
        columns += ["stack", "account", "org", "cidr", "az", "egress", "scheduler", "display name"]
    table = Table(*columns, show_edge=False)
    for row in rows:
        account = accounts[row.name]
        status = f"leaving since {row.leaving}" if row.leaving else "active"
        cells: list[str | Text] = [
            row.name, row.region, row.gpu_type, str(row.nodes), row.term, f"{prices[row.stack]:,.0f}", status,
        ]  # fmt: skip
        if every:
            display = Text(
                (account.display_name if account else "").replace("\n", " "), overflow="ellipsis", no_wrap=True
            )
            label = account.label if account else "missing"
            cells += [row.stack, label, row.org, str(row.cidr), row.az, row.egress, row.scheduler, display]
        table.add_row(*cells)
    out.print(table)
    more = "" if every else "; --wide or --json for stack, account, CIDR, AZ, egress, scheduler, display name"
    out.print(f"{len(rows)} tenant(s); $/month: {_rate_note()}{more}")


def _rate_note() -> str:
    from gpucloud.prices import load_prices
    from gpucloud.rates import load_rate_card

    card = load_rate_card()
    hours = load_prices().hours_per_month
    return f"our rate card of {card.rate_date} ({card.owner}), {hours} h a month; indicative"


def _row_json(row: TenantEntry, account: AccountEntry | None) -> dict[str, Any]:
    """A tenant row: its region stack, and its account (null while its account stack is missing)."""
    return {
        **row.as_json(),
        "display_name": account.display_name if account else row.name,
        "account": account.as_json() if account else None,
    }


def _check_destroyed(root: Path, stacks: list[str]) -> str:
    """Refuse (exit 1) when one of ``stacks`` still manages resources; "" when every one was found empty, else why
    not all could be checked (no Pulumi CLI, a stack the backend does not have): the confirmation then says so."""
    from gpucloud.automation import ApplyError, managed_resources, pulumi_cli

    if pulumi_cli() is None:
        return f"the Pulumi CLI is not on PATH; are {', '.join(stacks)} destroyed?"
    missing = []
    for stack in stacks:
        left = managed_resources(root, stack)
        if left is None:  # removed (pulumi stack rm), or not in the backend logged in to: not known, not "empty"
            missing.append(stack)
        elif left:
            raise ApplyError(
                f"--destroyed: stack {stack} still manages {left} resource(s): pulumi destroy -s {stack} first"
            )
    if missing:
        return f"no stack {', '.join(missing)} in the backend you are logged in to; were they destroyed and removed?"
    return ""


@tenant.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--region", required=True, metavar="R", help="The region to offboard the tenant from.")
@click.option(
    "--destroyed",
    is_flag=True,
    help="Second step, once `pulumi destroy` has run: remove the files, retire the CIDR and capacity.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {tenant, region, stack, cidr, destroyed, files, account, retired_until, steps} as JSON.",
)
@click.pass_context
def offboard(ctx: click.Context, name: str, region: str, destroyed: bool, yes: bool, as_json: bool) -> int:
    """Offboard tenant NAME from a region, in two steps.

    \b
    1. gpucloud tenant offboard NAME --region R
       marks its stack (and, with its last region, its account stack) as leaving; the files stay, so
       `pulumi destroy` runs from this checkout; prints the exact steps.
    2. gpucloud tenant offboard NAME --region R --destroyed
       once the stacks are destroyed: removes the stack config, inventory and handover note (and the
       account stack with the last region) and keeps the CIDR and capacity retired for 30 days
       (stacks/retired.yaml), so no new tenant gets them while the old network may linger.
    """
    from gpucloud.registry import load_registry
    from gpucloud.tenants.offboard import offboard as do_offboard
    from gpucloud.transaction import repository_lock

    repo = repository(ctx)
    with repository_lock(repo.root):
        registry = load_registry(repo)
    entry = registry.tenant(name, region)
    if entry is None:  # a typo is refused before anyone is asked to confirm it
        registry.require_region(region)
        raise registry.unknown_tenant(name, region)
    account = registry.account(name)
    last = len([t for t in registry.tenants if t.name == name]) == 1 and account is not None
    if destroyed:
        what = "remove its files and retire its CIDR" + (", and remove its account stack's file" if last else "")
        stacks = [f"{entry.org}/{entry.stack}"] + ([f"{account.org}/{account.stack}"] if last and account else [])
        unchecked = _check_destroyed(repo.root, stacks)
        if unchecked:
            what += f" (nothing could be checked: {unchecked})"
            if yes:
                err.print(f"warning: nothing could be checked: {unchecked} --yes says they are")
    elif last and account is not None:
        gone = (
            "its AWS account is closed (AWS can reopen it within 90 days)"
            if account.account_id is None
            else f"its AWS account {account.account_id} leaves our organization or is closed"
        )
        what = f"mark it as leaving; it is {name}'s last region, so its account stack goes too: once destroyed, {gone}"
    else:
        what = "mark it as leaving"
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"offboarding {name} from {region} will {what}; pass --yes to confirm")
        if not click.confirm(f"Offboard tenant {name} from {region}: {what}?"):
            err.print("nothing changed")
            return 1
    result = do_offboard(repo, name, region, destroyed=destroyed)
    if as_json:
        emit_json(result.as_json())
        return 0
    if destroyed:
        out.print(f"offboarded tenant {result.tenant} from {result.region}: cidr {result.cidr} retired until "
                  f"{result.retired_until}")  # fmt: skip
        for path in result.removed:
            out.print(f"  removed {path}")
    else:
        out.print(f"tenant {result.tenant} in {result.region} is leaving: its files stay until it is destroyed")
        if result.account is not None:
            out.print(f"that is its last region: its account stack {result.account.stack} goes too")
        for path in result.removed:
            out.print(f"  marked {path}")
    out.print("next:")
    for step in result.destroy_steps():
        out.print(f"  {step}")
    return 0
