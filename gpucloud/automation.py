"""``pulumi up`` through the Automation API, for ``--apply``. Needs the Pulumi CLI on PATH and credentials.

Nothing here is faked: without the CLI, ``require_pulumi_cli`` refuses before anything is written.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from gpucloud.errors import GpucloudError


class PulumiCliMissingError(GpucloudError):
    """``--apply`` asked for, but there is no ``pulumi`` on PATH."""


class ApplyError(GpucloudError):
    """``pulumi up`` ran and failed."""

    exit_code = 1


def pulumi_cli() -> str | None:
    """The Pulumi CLI's path, or None when it is not on PATH."""
    return shutil.which("pulumi")


def require_pulumi_cli(what: str, instead: str) -> str:
    """The CLI's path; else refuse (exit 2) saying what to do instead. Call before anything is written."""
    path = pulumi_cli()
    if path is None:
        raise PulumiCliMissingError(
            f"{what} needs the Pulumi CLI on PATH and it is not there (https://www.pulumi.com/docs/install/); {instead}"
        )
    return path


def managed_resources(root: Path, stack: str) -> int | None:
    """How many resources ``stack`` (``org/name``) still manages, from its state (``pulumi stack export``); None when
    the stack no longer exists (``pulumi stack rm`` ran). Its root Stack and its providers are not counted."""
    from pulumi import automation as auto

    try:
        state = auto.select_stack(stack_name=stack, work_dir=str(root)).export_stack()
    except auto.errors.StackNotFoundError:
        return None
    except auto.errors.CommandError as err:
        last = str(err).strip().splitlines()[-1:] or ["no output"]
        raise ApplyError(f"pulumi stack export -s {stack} failed: {last[0]}") from None
    resources = (state.deployment or {}).get("resources") or []
    return sum(
        1
        for r in resources
        if r.get("type") != "pulumi:pulumi:Stack" and not r.get("type", "").startswith("pulumi:providers:")
    )


def pulumi_up(root: Path, stack: str) -> None:
    """Select (or create) ``stack`` of the project at ``root`` and run ``pulumi up``, streaming its output."""
    from pulumi import automation as auto  # imported only here: the rest of the CLI does not need it

    try:
        workspace_stack = auto.create_or_select_stack(stack_name=stack, work_dir=str(root))
        workspace_stack.up(on_output=lambda line: sys.stderr.write(line + "\n"))
    except auto.errors.CommandError as err:
        last = str(err).strip().splitlines()[-1:] or ["no output"]
        raise ApplyError(f"pulumi up -s {stack} failed: {last[0]}") from None
