"""Ctrl-C, as a user sends it, at many moments of a command: the command stops within seconds, says so in one line,
exits 130, and leaves the repository as it was before or as the finished command leaves it, never in between and
never with a temporary file behind (gpucloud.interrupt).

The signal goes to the process the way a terminal sends it (SIGINT). The moments are counted from when gpucloud's
handler is in place (the kernel shows the process catching SIGTERM, which only gpucloud's handler does): before it,
the interpreter is still starting (about 30 ms on an idle machine, seconds on one kept busy), and an interrupt there
is Python's or the kernel's, not gpucloud's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import snapshot

pytestmark = pytest.mark.integration
DELAYS_S = (0.15, 0.4, 0.8, 1.3, 2.0, 3.0)
STOP_WITHIN_S = 5.0
ONBOARD_GAMMA = ["tenant", "onboard", "gamma", "--region", "us-east-1", "--gpu-type", "p5.48xlarge", "--nodes", "1",
                 "--new-account"]  # fmt: skip


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (the SigCgt mask of /proc/PID/status, bit 15 - 1)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def interrupted(root: Path, args: list[str], delay_s: float) -> tuple[int, str, float]:
    """Run ``gpucloud --root ROOT ARGS``, send SIGINT ``delay_s`` after gpucloud's handler is in place: (exit status,
    stderr, seconds it took to stop after the signal)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucloud", "--root", str(root), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay_s)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{args} did not stop within 60 s of SIGINT sent at {delay_s} s")
    return proc.returncode, err.decode(), time.monotonic() - sent


def assert_stopped_cleanly(status: int, stderr: str, took_s: float, delay_s: float) -> None:
    assert status in (0, 130), (delay_s, status, stderr)
    if status == 130:
        assert took_s < STOP_WITHIN_S, (delay_s, took_s)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gpucloud: interrupted"), (delay_s, stderr)
        assert "Traceback" not in stderr and "Exception ignored" not in stderr


def leftovers(root: Path) -> list[str]:
    """Temporary files of an unfinished change: staged files beside their targets, the journal's directory."""
    staged = [str(p.relative_to(root)) for p in root.rglob("*.gpucloud-*")]
    txn = root / ".gpucloud" / "txn"
    return staged + ([str(txn.relative_to(root))] if txn.exists() else [])


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "tenant-acme-us-east-1"],
        [*ONBOARD_GAMMA, "--dry-run"],
        [
            "region",
            "add",
            "eu-west-1",
            "--capacity",
            "p4d.24xlarge=2",
            "--ami",
            "p4d.24xlarge=ami-0123456789abcdef0:/dev/sda1",
            "--dry-run",
        ],
    ],
    ids=["plan", "onboard-dry-run", "region-add-dry-run"],
)
def test_ctrl_c_stops_a_dry_run_at_once_and_writes_nothing(repo_copy: Path, args: list[str]) -> None:
    before = snapshot(repo_copy)
    stopped = 0
    for delay_s in DELAYS_S:
        status, stderr, took_s = interrupted(repo_copy, args, delay_s)
        assert_stopped_cleanly(status, stderr, took_s, delay_s)
        stopped += status == 130
        assert snapshot(repo_copy) == before and not leftovers(repo_copy)
    assert stopped >= 2  # moments inside the command (a fast machine ends before the last ones): else it proves little


def test_ctrl_c_during_an_onboarding_leaves_before_or_after_and_nothing_behind(repo_copy: Path) -> None:
    args = ONBOARD_GAMMA
    before = snapshot(repo_copy)
    written = {
        "stacks/Pulumi.account-gamma.yaml",
        "stacks/Pulumi.tenant-gamma-us-east-1.yaml",
        "inventories/tenants/gamma/us-east-1.aws_ec2.yml",
        "inventories/tenants/gamma/us-east-1.handover.md",
    }
    for delay_s in DELAYS_S:
        status, stderr, took_s = interrupted(repo_copy, args, delay_s)
        assert_stopped_cleanly(status, stderr, took_s, delay_s)
        assert not leftovers(repo_copy), (delay_s, leftovers(repo_copy))
        after = snapshot(repo_copy)
        if after == before:
            continue
        assert set(after) - set(before) == written, delay_s  # the whole onboarding, or none of it
        assert status == 0 or "rolled back" not in stderr
        off = subprocess.run(
            [sys.executable, "-m", "gpucloud", "--root", str(repo_copy), "tenant", "offboard", "gamma", "--region",
             "us-east-1", "--yes"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert off.returncode == 0, off.stderr
        return  # it finished: the moments before it are what this test is for
