"""A throw-away repository for benchmarks: the project file, the templates and the org stack of this one."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def new_repository(dest: Path, served: list[str] | None = None) -> Path:
    """Make ``dest`` a repository with no region or tenant yet; its stacks folder. ``served``: the regions the org
    stack serves (the regions the benchmark adds, so that `validate` finds no problem) [this repository's]."""
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", dest / "Pulumi.yaml")
    shutil.copytree(ROOT / "templates", dest / "templates")
    stacks = dest / "stacks"
    stacks.mkdir()
    org = (ROOT / "stacks" / "Pulumi.org.yaml").read_text()
    if served is not None:
        doc = yaml.safe_load(org)
        doc["config"]["gpucloud:servedRegions"] = sorted(served)
        org = yaml.safe_dump(doc, sort_keys=False)
    (stacks / "Pulumi.org.yaml").write_text(org)
    return stacks
