"""Every package=version the node roles ask for, per operating system, exists in that OS's repository index
(a recorded extract: tests/data/package_index/, sources there). The booted-node lab converges Debian 12;
this is what keeps the Ubuntu names honest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "gpucloud" / "data"
INDEX = ROOT / "tests" / "data" / "package_index"
DESKTOP = re.compile(r"^nvidia-driver-\d+(-open)?$|^xserver|^libnvidia-gl")


def _index(dist: str) -> set[tuple[str, str]]:
    stanzas = (INDEX / f"{dist}.txt").read_text().split("\n\n")
    found = set()
    for stanza in stanzas:
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith("#"))
        if "Package" in fields:
            found.add((fields["Package"], fields["Version"]))
    return found


def requested(os_name: str, driver_version: str) -> set[tuple[str, str]]:
    """What the roles install on ``os_name`` (nvidia_driver, fabric_manager, cuda_toolkit, container toolkit,
    dcgm, nccl_tests), computed from the same data files the roles read."""
    pins = yaml.safe_load((DATA / "node_software.yaml").read_text())
    os_packages = yaml.safe_load((DATA / "node_packages.yaml").read_text())["os"][os_name]
    branch = pins["nvidia_driver_branch"]
    driver = os_packages["driver"]
    names = driver["open"] if pins["nvidia_driver_open_modules"] else driver["closed"]
    wanted = {(n.format(branch=branch), driver_version + driver["revision"]) for n in names}
    nvswitch = os_packages["nvswitch"]
    fm_names = nvswitch["names"] if int(branch) >= nvswitch["branchless_from"] else nvswitch["names_before"]
    wanted |= {(n.format(branch=branch), driver_version + nvswitch["revision"]) for n in fm_names}
    cuda = "cuda-toolkit-" + pins["cuda_version"].replace(".", "-")
    wanted.add((cuda, pins["cuda_package_version"]))
    ctk = pins["nvidia_container_toolkit_version"]
    wanted |= {(n, ctk) for n in ("nvidia-container-toolkit", "nvidia-container-toolkit-base",
                                  "libnvidia-container-tools", "libnvidia-container1")}  # fmt: skip
    dcgm = "datacenter-gpu-manager-4-cuda" + pins["cuda_version"].split(".")[0]
    wanted.add((dcgm, pins["dcgm_package_version"]))
    wanted |= {(n, pins["nccl_package_version"]) for n in ("libnccl2", "libnccl-dev")}  # the nccl_tests role
    return wanted


OS_NAMES = list(yaml.safe_load((DATA / "node_packages.yaml").read_text())["os"])


@pytest.mark.parametrize("os_name", OS_NAMES)
@pytest.mark.parametrize("which", ["nvidia_driver_version", "nvidia_driver_previous_version"])
def test_every_requested_package_version_is_in_the_repository_index(os_name: str, which: str) -> None:
    pins = yaml.safe_load((DATA / "node_software.yaml").read_text())
    dist = yaml.safe_load((DATA / "node_packages.yaml").read_text())["os"][os_name]["repository"]
    missing = sorted(requested(os_name, pins[which]) - _index(dist))
    assert not missing, f"{os_name}: not in {dist}'s index: {missing}"


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_no_desktop_driver_on_a_server(os_name: str) -> None:
    pins = yaml.safe_load((DATA / "node_software.yaml").read_text())
    names = {name for name, _ in requested(os_name, pins["nvidia_driver_version"])}
    assert not {n for n in names if DESKTOP.match(n)}


def test_the_index_check_can_fail() -> None:
    """The old names (R570's -0ubuntu1 fabric manager, a separate nvidia-persistenced on Ubuntu) are refused."""
    index = _index("ubuntu2204")
    assert ("nvidia-fabricmanager-580", "580.105.08-0ubuntu1") not in index
    assert ("nvidia-persistenced", "580.105.08-0ubuntu1") not in index
    assert ("nvidia-fabricmanager", "580.105.08-1") in index


def test_the_cuda_toolkit_pin_runs_on_the_pinned_drivers() -> None:
    pins = yaml.safe_load((DATA / "node_software.yaml").read_text())
    release = pins["cuda_package_version"].split("-")[0]
    minimum = pins["cuda_minimum_driver"][release]

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    assert key(pins["nvidia_driver_version"]) >= key(minimum)
    assert key(pins["nvidia_driver_previous_version"]) >= key(minimum)
    assert pins["nvidia_driver_version"].split(".")[0] == pins["nvidia_driver_branch"]
    assert pins["fabric_manager_version"] == pins["nvidia_driver_version"]


def test_nccl_is_built_for_the_pinned_cuda() -> None:
    pins = yaml.safe_load((DATA / "node_software.yaml").read_text())
    assert pins["nccl_package_version"].endswith("+cuda" + pins["cuda_version"])


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_every_os_names_the_pmix_library_slurm_loads(os_name: str) -> None:
    entry = yaml.safe_load((DATA / "node_packages.yaml").read_text())["os"][os_name]
    runtime = "libpmix2t64" if os_name == "Ubuntu-24" else "libpmix2"
    assert entry["pmix"] == [runtime, "libpmix-dev"]  # the plugin dlopen()s libpmix.so, which only -dev has
