"""The gpucloud repository on disk: where it is, which stacks it holds, and their config files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gpucloud.choices import closest, did_you_mean
from gpucloud.config import StackConfig, config_from_namespaced
from gpucloud.datafiles import load_yaml
from gpucloud.errors import ConfigError, RepositoryError, StackNotFoundError

PROJECT_FILE = "Pulumi.yaml"
STACKS_DIR = "stacks"


PROJECT_NAME = "gpucloud"


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds ``Pulumi.yaml``: gpucloud's, or a refusal."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_FILE).is_file():
            return _ours(candidate, "the nearest")
    raise RepositoryError(
        f"no {PROJECT_FILE} in {here} or any parent; run inside a gpucloud repository or pass --root DIR"
    )


def _ours(root: Path, which: str) -> Path:
    """``root`` when its Pulumi.yaml is the gpucloud project's; another project's is refused, untouched."""
    try:
        doc = load_yaml((root / PROJECT_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        doc = None
    name = doc.get("name") if isinstance(doc, dict) else None
    if name != PROJECT_NAME:
        instead = "pass --root a gpucloud repository" if which == "--root" else "run inside one or pass --root DIR"
        raise RepositoryError(
            f"{root / PROJECT_FILE} is project {name!r}, not {PROJECT_NAME!r}: not a gpucloud repository; {instead}"
        )
    return root


def config_mapping(text: str, where: str) -> dict[str, Any]:
    """The ``config:`` mapping of a stack config file's text; ``where`` names the file in errors."""
    try:
        doc = load_yaml(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None)  # what the parser found wrong there, in its words
        raise ConfigError(f"{where}{line}: not valid YAML" + (f": {problem}" if problem else "")) from None
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: want a top-level 'config:' mapping")
    return config


@dataclass(frozen=True)
class Repository:
    root: Path

    @classmethod
    def at(cls, root: Path | None) -> Repository:
        if root is None:
            return cls(find_root())
        root = root.resolve()
        if not (root / PROJECT_FILE).is_file():
            raise RepositoryError(f"--root {root}: no {PROJECT_FILE} there")
        return cls(_ours(root, "--root"))

    @property
    def stacks_dir(self) -> Path:
        return self.root / STACKS_DIR

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        prefix, suffix = "Pulumi.", ".yaml"
        return sorted(p.name[len(prefix) : -len(suffix)] for p in self.stacks_dir.glob(f"{prefix}*{suffix}"))

    def raw_config(self, stack: str) -> dict[str, Any]:
        """The stack file's ``config:`` mapping as written (namespaced keys, YAML values)."""
        path = self.stack_file(stack)
        if "/" in stack or stack.startswith(".") or not path.is_file():
            stacks = self.stacks()
            hint = did_you_mean(stack, stacks)
            raise StackNotFoundError(f"no stack {stack!r} in {self.stacks_dir}{hint}; stacks: {closest(stack, stacks)}")
        return config_mapping(path.read_text(encoding="utf-8"), path.name)

    def load(self, stack: str) -> StackConfig:
        """The stack's typed config, checked as ``pulumi up`` would run it."""
        return config_from_namespaced(stack, self.raw_config(stack))
