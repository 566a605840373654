"""``gpucloud nodes configure``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from gpucloud.cli_support import CONTEXT, emit_json, err, out, repository


@click.group(context_settings=CONTEXT)
def nodes() -> None:
    """Configure GPU nodes (AWS or on-prem) with the Ansible playbooks in playbooks/."""


@nodes.command("configure", context_settings=CONTEXT)
@click.option(
    "--inventory",
    required=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="An inventory: inventories/tenants/T/R.aws_ec2.yml, inventories/sample/, an on-prem site.",
)
@click.option("--limit", metavar="PATTERN", help="Only these hosts or groups (Ansible's --limit).")
@click.option(
    "--playbook", default="gpu_nodes", show_default=True, help="gpu_nodes, health, upgrade_driver or cluster."
)
@click.option("--check", is_flag=True, help="Dry run: report what would change, change nothing.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="A run that reaches no host is a success (a pool scaled to zero); without it, a failure that says why.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the per-host results as JSON.")
@click.pass_context
def configure(
    ctx: click.Context, inventory: Path, limit: str | None, playbook: str, check: bool, allow_empty: bool,
    as_json: bool,
) -> int:  # fmt: skip
    """Run a node playbook through ansible-runner; exit 1 when any host failed or was unreachable.

    \b
    Playbooks:
      gpu_nodes        converge: preflight, driver, fabric manager, CUDA, container toolkit, DCGM, EFA,
                       reboot from state, daemons, CDI spec, health gate
      health           the hand-over gate alone (gpucloud health check on every node)
      upgrade_driver   rolling upgrade to the pins, upgrade_batch hosts at a time: drain and wait for
                       jobs, swap the driver, reboot, gate, give the node back; a failed node stays
                       drained and stops the rollout
      cluster          a tenant's Slurm cluster: head node (slurmctld), GPU nodes (gpu_nodes, then
                       MUNGE and slurmd, the health check as Slurm's HealthCheckProgram), a smoke job
    In gpu_nodes and health a failed host never stops the others; the table at the end says which
    host did what. A run that reaches no host fails (exit 1) with Ansible's reason: an inventory that
    did not load (a dynamic inventory without the operator profile's credentials), a --limit that
    matched nothing, an empty inventory; --allow-empty accepts it.
    """
    from gpucloud.nodes import check_inventory, playbook_path
    from gpucloud.nodes import configure as run_configure

    repo = repository(ctx)
    playbook_path(repo.root, playbook)  # refuse a bad name before Ansible starts
    check_inventory(inventory)
    console = err if as_json else out

    def progress(host: str, task: str, status: str) -> None:
        style = {"failed": "red", "unreachable": "red", "changed": "yellow", "skipped": "dim"}.get(status, "green")
        console.print(Text(f"  {host}: {status:<11} {task}", style=style))

    result = run_configure(
        repo.root, inventory, playbook, limit=limit, check=check, progress=progress, allow_empty=allow_empty
    )
    if as_json:
        emit_json({
            "playbook": result.playbook, "ok": result.ok, "hosts": [h.as_json() for h in result.hosts],
            "no_hosts_reason": result.no_hosts_reason or None,
        })  # fmt: skip
    else:
        table = Table(
            "host", "status", "ok", "changed", "failed", "unreachable", "skipped", "first failure", show_edge=False
        )
        for h in result.hosts:
            style = {"ok": "green", "changed": "yellow"}.get(h.status, "bold red")
            table.add_row(
                h.host, Text(h.status, style=style), str(h.ok), str(h.changed), str(h.failed), str(h.unreachable),
                str(h.skipped), Text(h.message[:120]),
            )  # fmt: skip
        out.print(table)
        bad = [h.host for h in result.hosts if h.status in ("failed", "unreachable")]
        if not result.hosts:
            verdict = f"no host was run: {result.no_hosts_reason}" + (
                " (--allow-empty: accepted)" if result.ok else "" if allow_empty else
                " (--allow-empty accepts a pool scaled to zero)"
            )  # fmt: skip
        elif result.ok:
            verdict = "all hosts converged"
        else:
            verdict = f"{len(bad)} host(s) failed: {', '.join(bad) or result.status}"
        out.print(f"{result.playbook}: {verdict}")
    return 0 if result.ok else 1
