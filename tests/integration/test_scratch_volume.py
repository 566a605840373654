"""The local_nvme role's boot-time assembler run for real on this machine's loop devices standing in for
instance-store disks: made, mounted, kept over a "reboot" (unmounted, run again), made again after the disk is
wiped (a stop and start), and a disk in use refused. One disk only: this machine's kernel has no md driver
(no /proc/mdstat, no module to load), so a RAID 0 over several cannot be assembled here; the commands for it
are unit-tested (tests/unit/test_scratch.py) and only a real instance shows them work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "playbooks" / "roles" / "local_nvme" / "files" / "gpucloud-scratch"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (losetup, mount)"
    for tool in ("losetup", "mkfs.ext4", "blkid", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/dev/loop-control").exists():
        return "no loop devices on this machine"
    return None


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[str]:
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI runs as root with util-linux and e2fsprogs")
        pytest.skip(reason)
    image = tmp_path / "instance-store.img"
    image.write_bytes(b"")
    os.truncate(image, 64 * 1024 * 1024)
    device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True)
    path = device.stdout.strip()
    try:
        yield path
    finally:
        subprocess.run(["umount", "--all-targets", path], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", path], check=False)


def scratch(device: str, mount_point: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), "--device", device, "--mount-point", str(mount_point)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def source(mount_point: Path) -> str:
    found = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", str(mount_point)], capture_output=True, text=True)
    return found.stdout.strip()


def test_made_kept_over_a_reboot_and_made_again_after_a_wipe(disk: str, tmp_path: Path) -> None:
    mount_point = tmp_path / "scratch"
    first = scratch(disk, mount_point)
    assert first.returncode == 0, first.stderr
    assert source(mount_point) == f"{disk} ext4" and oct(mount_point.stat().st_mode & 0o7777) == "0o1777"
    (mount_point / "checkpoint").write_text("step 100")
    again = scratch(disk, mount_point)  # the unit runs at every boot; mounted already: nothing to do
    assert again.returncode == 0 and "already mounted" in again.stdout
    subprocess.run(["umount", str(mount_point)], check=True)  # a reboot: instance store keeps its data
    rebooted = scratch(disk, mount_point)
    assert rebooted.returncode == 0 and "mkfs" not in rebooted.stdout, rebooted.stdout
    assert (mount_point / "checkpoint").read_text() == "step 100"
    subprocess.run(["umount", str(mount_point)], check=True)
    with open(disk, "r+b") as raw:  # a stop and start: instance store comes back blank
        raw.write(bytes(4 * 1024 * 1024))
    wiped = scratch(disk, mount_point)
    assert wiped.returncode == 0 and "+ mkfs.ext4" in wiped.stdout, wiped.stdout
    assert source(mount_point) == f"{disk} ext4" and not (mount_point / "checkpoint").exists()


def test_a_disk_in_use_is_refused_and_left_alone(disk: str, tmp_path: Path) -> None:
    assert scratch(disk, tmp_path / "scratch").returncode == 0
    (tmp_path / "scratch" / "data").write_text("keep")
    other = scratch(disk, tmp_path / "elsewhere")
    assert other.returncode == 2 and other.stderr.strip() == f"gpucloud-scratch: {disk} is mounted: not touching it"
    assert (tmp_path / "scratch" / "data").read_text() == "keep" and source(tmp_path / "elsewhere") == ""
