"""Every `gpucloud ...` example in README.md and in `--help` runs as shown on the sample repository.

Each README code block runs in order in a scratch copy of the repository, and so does each command's help.
A line with placeholders (NAME, SKU=N, PATH, `...`, `<...>`) is a synopsis, not an example. What this machine
cannot have is the one accepted refusal: exit 2 naming the missing Pulumi CLI or the missing nodes.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_repository
from pty_run import run_in_pty

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\.\.\.|<[^>]*>|\b(?:NAME|STACK|PATH|SKU|AMI|ROOT|ARN|R|N|DIR|SPEC|GLOB|TEXT|EMAIL|ID)\b")
# What no machine of this workplace has: a refusal that says so is the example running as shown.
MISSING_HERE = ("needs the Pulumi CLI", "inventories/sites/")
NEEDS_AWS = ("nodes configure", "health check")  # reach real nodes or a GPU


def _examples(text: str) -> list[str]:
    """`gpucloud ...` commands of shell blocks, continuation lines joined, comments and pipes cut off."""
    commands: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = re.split(r"\s+#\s|\s{2,}", raw.strip())[0]  # a comment, or the description beside a synopsis
        current = f"{current} {line}" if current else line
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        if current.startswith("gpucloud "):
            commands.append(re.split(r" [|>&]", current)[0].strip())
        current = ""
    return commands


def readme_blocks() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    return [_examples(block) for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S)]


def help_examples() -> list[list[str]]:
    commands = ["", "tenant", "tenant onboard", "tenant offboard", "region add", "rollout", "plan", "validate"]
    blocks = []
    for command in commands:
        shown = subprocess.run(
            [sys.executable, "-m", "gpucloud", *command.split(), "--help"], capture_output=True, text=True
        ).stdout
        blocks.append(_examples("\n".join(line.strip() for line in shown.splitlines())))
    return blocks


def run_block(root: Path, commands: list[str]) -> list[str]:
    """Run ``commands`` in ``root``; the ones that did not run as shown, with why."""
    failures = []
    for command in commands:
        if PLACEHOLDER.search(command.removeprefix("gpucloud ")) or command.startswith(
            tuple(f"gpucloud {n}" for n in NEEDS_AWS)
        ):
            continue
        args = ["--root", str(root), *shlex.split(command)[1:]]
        if "offboard" in args and "--yes" not in args:  # it asks first: answer at a terminal, as a person does
            result = run_in_pty(args, answer="y")
            code, said = result.returncode, result.output
        else:
            done = subprocess.run(
                [sys.executable, "-m", "gpucloud", *args], capture_output=True, text=True, timeout=600
            )
            code, said = done.returncode, done.stdout + done.stderr
        if code == 0 or (code == 2 and any(m in said for m in MISSING_HERE)):
            continue
        failures.append(f"{command}: exit {code}: {said.strip()[-300:]}")
    return failures


def test_the_readme_examples_run_as_shown(tmp_path: Path) -> None:
    blocks = [b for b in readme_blocks() if b]
    assert len(blocks) >= 4
    tour = blocks[0]  # README's "A ten-command tour": make, then nine gpucloud commands, every one run here
    assert len(tour) == 9 and not [c for c in tour if PLACEHOLDER.search(c.removeprefix("gpucloud "))], tour
    failures = [f for i, block in enumerate(blocks) for f in run_block(copy_repository(tmp_path / str(i)), block)]
    assert failures == []


def test_the_help_examples_run_as_shown(tmp_path: Path) -> None:
    blocks = [b for b in help_examples() if b]
    assert sum(len(b) for b in blocks) >= 8
    failures = [f for i, block in enumerate(blocks) for f in run_block(copy_repository(tmp_path / str(i)), block)]
    assert failures == []
