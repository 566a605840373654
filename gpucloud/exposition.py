"""Writing files other programs read while we write them: Prometheus textfiles for node_exporter's textfile
collector, and pages people open. Each is written beside its target and renamed over it (never half-written)."""

from __future__ import annotations

import os
from pathlib import Path

from gpucloud.errors import ConfigError
from gpucloud.interrupt import removed_on_interrupt


def label(value: str) -> str:
    """A Prometheus label value, escaped as the text exposition format asks."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def check_output_path(path: Path, option: str, suffix: str, what: str) -> Path:
    """``path`` if it ends with ``suffix`` and its folder exists; a ConfigError naming the option otherwise."""
    if path.suffix != suffix:
        raise ConfigError(f"{option}={path}: {what}")
    if not path.parent.is_dir():
        raise ConfigError(f"{option}={path}: the directory {path.parent} does not exist")
    return path


def check_textfile_path(path: Path) -> Path:
    return check_output_path(path, "--textfile", ".prom", "node_exporter's textfile collector reads only *.prom files")


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with removed_on_interrupt(tmp):
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
