"""A health report for people (rich table), machines (JSON) and node_exporter (Prometheus textfile)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpucloud.errors import ConfigError
from gpucloud.health.checks import FAIL, PASS, WARN
from gpucloud.health.run import Report

VERDICT_VALUE = {PASS: 0, WARN: 1, FAIL: 2}
STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red"}


def render(console: Console, report: Report) -> None:
    table = Table(show_edge=False, title=f"GPU health, expecting {report.expected or 'no particular SKU'}")
    for column in ("check", "gpu", "verdict", "seen", "expected", "reason"):
        table.add_column(column)
    for check in report.checks:
        table.add_row(
            check.name,
            "-" if check.gpu is None else str(check.gpu),
            Text(check.verdict, style=STYLE[check.verdict]),
            Text(str(check.seen if check.seen is not None else "-")),
            Text(str(check.expected if check.expected is not None else "-")),
            Text(check.reason),
        )
    console.print(table)
    failed = sum(1 for c in report.checks if c.verdict == FAIL)
    warned = sum(1 for c in report.checks if c.verdict == WARN)
    console.print(
        Text(f"verdict: {report.verdict}", style=STYLE[report.verdict]),
        f"({len(report.checks)} checks, {failed} failed, {warned} warnings)",
    )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def textfile(report: Report, now: float | None = None) -> str:
    lines = [
        "# HELP gpucloud_gpu_health_verdict Node verdict of gpucloud health check: 0 PASS, 1 WARN, 2 FAIL.",
        "# TYPE gpucloud_gpu_health_verdict gauge",
        f'gpucloud_gpu_health_verdict{{expected="{_label(report.expected or "")}"}} {VERDICT_VALUE[report.verdict]}',
        "# HELP gpucloud_gpu_health_check Verdict of one check: 0 PASS, 1 WARN, 2 FAIL.",
        "# TYPE gpucloud_gpu_health_check gauge",
    ]
    for check in report.checks:
        gpu = "" if check.gpu is None else str(check.gpu)
        lines.append(
            f'gpucloud_gpu_health_check{{check="{_label(check.name)}",gpu="{gpu}"}} {VERDICT_VALUE[check.verdict]}'
        )
    lines += [
        "# HELP gpucloud_gpu_health_last_run_timestamp_seconds When the check ran (Unix time).",
        "# TYPE gpucloud_gpu_health_last_run_timestamp_seconds gauge",
        f"gpucloud_gpu_health_last_run_timestamp_seconds {now if now is not None else time.time():.0f}",
    ]
    return "\n".join(lines) + "\n"


def check_textfile_path(path: Path) -> Path:
    if path.suffix != ".prom":
        raise ConfigError(f"--textfile={path}: node_exporter's textfile collector reads only *.prom files")
    if not path.parent.is_dir():
        raise ConfigError(f"--textfile={path}: the directory {path.parent} does not exist")
    return path


def write_textfile(path: Path, report: Report) -> None:
    """Atomically, as node_exporter asks: it must never read a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(textfile(report), encoding="utf-8")
    os.replace(tmp, path)
