"""What every command of the CLI shares: context settings, the consoles, the repository, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gpucloud.repo import Repository

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Output that is not a terminal (a pipe, a file) is never cut to 80 columns: full values, plain tables.
_WIDE = 1_000


def _console(stream: Any) -> Console:
    wide = None if stream.isatty() else _WIDE
    return Console(file=stream, highlight=False, soft_wrap=True, width=wide)


out = _console(sys.stdout)
err = _console(sys.stderr)


def repository(ctx: click.Context) -> Repository:
    """The repository ``--root`` names, or the nearest parent of the working directory holding Pulumi.yaml."""
    root: Path | None = ctx.find_root().params.get("root")
    return Repository.at(root)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
