"""What every command of the CLI shares: context settings, the consoles, the repository, JSON output."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gpucloud.repo import Repository

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Output that is not a terminal (a pipe, a file) is never cut to 80 columns: full values, plain tables.
_WIDE = 1_000


class _Console(Console):
    def on_broken_pipe(self) -> None:  # rich's own exits 1, which a `set -o pipefail` script reads as a failure
        self.quiet = True
        die_of_sigpipe()


def die_of_sigpipe() -> None:
    """The reader of our output went away (``gpucloud plan X | head``): end as a Unix tool does, killed by SIGPIPE
    (status 128+13 in a shell), silently. Python ignores SIGPIPE and raises BrokenPipeError instead, and its own
    flush of stdout at exit would then print "Exception ignored" (Python docs, signal module, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def _console(stream: Any) -> Console:
    wide = None if stream.isatty() else _WIDE
    return _Console(file=stream, highlight=False, soft_wrap=True, width=wide)


out = _console(sys.stdout)
err = _console(sys.stderr)


def heading(console: Console, title: str) -> None:
    """A section heading: a rule across the terminal, or, piped, a line as long as its title (a 1,000-column rule
    helps no one reading a file)."""
    if console.is_terminal:
        console.rule(title)
    else:
        console.print(f"── {title} ──", markup=False, highlight=False)


def repository(ctx: click.Context) -> Repository:
    """The repository ``--root`` names, or the nearest parent of the working directory holding Pulumi.yaml."""
    root: Path | None = ctx.find_root().params.get("root")
    return Repository.at(root)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
