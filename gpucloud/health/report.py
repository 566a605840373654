"""A health report for people (rich table), machines (JSON) and node_exporter (Prometheus textfile)."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpucloud.exposition import label as _label
from gpucloud.exposition import write_atomically
from gpucloud.health.checks import FAIL, PASS, WARN
from gpucloud.health.run import Report

VERDICT_VALUE = {PASS: 0, WARN: 1, FAIL: 2}
STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red"}


def gpu_ranges(gpus: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    parts: list[str] = []
    for gpu in sorted(gpus):
        if parts and "-" not in parts[-1].split(",")[-1] and int(parts[-1]) == gpu - 1:
            parts[-1] = f"{parts[-1]}-{gpu}"
        elif parts and "-" in parts[-1] and int(parts[-1].split("-")[1]) == gpu - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{gpu}"
        else:
            parts.append(str(gpu))
    return ",".join(parts)


def render(console: Console, report: Report) -> None:
    """One row per check and outcome: GPUs that saw the same thing share a row (8 healthy GPUs: one row)."""
    table = Table(show_edge=False, title=f"GPU health, expecting {report.expected or 'no particular SKU'}")
    for column in ("check", "gpu", "verdict", "seen", "expected", "reason"):
        table.add_column(column)
    rows: dict[tuple[str, str, str, str, str], list[int]] = {}
    for check in report.checks:
        key = (check.name, check.verdict, str(check.seen), str(check.expected), check.reason)
        rows.setdefault(key, [])
        if check.gpu is not None:
            rows[key].append(check.gpu)
    for (name, verdict, seen, expected, reason), gpus in rows.items():
        table.add_row(
            name,
            gpu_ranges(gpus) if gpus else "-",
            Text(verdict, style=STYLE[verdict]),
            Text("-" if seen == "None" else seen),
            Text("-" if expected == "None" else expected),
            Text(reason),
        )
    console.print(table)
    failed = sum(1 for c in report.checks if c.verdict == FAIL)
    warned = sum(1 for c in report.checks if c.verdict == WARN)
    console.print(
        Text(f"verdict: {report.verdict}", style=STYLE[report.verdict]),
        f"({len(report.checks)} checks, {failed} failed, {warned} warnings)",
    )


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


def write_textfile(path: Path, report: Report) -> None:
    """Atomically, as node_exporter asks: it must never read a half-written file."""
    write_atomically(path, textfile(report))
