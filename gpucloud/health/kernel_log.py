"""Xid events from the kernel log: the NVIDIA driver's own record of GPU faults.

Read with ``journalctl -k`` (or ``dmesg`` where there is no journal) under a timeout. A log that
cannot be read is a failure of the check, never a pass: a node whose faults we cannot see is not
handed over.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

XID = re.compile(r"NVRM: Xid \((?P<device>[^)]*)\): (?P<xid>\d+)(?:, (?P<detail>.*))?")
_ISO_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:[+-]\d{2}:?\d{2}|Z)?)")


class KernelLogError(Exception):
    """The kernel log could not be read."""


def read_kernel_log(lookback_hours: float, timeout_s: float) -> list[str]:
    """Kernel log lines of the last ``lookback_hours``; KernelLogError when neither tool can give them."""
    seconds = int(lookback_hours * 3600)
    errors: list[str] = []
    if shutil.which("journalctl"):
        try:
            result = subprocess.run(
                ["journalctl", "-k", "--no-pager", "-o", "short-iso", "--since", f"-{seconds}s"],
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise KernelLogError(f"journalctl -k did not answer within {timeout_s:g} s") from None
        if result.returncode == 0 and "No journal files were found" not in result.stderr:
            return result.stdout.splitlines()
        errors.append(f"journalctl -k: {(result.stderr.strip() or 'exit ' + str(result.returncode)).splitlines()[0]}")
    if shutil.which("dmesg"):
        try:
            result = subprocess.run(
                ["dmesg", "--time-format", "iso"], capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise KernelLogError(f"dmesg did not answer within {timeout_s:g} s") from None
        if result.returncode == 0:
            since = datetime.now(UTC) - timedelta(seconds=seconds)
            return [line for line in result.stdout.splitlines() if _after(line, since)]
        errors.append(f"dmesg: {(result.stderr.strip() or 'exit ' + str(result.returncode)).splitlines()[0]}")
    raise KernelLogError("; ".join(errors) or "neither journalctl nor dmesg is installed")


def _after(line: str, since: datetime) -> bool:
    match = _ISO_PREFIX.match(line)
    if not match:
        return True  # no time on the line: keep it (a false alarm beats a missed Xid)
    try:
        stamp = datetime.fromisoformat(match.group(1).replace(",", "."))
    except ValueError:
        return True
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp >= since


def xid_events(lines: list[str]) -> list[tuple[int, str, str]]:
    """Each Xid in ``lines``: (xid, device, the rest of the message)."""
    found = []
    for line in lines:
        match = XID.search(line)
        if match:
            found.append((int(match.group("xid")), match.group("device"), (match.group("detail") or "").strip()))
    return found
