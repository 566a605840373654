"""The ``gpucloud`` command line (DESIGN.md, "Command line contract").

Exit status: 0 done, 1 the operation ran and found a failure, 2 bad input or a missing
prerequisite, with a short message on stderr and no traceback. ``main(argv)`` returns the
status so tests can call the CLI in-process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from gpucloud import __version__
from gpucloud.cli_capacity import capacity
from gpucloud.cli_health import health
from gpucloud.cli_nodes import nodes
from gpucloud.cli_ops import ops
from gpucloud.cli_region import region
from gpucloud.cli_rollout import rollout
from gpucloud.cli_support import CONTEXT, die_of_sigpipe, emit_json, out, repository
from gpucloud.cli_support import err as err_console
from gpucloud.cli_tenant import tenant
from gpucloud.errors import ConfigError, GpucloudError

# Modules of the `infra` extra: a bare GPU node (`pip install gpucloud`) has none of them.
INFRA_MODULES = frozenset({"pulumi", "pulumi_aws", "pulumi_policy", "jinja2", "ansible_runner", "ansible"})


@click.group(context_settings=CONTEXT)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="The gpucloud repository to work on (default: the nearest parent holding Pulumi.yaml).",
)
@click.version_option(__version__, prog_name="gpucloud")
def app(root: Path | None) -> None:
    """Infrastructure as code for renting out GPU capacity: regions, tenants, rollouts, node software, GPU health.

    \b
    Start here:
      gpucloud plan region-us-east-1        offline plan of a region stack
      gpucloud plan tenant-acme-us-east-1   offline plan of a tenant stack
      gpucloud plan STACK --json            the same, as one JSON object
      gpucloud policy check STACK           the isolation and security rules; exit 1 on a violation
      gpucloud validate                     the whole registry: CIDRs disjoint, capacity not over-committed
      gpucloud tenant list                  tenants, their CIDR, GPU type and nodes
      gpucloud tenant onboard NAME --region R --gpu-type SKU --nodes N [--dry-run]
      gpucloud region add R --capacity SKU=N --ami SKU=AMI:ROOT   a new region stack
      gpucloud rollout --plan-only          every stack in waves: plan and policy, halting on failure
      gpucloud nodes configure --inventory PATH   converge GPU nodes with the Ansible playbooks
      gpucloud health check --expect p5.48xlarge   on a GPU node: the hand-over gate
    """


app.add_command(tenant)
app.add_command(capacity)
app.add_command(health)
app.add_command(nodes)
app.add_command(ops)
app.add_command(region)
app.add_command(rollout)


@app.command(context_settings=CONTEXT)
@click.argument("stack")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "terraform-plan"]),
    default=None,
    help="table (default), json (as --json), or terraform-plan: Terraform's plan JSON for Checkov and kin.",
)
@click.option("--graph", is_flag=True, help="Print the dependency graph in DOT (render: dot -Tsvg).")
@click.pass_context
def plan(ctx: click.Context, stack: str, as_json: bool, output_format: str | None, graph: bool) -> None:
    """Offline plan of STACK (e.g. org, account-acme, region-us-east-1, tenant-acme-us-east-1).

    Runs the real stack program under Pulumi's mock runtime (no Pulumi CLI, no cloud, no network) and
    prints the resource tree, a summary (resources by type, GPUs, indicative $/hour and $/month) and any
    policy violations. Violations are listed but the exit status stays 0.

    \b
    gpucloud plan tenant-acme-us-east-1 --graph | dot -Tsvg > acme.svg
    gpucloud plan region-us-east-1 --format terraform-plan > plan.json
    make checkov && .venv-checkov/bin/checkov -f plan.json   # Checkov in a venv of its own
    """
    if as_json and output_format not in (None, "json"):
        raise ConfigError(f"--json and --format {output_format} exclude each other")
    if graph and (as_json or output_format not in (None, "table")):
        raise ConfigError("--graph prints DOT: drop --json/--format")
    from gpucloud.plan.offline import Planner  # imports Pulumi: only for the commands that need it

    result = Planner(repository(ctx)).plan(stack)
    if graph:
        from gpucloud.plan.graph import dot

        sys.stdout.write(dot(result))
        return
    if as_json or output_format == "json":
        emit_json(result.as_json())
        return
    if output_format == "terraform-plan":
        from gpucloud.plan.terraform import terraform_plan

        emit_json(terraform_plan(result))
        return
    from gpucloud.plan.render import render_plan

    render_plan(out, result)


@app.command(context_settings=CONTEXT)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {ok, stacks, problems: [{check, stack, message}], warnings, schedulers: {slurm, none}}.",
)
@click.pass_context
def validate(ctx: click.Context, as_json: bool) -> int:
    """Check the whole registry: every stack config loads, names agree, CIDRs are disjoint, capacity holds.

    \b
    Checks: each stack config loads and its name agrees with its config; region supernets and tenant
    CIDRs never overlap; each tenant CIDR lies in its region's supernet; each tenant's SKU and AZ is
    capacity its region holds, and the region's tenants hold no more than it has; every tenant has its
    account stack, no account or Capacity Block serves two tenants, the org serves every region, account
    e-mails are ours and no admin principal is in an account of ours. Exit 1 on a problem. Warnings
    (exit 0, on stderr): a Capacity Block or a tenant's term that ends within 7 days
    (capacity-block-ending, term-ending), a region whose free GPUs of a SKU are under 10 % (capacity-low).
    CI runs it: two changes that each took "the first free block" cannot both merge.
    """
    from gpucloud.validate import validate as run_validate

    result = run_validate(repository(ctx))
    if as_json:
        emit_json(result.as_json())
    else:
        for problem in result.problems:
            out.print(f"[red]{problem.check}[/red] {escape(problem.stack or '-')}: {escape(problem.message)}")
        clusters = ", ".join(f"{count} {scheduler}" for scheduler, count in result.schedulers.items())
        counts = f"{result.stacks} stack(s), {len(result.problems)} problem(s)"
        out.print(f"validate: {counts}; tenant schedulers: {clusters}")
    for warning in result.warnings:  # on stderr, with or without --json: they never change the exit status
        err_console.print(f"warning: {warning.check} {escape(warning.stack or '-')}: {escape(warning.message)}")
    return 1 if result.problems else 0


@app.group(context_settings=CONTEXT)
def policy() -> None:
    """The isolation and security rules (also a CrossGuard pack: policy/ in this repository)."""


@policy.command("check", context_settings=CONTEXT)
@click.argument("stack")
@click.option("--json", "as_json", is_flag=True, help="Print {stack, violations: [{rule, urn, message}]}.")
@click.pass_context
def policy_check(ctx: click.Context, stack: str, as_json: bool) -> int:
    """Run the rules over STACK's offline plan; exit 1 on any violation.

    The same rules run inside `pulumi preview --policy-pack policy/` against the real engine.
    """
    from gpucloud.plan.offline import Planner
    from gpucloud.plan.render import render_violations
    from gpucloud.policy import rules_for

    result = Planner(repository(ctx)).plan(stack)
    if as_json:
        emit_json({"stack": stack, "violations": [v.as_json() for v in result.violations]})
    else:
        out.print(f"{stack}: {len(rules_for(result.config))} rules over {len(result.resources)} resources")
        render_violations(out, result.violations)
    return 1 if result.violations else 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of exiting."""
    try:
        return _main(argv)
    finally:
        if "pulumi" in sys.modules:  # a command ran the Pulumi SDK: close its event loop while we still can
            from gpucloud.plan.runner import close_event_loop

            close_event_loop()


def _main(argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app.main(args=args, prog_name="gpucloud", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except GpucloudError as err:
        _error(str(err))
        return err.exit_code
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in INFRA_MODULES:
            raise
        _error(f"this command needs gpucloud's infra extra (no module {err.name}): pip install 'gpucloud[infra]'")
        return 2
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else "", err=True)
        return 2
    except click.NoSuchOption as err:
        if err.option_name == "--root" and err.ctx is not None and err.ctx.parent is not None:
            command = err.ctx.command_path.removeprefix("gpucloud ").strip()
            _error(f"--root goes before the command: gpucloud --root DIR {command} ...")
        else:
            hint = f" (see `{err.ctx.command_path} --help`)" if err.ctx else ""
            _error(f"{err.format_message()}{hint}")
        return 2
    except click.UsageError as err:
        hint = f" (see `{err.ctx.command_path} --help`)" if err.ctx else ""
        _error(f"{err.format_message()}{hint}")
        return 2
    except click.exceptions.Exit as err:
        return int(err.exit_code)
    except click.Abort:
        _error("aborted")
        return 130
    except click.ClickException as err:
        _error(err.format_message())
        return err.exit_code


def _error(message: str) -> None:
    lines = [line for line in message.strip().splitlines() if line.strip()][:3]
    sys.stderr.write("gpucloud: error: " + "\n  ".join(lines) + "\n")


def run() -> None:
    """Console-script entry point."""
    try:
        status = main()
        sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C after the command's own handling ended (while exiting): no traceback
        sys.stderr.write("gpucloud: interrupted\n")
        status = 130
    except BrokenPipeError:  # a plain write (JSON) to a reader that went away
        die_of_sigpipe()
    sys.exit(status)
