"""The human view of a plan: the resource tree, the summary and the violations."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from gpucloud.config import AccountConfig
from gpucloud.plan.mocks import MADE_UP_ACCOUNTS, made_up_account_id
from gpucloud.plan.offline import Plan
from gpucloud.policy import Violation


def _money(value: float | None, places: int = 2) -> str:
    return "unknown" if value is None else f"${value:,.{places}f}"


def render_plan(console: Console, plan: Plan) -> None:
    tree = Tree(f"[bold]{plan.stack}[/bold] (offline plan: what `pulumi preview` would create)")
    nodes: dict[str | None, Tree] = {None: tree}
    accounts = plan.accounts()
    account_stack = getattr(plan.config, "account_stack", None) or (
        plan.config.stack if isinstance(plan.config, AccountConfig) else None
    )
    made_up = {made_up_account_id(account_stack)} if account_stack else set()
    made_up |= MADE_UP_ACCOUNTS  # new accounts of this plan and of the stacks it reads (the org's own accounts)
    split = len(accounts) > 1  # some resources go into another account: say where each one lands
    for res in plan.resources:
        parent = nodes.get(res.parent, tree)
        # Green "+" as `pulumi preview` and `terraform plan` show a create (no colour when piped or with NO_COLOR).
        label = (
            f"[green]+[/green] {res.type} [bold]{res.name}[/bold]"
            if res.custom
            else f"[green]+[/green] [cyan]{res.type}[/cyan] [bold]{res.name}[/bold]"
        )
        if split and res.custom and not res.type.startswith("pulumi:providers:"):
            where = (
                f"account {accounts.get(res.provider, 'unknown')}"
                if res.provider is not None
                else "our capacity account, as its role"
                if res.type.startswith("pulumi-python:dynamic:")
                else "the management account"
            )
            if res.provider is not None and accounts.get(res.provider) in made_up:
                where += "*"
            name = plan.account_names.get(accounts.get(res.provider, ""))
            if res.provider is not None and name:
                where += f" {name}"
            label += f" [magenta](in {where})[/magenta]"
        nodes[res.urn] = parent.add(label)
    console.print(tree)
    shown = sorted(made_up & set(accounts.values()))
    if shown:
        what = "an id" if len(shown) == 1 else "ids"
        console.print(f"* {', '.join(shown)}: {what} made up offline; AWS gives a new account its id at `pulumi up`")
    render_summary(console, plan)


def render_violations(console: Console, violations: list[Violation]) -> None:
    if violations:
        console.print(f"[bold red]{len(violations)} policy violation(s):[/bold red]")
        for v in violations:
            console.print(f"  [red]{v.rule}[/red] {escape(v.urn)}: {escape(v.message)}")
    else:
        console.print("[green]policy: no violations[/green]")


def render_summary(console: Console, plan: Plan) -> None:
    """Resources by type, indicative cost, GPUs and policy violations."""
    summary = plan.summary
    by_type = Table(title="Resources by type", show_edge=False)
    by_type.add_column("type")
    by_type.add_column("count", justify="right")
    for type_, count in summary.by_type.items():
        by_type.add_row(type_, str(count))
    by_type.add_row("[bold]total[/bold]", f"[bold]{summary.resource_count}[/bold]")
    console.print(by_type)

    cost = Table(
        title=f"Indicative cost ({summary.price_region} list prices; catalog {summary.catalog_date}, "
        f"prices {summary.price_date})",
        show_edge=False,
    )
    columns = (("item", "left"), ("quantity", "right"), ("unit", "left"), ("$/hour", "right"), ("$/month", "right"))
    for column, justify in columns:
        cost.add_column(column, justify=justify)  # type: ignore[arg-type]
    for line in summary.cost:
        quantity = f"{line.quantity:g}"
        month = line.usd_month(summary.hours_per_month)
        cost.add_row(
            line.item,
            quantity,
            line.unit,
            "unknown" if line.usd_hour is None else f"{line.usd_hour:,.4f}",
            "unknown" if month is None else f"{month:,.2f}",
        )
    console.print(cost)
    # The line engineers look for first, in Terraform's words (a fresh stack: everything is created).
    console.print(
        f"Plan: [green]{summary.resource_count} to add[/green], 0 to change, 0 to destroy "
        "(a fresh stack, as `pulumi preview` shows one)"
    )
    console.print(
        f"GPUs: [bold]{summary.gpus}[/bold]   indicative: [bold]{_money(summary.hourly_usd, 4)}/hour[/bold], "
        f"{_money(summary.monthly_usd)}/month ({summary.hours_per_month} h)"
    )
    for item in summary.unpriced:
        console.print(f"  not priced: {item}")
    render_violations(console, plan.violations)
