"""The ``gpucloud`` command line (DESIGN.md, "Command line contract").

Exit status: 0 done, 1 the operation ran and found a failure, 2 bad input or a missing
prerequisite, with a short message on stderr and no traceback. ``main(argv)`` returns the
status so tests can call the CLI in-process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gpucloud import __version__
from gpucloud.errors import GpucloudError
from gpucloud.repo import Repository

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
out = Console(highlight=False, soft_wrap=True)


def _repo(ctx: click.Context) -> Repository:
    root: Path | None = ctx.find_root().params.get("root")
    return Repository.at(root)


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@click.group(context_settings=CONTEXT)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="The gpucloud repository to work on (default: the nearest parent holding Pulumi.yaml).",
)
@click.version_option(__version__, prog_name="gpucloud")
def app(root: Path | None) -> None:
    """Infrastructure as code for renting out GPU capacity: region and tenant stacks, offline plans, policy.

    \b
    Start here:
      gpucloud plan region-us-east-1        offline plan of a region stack
      gpucloud plan tenant-acme-us-east-1   offline plan of a tenant stack
      gpucloud plan STACK --json            the same, as one JSON object
    """


@app.command(context_settings=CONTEXT)
@click.argument("stack")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.pass_context
def plan(ctx: click.Context, stack: str, as_json: bool) -> None:
    """Offline plan of STACK (e.g. region-us-east-1, tenant-acme-us-east-1).

    Runs the real stack program under Pulumi's mock runtime (no Pulumi CLI, no cloud, no network) and
    prints the resource tree, a summary (resources by type, GPUs, indicative $/hour and $/month) and any
    policy violations. Violations are listed but the exit status stays 0.
    """
    from gpucloud.plan.offline import Planner  # imports Pulumi: only for the commands that need it

    result = Planner(_repo(ctx)).plan(stack)
    if as_json:
        _emit_json(result.as_json())
        return
    from gpucloud.plan.render import render_plan

    render_plan(out, result)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of exiting."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app.main(args=args, prog_name="gpucloud", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except GpucloudError as err:
        _error(str(err))
        return err.exit_code
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else "", err=True)
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
    sys.exit(main())
