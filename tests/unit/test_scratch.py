"""The local_nvme role's boot-time assembler (playbooks/roles/local_nvme/files/gpucloud-scratch): which disks it
takes, which it refuses to touch, and the commands it runs for a fresh, a rebooted and a wiped instance."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "playbooks" / "roles" / "local_nvme" / "files" / "gpucloud-scratch"
EBS = "Amazon Elastic Block Store"
STORE = "Amazon EC2 NVMe Instance Storage"


def load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("gpucloud_scratch", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpucloud_scratch", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpucloud_scratch"] = module  # dataclasses look their module up while the class is made
    loader.exec_module(module)
    return module


scratch = load()


def sysfs(tmp_path: Path, disks: dict[str, tuple[str, list[str], list[str]]]) -> Path:
    """A recorded /sys/block: name -> (model, partitions, holders)."""
    block = tmp_path / "sys" / "block"
    for name, (model, partitions, holders) in disks.items():
        (block / name / "device").mkdir(parents=True)
        (block / name / "device" / "model").write_text(model + "   \n")  # NVMe pads the model with spaces
        (block / name / "holders").mkdir()
        for part in partitions:
            (block / name / part).mkdir()
        for holder in holders:
            (block / name / "holders" / holder).mkdir()
    return block


def test_it_takes_the_instance_store_disks_and_never_the_ebs_root(tmp_path: Path) -> None:
    block = sysfs(
        tmp_path,
        {"nvme0n1": (EBS, ["nvme0n1p1"], []), "nvme1n1": (STORE, [], []), "nvme2n1": (STORE, [], ["md127"])},
    )
    disks = scratch.read_disks(block, Path("/dev"), None)
    chosen = scratch.choose(disks, explicit=False, mounted=set(), model=STORE)
    assert [d.path for d in chosen] == ["/dev/nvme1n1", "/dev/nvme2n1"]  # its own array may hold a disk


@pytest.mark.parametrize(
    ("disk", "mounted", "needle"),
    [
        ((STORE, ["nvme1n1p1"], []), set(), "/dev/nvme1n1 has partitions"),
        ((STORE, [], ["dm-0"]), set(), "/dev/nvme1n1 is held by dm-0"),
        ((STORE, [], []), {"/dev/nvme1n1"}, "/dev/nvme1n1 is mounted"),
    ],
)
def test_a_disk_in_use_stops_it_naming_the_disk(
    tmp_path: Path, disk: tuple[str, list[str], list[str]], mounted: set[str], needle: str
) -> None:
    block = sysfs(tmp_path, {"nvme1n1": disk, "nvme2n1": (STORE, [], [])})
    with pytest.raises(scratch.Refused, match=needle):
        scratch.choose(scratch.read_disks(block, Path("/dev"), None), explicit=False, mounted=mounted, model=STORE)


def test_an_explicit_disk_must_exist(tmp_path: Path) -> None:
    with pytest.raises(scratch.Refused, match="loop9: no such block device"):
        scratch.read_disks(sysfs(tmp_path, {}), Path("/dev"), ["loop9"])


def disks(count: int) -> list[object]:
    return [scratch.Disk(f"nvme{i}n1", f"/dev/nvme{i}n1", STORE, False, ()) for i in range(1, count + 1)]


MOUNT = [["mkdir", "-p", "/scratch"], ["mount", "-o", scratch.MOUNT_OPTIONS, scratch.ARRAY, "/scratch"],
         ["chmod", "1777", "/scratch"]]  # fmt: skip
MKFS = ["mkfs.ext4", "-F", "-q", "-L", "scratch", "-E", "nodiscard", scratch.ARRAY]


def test_a_fresh_or_wiped_instance_gets_a_new_raid0_and_file_system() -> None:
    steps = scratch.plan(disks(8), assembled=False, has_filesystem=False, mount_point="/scratch")
    create = ["mdadm", "--create", scratch.ARRAY, "--level=0", "--raid-devices=8", "--run", "--force"]
    assert steps == [[*create, *(f"/dev/nvme{i}n1" for i in range(1, 9))], MKFS, *MOUNT]


def test_a_rebooted_instance_keeps_its_array_and_data() -> None:
    assert scratch.plan(disks(8), assembled=True, has_filesystem=True, mount_point="/scratch") == MOUNT


def test_an_array_without_a_file_system_gets_one() -> None:  # a boot that stopped between create and mkfs
    assert scratch.plan(disks(2), assembled=True, has_filesystem=False, mount_point="/scratch") == [MKFS, *MOUNT]


def test_one_disk_needs_no_array_and_none_needs_nothing() -> None:
    (one,) = disks(1)
    steps = scratch.plan([one], assembled=False, has_filesystem=False, mount_point="/scratch")
    assert steps[0] == [*MKFS[:-1], "/dev/nvme1n1"] and steps[2][3] == "/dev/nvme1n1"
    assert scratch.plan([one], assembled=False, has_filesystem=True, mount_point="/scratch")[0][0] == "mkdir"
    assert scratch.plan([], assembled=False, has_filesystem=False, mount_point="/scratch") == []


# --- an array the kernel assembled at boot (issue 26, 4) ----------------------------------------------------------
# /proc/mdstat as the md driver prints it (Documentation/admin-guide/md.rst; the lines of a RAID 0 of two NVMe
# disks on an instance that rebooted, and of one that came up with a member missing).
MDSTAT_ACTIVE = """Personalities : [raid0]
md127 : active raid0 nvme2n1[1] nvme1n1[0]
      7500963840 blocks super 1.2 512k chunks

unused devices: <none>
"""
MDSTAT_INACTIVE = """Personalities : [raid0]
md127 : inactive nvme1n1[0](S)
      3750481920 blocks super 1.2

unused devices: <none>
"""


def held(*holders: tuple[str, ...]) -> list[object]:
    return [scratch.Disk(f"nvme{i}n1", f"/dev/nvme{i}n1", STORE, False, h) for i, h in enumerate(holders, start=1)]


def test_an_array_assembled_at_boot_is_used_as_it_is_not_created_over() -> None:
    """Ubuntu's mdadm udev rule assembles the array as the disks appear; assembling it again fails ("already in
    use"), and the array used to be created over its busy disks. Now the mount uses the kernel's array."""
    disks = held(("md127",), ("md127",))
    existing = scratch.existing_array(disks, MDSTAT_ACTIVE)
    assert existing == scratch.Existing(device="/dev/md127", active=True)
    steps = scratch.plan(disks, assembled=True, has_filesystem=True, mount_point="/scratch", array=existing.device)
    assert [s[0] for s in steps] == ["mkdir", "mount", "chmod"] and steps[1][-2:] == ["/dev/md127", "/scratch"]


def test_a_half_assembled_array_is_reported_inactive_and_no_array_is_none() -> None:
    assert scratch.existing_array(held(("md127",), ("md127",)), MDSTAT_INACTIVE).active is False
    assert scratch.existing_array(held((), ()), "") is None


@pytest.mark.parametrize(
    ("holders", "mdstat", "needle"),
    [
        ((("md127",), ()), MDSTAT_ACTIVE, "held by different md arrays"),
        ((("md127",), ("md126",)), MDSTAT_ACTIVE, "held by different md arrays"),
        ((("md127",), ("md127",)), "Personalities : [raid0]\n", "/proc/mdstat does not show it"),
        ((("md127",),), MDSTAT_ACTIVE, "/dev/md127 also holds nvme2n1"),
    ],
)
def test_an_array_that_is_not_exactly_these_disks_is_left_alone(
    holders: tuple[tuple[str, ...], ...], mdstat: str, needle: str
) -> None:
    with pytest.raises(scratch.Refused, match=needle):
        scratch.existing_array(held(*holders), mdstat)
