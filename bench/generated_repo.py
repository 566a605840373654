"""A throw-away repository for benchmarks: the project file, the templates and the org stack of this one."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def new_repository(dest: Path) -> Path:
    """Make ``dest`` a repository with no region or tenant yet; its stacks folder."""
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", dest / "Pulumi.yaml")
    shutil.copytree(ROOT / "templates", dest / "templates")
    stacks = dest / "stacks"
    stacks.mkdir()
    shutil.copy(ROOT / "stacks" / "Pulumi.org.yaml", stacks / "Pulumi.org.yaml")
    return stacks
