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
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def repository(ctx: click.Context) -> Repository:
    """The repository ``--root`` names, or the nearest parent of the working directory holding Pulumi.yaml."""
    root: Path | None = ctx.find_root().params.get("root")
    return Repository.at(root)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
