"""``gpucloud rollout``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.markup import escape

from gpucloud.cli_support import CONTEXT, emit_json, err, out, repository
from gpucloud.errors import ConfigError
from gpucloud.repo import Repository

if TYPE_CHECKING:
    from gpucloud.rollout.steps import StackOutcome


def _not_leaving(repo: Repository) -> list[str]:
    """The repository's stacks but those being offboarded: a leaving stack is destroyed, never rolled out."""
    from gpucloud.registry import load_registry

    registry = load_registry(repo)
    leaving = {t.stack for t in registry.tenants if t.leaving} | {
        a.stack for a in registry.accounts.values() if a.leaving
    }
    return [s for s in repo.stacks() if s not in leaving]


@click.command(context_settings=CONTEXT)
@click.option("--stacks", "globs", multiple=True, metavar="GLOB", help="Stacks to roll out (repeat) [all].")
@click.option(
    "--waves",
    "spec",
    metavar="SPEC",
    help="Wave order: SPEC, described above [org, canary, regions, accounts, tenants].",
)
@click.option("--parallel", type=click.IntRange(1, 64), default=1, show_default=True, help="Stacks of a wave at once.")
@click.option("--plan-only", is_flag=True, help="Offline plan and policy check of each stack; no Pulumi CLI needed.")
@click.option("--resume", is_flag=True, help="Carry on the last rollout: skip the stacks it finished.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def rollout(
    ctx: click.Context,
    globs: tuple[str, ...],
    spec: str | None,
    parallel: int,
    plan_only: bool,
    resume: bool,
    as_json: bool,
) -> int:
    """Roll stacks out in waves; halt on the first failure; resume later.

    For each stack: its config and the whole registry validate, the offline plan runs and the policy
    rules pass (a violation stops the stack); then, unless --plan-only, `pulumi preview` and `pulumi up`
    through the Automation API, each stack in a workspace directory of its own, and for tenant stacks with
    nodes the GPU health gate. A failure lets the stacks in flight finish and starts nothing else.

    \b
    SPEC: waves separated by ';', each [NAME:]GLOB[,GLOB...]; a stack joins the first wave that matches
    it, stacks no wave matches run last (wave 'rest'). Default:
      org:org;canary:<region stack with the fewest tenants>;regions:region-*;accounts:account-*;tenants:tenant-*
    The canary is the region whose failure hurts the fewest tenants (ties: the first by name). A stack
    never runs before, or with, a stack it reads: regions and accounts read the org stack, a tenant
    stack its region and its account.
    \b
    Examples:
      gpucloud rollout --plan-only
      gpucloud rollout --stacks 'region-*' --stacks 'tenant-*-us-east-1' --parallel 4
      gpucloud rollout --plan-only --stacks 'tenant-*' --waves 'canary:tenant-acme-*;rest:*'
    After a halt (a failure or Ctrl-C), --resume carries on where it stopped. Ctrl-C lets the
    stacks in flight finish and starts no other; a second Ctrl-C stops at once.
    """
    from gpucloud.automation import require_pulumi_cli
    from gpucloud.rollout.runner import RolloutState, rollout_lock, run_rollout
    from gpucloud.rollout.waves import plan_waves, select
    from gpucloud.validate import validate

    repo = repository(ctx)
    if resume and (globs or spec):
        raise ConfigError("--resume carries on the stored rollout with its stacks and waves; drop --stacks/--waves")
    if not plan_only:
        require_pulumi_cli("a rollout without --plan-only", "nothing ran: `gpucloud rollout --plan-only` runs offline")
    with rollout_lock(repo.root):
        if resume:
            state = RolloutState.load(repo.root)
            if state.finished:
                raise ConfigError("--resume: the last rollout finished; start a new one")
            if state.plan_only != plan_only:
                kind = "--plan-only" if state.plan_only else "real"
                raise ConfigError(f"--resume: the stored rollout is a {kind} rollout; resume it the same way")
        else:
            stacks = select(_not_leaving(repo), globs)
            waves = plan_waves(stacks, spec)
            state = RolloutState(stacks=stacks, waves=[[w.name, list(w.stacks)] for w in waves], plan_only=plan_only)
        involved = set(state.stacks)
        problems = [
            p for p in validate(repo).problems if p.stack is None or p.stack in involved or involved & set(p.related)
        ]
        if problems:
            first = problems[0]
            raise ConfigError(f"gpucloud validate: {first.stack}: {first.message} ({len(problems)} problem(s))")
        console = err if as_json else out

        def progress(event: str, outcome: StackOutcome | None) -> None:
            if event == "stopping":
                console.print("[yellow]Ctrl-C: stopping once the stacks in flight finish (Ctrl-C again: now)[/yellow]")
            elif event.startswith("wave:"):
                console.print(f"[bold]wave {escape(event[5:])}[/bold]")
            elif event.startswith("start:"):
                console.print(f"  … {escape(event[6:])}", style="dim")
            elif outcome is not None:
                mark = "[green]✓[/green]" if outcome.ok else "[red]✗[/red]"
                took = outcome.ended - outcome.started
                console.print(f"  {mark} {escape(outcome.stack)} ({took:.1f} s): {escape(outcome.message)}")

        summary = run_rollout(repo.root, state, parallel=parallel, progress=progress)
    if as_json:
        emit_json(summary.as_json())
    else:
        done = sum(1 for o in summary.outcomes.values() if o.ok)
        out.print(
            f"rollout: {done} done, {len(summary.failed)} failed, {len(summary.not_started())} not started, "
            f"{len(summary.skipped)} finished earlier ({summary.elapsed_s:.1f} s)"
        )
        for failure in summary.failed:
            out.print(f"  [red]failed[/red] {failure.stack} at {failure.step}: {escape(failure.message)}")
        if summary.not_started():
            out.print(f"  not started: {', '.join(summary.not_started())}")
            again = "gpucloud rollout --resume" + (" --plan-only" if plan_only else "")
            if summary.interrupted:
                out.print(f"  interrupted (Ctrl-C); what finished is recorded: {again}")
            else:
                out.print(f"  fix the failure, then: {again}")
    return 1 if summary.failed or summary.interrupted else 0
