"""A lab of GPU-node stand-ins for the Ansible tests: real Debian 12 root filesystems, a real signed apt
repository on 127.0.0.1 and a real wheelhouse of gpucloud.

- ``build_rootfs``: debootstrap (minbase plus python3, python3-venv and systemd, which minbase lacks),
  cached as a tarball; each host gets a fresh copy with a ``policy-rc.d`` that stops daemons starting.
- ``build_apt_repo``: NVIDIA's repository is not reachable here, so this builds stand-in packages that
  carry NVIDIA's real package names and versions (and the systemd units the roles enable), indexes them
  with apt-ftparchive, signs the index with a throw-away GPG key, and serves it over HTTP. The roles get
  its URL and key URL exactly as they would get a mirror's.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("GPUCLOUD_TEST_CACHE", Path.home() / ".cache" / "gpucloud"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"


def pins() -> dict[str, object]:
    doc: dict[str, object] = yaml.safe_load((ROOT / "gpucloud" / "data" / "node_software.yaml").read_text())
    return doc


def rootfs_tarball() -> Path:
    """The cached Debian 12 root filesystem, built with debootstrap the first time (about 40 s)."""
    tarball = CACHE / f"rootfs-{SUITE}.tar"
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    build = CACHE / f"rootfs-{SUITE}.build"
    shutil.rmtree(build, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,systemd,ca-certificates", SUITE,
         str(build), MIRROR],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    tmp = tarball.with_suffix(".tmp")
    subprocess.run(["tar", "-C", str(build), "-cf", str(tmp), "."], check=True)
    os.replace(tmp, tarball)
    shutil.rmtree(build, ignore_errors=True)
    return tarball


def make_host(dest: Path) -> Path:
    """A fresh root filesystem at ``dest`` from the cached tarball, daemons kept from starting."""
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(dest), "-xf", str(rootfs_tarball())], check=True)
    policy = dest / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# gpucloud tests: services are enabled, never started, in a chroot\nexit 101\n")
    policy.chmod(0o755)
    return dest


@dataclass(frozen=True)
class StandIn:
    name: str
    version: str
    unit: str | None = None  # a systemd unit the real package ships and the roles enable


def stand_ins(decoy_driver: str = "580.65.06-1") -> list[StandIn]:
    p = pins()
    driver = f"{p['nvidia_driver_version']}-1"
    branch = p["nvidia_driver_branch"]
    cuda = str(p["cuda_version"]).replace(".", "-")
    ctk = str(p["nvidia_container_toolkit_version"])
    return [
        StandIn("nvidia-driver", driver),
        StandIn("nvidia-driver", decoy_driver),  # a newer driver in the repo: the pin must win
        StandIn("nvidia-kernel-open-dkms", driver),
        StandIn("nvidia-kernel-open-dkms", decoy_driver),
        StandIn("nvidia-kernel-dkms", driver),
        StandIn("nvidia-persistenced", driver, unit="nvidia-persistenced.service"),
        StandIn(
            f"nvidia-fabricmanager-{branch}", f"{p['fabric_manager_version']}-1", unit="nvidia-fabricmanager.service"
        ),
        StandIn(f"cuda-toolkit-{cuda}", str(p["cuda_package_version"])),
        StandIn("nvidia-container-toolkit", ctk),
        StandIn("nvidia-container-toolkit-base", ctk),
        StandIn("libnvidia-container-tools", ctk),
        StandIn("libnvidia-container1", ctk),
        StandIn("datacenter-gpu-manager-4-cuda12", str(p["dcgm_package_version"]), unit="nvidia-dcgm.service"),
    ]


def _deb(work: Path, pkg: StandIn) -> Path:
    tree = work / f"{pkg.name}_{pkg.version.replace(':', '_')}"
    (tree / "DEBIAN").mkdir(parents=True)
    upstream = pkg.version.split(":")[-1]
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {pkg.name}\nVersion: {pkg.version}\nArchitecture: all\n"
        "Maintainer: gpucloud tests <tests@gpucloud.invalid>\n"
        f"Description: gpucloud test stand-in for NVIDIA's {pkg.name}\n This package has the real name and version and"
        f" nothing else: no driver, no library.\n"
    )
    doc = tree / "usr" / "share" / "doc" / pkg.name
    doc.mkdir(parents=True)
    (doc / "STAND-IN").write_text(f"{pkg.name} {upstream}\n")
    if pkg.unit:
        units = tree / "lib" / "systemd" / "system"
        units.mkdir(parents=True)
        (units / pkg.unit).write_text(
            f"[Unit]\nDescription=stand-in for {pkg.unit}\n[Service]\nExecStart=/bin/true\n"
            "[Install]\nWantedBy=multi-user.target\n"
        )
    out = work / "repo" / f"{tree.name}_all.deb"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)], check=True, capture_output=True)
    return out


def install_kernel_stand_in(work: Path, host: Path) -> None:
    """A stand-in kernel metapackage, installed into ``host`` as a real node would have it."""
    deb = _deb(work, StandIn("linux-image-amd64", "6.1.140-1"))
    shutil.copy(deb, host / "tmp" / deb.name)
    chroot(host, "dpkg", "-i", f"/tmp/{deb.name}")


def build_apt_repo(work: Path) -> Path:
    """A flat, signed apt repository of stand-ins at ``work/repo`` (``key.asc`` beside the index)."""
    for pkg in stand_ins():
        _deb(work, pkg)
    repo = work / "repo"
    packages = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, check=True, capture_output=True, text=True)
    (repo / "Packages").write_text(packages.stdout)
    release = subprocess.run(
        ["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=gpucloud-tests", "release", "."],
        cwd=repo, check=True, capture_output=True, text=True,
    )  # fmt: skip
    (repo / "Release").write_text(release.stdout)
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", "gpucloud test repository", "ed25519", "sign", "1d"], check=True, capture_output=True
    )
    subprocess.run(
        [*gpg, "--clearsign", "-o", str(repo / "InRelease"), str(repo / "Release")], check=True, capture_output=True
    )
    key = subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True)
    (repo / "key.asc").write_bytes(key.stdout)
    return repo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a thread of this process); yields the base URL."""
    handler = partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def build_wheelhouse(dest: Path) -> Path:
    """gpucloud's wheel and its (slim, node-side) dependencies: what the gpu_health role installs offline."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "-w", str(dest), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return dest


def write_inventory(path: Path, url: str, wheelhouse: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    """An inventory of chroot hosts that take their packages from the lab's repository at ``url``."""
    doc = {
        "all": {
            "vars": {
                "ansible_connection": "community.general.chroot",
                "ansible_python_interpreter": "/usr/bin/python3",
                "gpucloud_site": "onprem",
                "gpucloud_repo_url": url,
                "gpucloud_repo_key_url": url + "key.asc",
                "gpu_health_wheelhouse": str(wheelhouse),
                "gpu_health_gate": False,  # these hosts have no GPU: the gate is tested on its own below
            },
            "hosts": hosts,
        }
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def chroot(host: Path, *argv: str) -> str:
    return subprocess.run(["chroot", str(host), *argv], check=True, capture_output=True, text=True).stdout


def installed(host: Path) -> dict[str, str]:
    out = chroot(host, "dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n")
    found = {}
    for line in out.splitlines():
        name, version, status = line.split(" ", 2)
        if status.startswith(("ii", "hi")):
            found[name] = version
    return found


def held(host: Path) -> set[str]:
    out = chroot(host, "dpkg", "--get-selections")
    return {line.split()[0] for line in out.splitlines() if line.split()[-1] == "hold"}


def tool_missing(name: str) -> str | None:
    return None if shutil.which(name) else f"{name} is not installed (apt-get install debootstrap apt-utils gnupg)"


def require_lab() -> str | None:
    """Why the lab cannot run here, or None. Under CI a missing tool the repository installs is a failure."""
    if os.geteuid() != 0:
        return "the chroot connection needs root"
    for tool in ("debootstrap", "apt-ftparchive", "gpg", "dpkg-deb", "chroot"):
        reason = tool_missing(tool)
        if reason:
            return reason
    return None
