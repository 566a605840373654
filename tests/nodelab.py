"""What the booted-node lab (tests/bootlab.py) installs from: a real signed apt repository of stand-in
packages and a real wheelhouse of gpucloud.

- ``build_apt_repo``: NVIDIA's repository is not reachable here, so this builds stand-in packages that
  carry NVIDIA's real Debian 12 package names and versions (the pin, the previous pin, a newer decoy) and
  mimic what the real ones do to a node (tests/standins/), indexes them with apt-ftparchive, signs the
  index with a throw-away GPG key, and serves it over HTTP. The roles get its URL and key URL exactly as
  they would get a mirror's.
- ``build_wheelhouse``: gpucloud's wheel and its node-side dependencies, which the gpu_health role installs.
"""

from __future__ import annotations

import hashlib
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("GPUCLOUD_TEST_CACHE", Path.home() / ".cache" / "gpucloud"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"


def pins() -> dict[str, object]:
    doc: dict[str, object] = yaml.safe_load((ROOT / "gpucloud" / "data" / "node_software.yaml").read_text())
    return doc


@dataclass(frozen=True)
class StandIn:
    name: str
    version: str
    files: tuple[tuple[str, str | bytes, int], ...] = ()  # (path, content, mode)
    enable: tuple[str, ...] = ()  # units enabled by the package (shipped as multi-user.target.wants links)
    preinst: str = ""  # a maintainer script run before the package is unpacked


STANDINS = ROOT / "tests" / "standins"


def _nvml_library(work: Path, version: str) -> bytes:
    """The stand-in libnvidia-ml.so.1 of one driver version, built with the system compiler."""
    out = work / "build" / f"libnvidia-ml-{version}.so.1"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", f'-DSTANDIN_DRIVER_VERSION="{version}"',
         "-Wl,-soname,libnvidia-ml.so.1", "-o", str(out), str(STANDINS / "nvml_standin.c")],
        check=True, capture_output=True,
    )  # fmt: skip
    return out.read_bytes()


def _script(name: str) -> str:
    return (STANDINS / name).read_text()


def driver_stand_ins(work: Path, version: str) -> list[StandIn]:
    """NVIDIA's Debian 12 driver packages at ``version``, as node_packages.yaml names them, doing what the
    real ones do to the node's state: a library that answers NVML, a module "loaded" only at boot, daemons."""
    deb = f"{version}-1"
    module_unit = (
        "[Unit]\nDescription=stand-in: load the NVIDIA kernel module of this boot\n"
        "Before=nvidia-persistenced.service nvidia-fabricmanager.service nvidia-dcgm.service\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/lib/nvidia-standin/load-module\n"
        # A node's systemd here (cgroups v1, read-only) once failed to spawn it at boot ("Failed to attach to
        # cgroup ... status=219/CGROUP", 2026-12-07): the driver stayed unloaded and the gate failed. Try again.
        "Restart=on-failure\nRestartSec=1\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    module = (
        ("usr/lib/nvidia-standin/module-version", version + "\n", 0o644),
        ("usr/lib/nvidia-standin/load-module", _script("load-module"), 0o755),
        ("lib/systemd/system/nvidia-standin-module.service", module_unit, 0o644),
    )
    persistenced_unit = (  # as Ubuntu's nvidia-compute-utils ships it: persistence mode OFF
        "[Unit]\nDescription=NVIDIA Persistence Daemon (stand-in)\nWants=syslog.target\n"
        "[Service]\nType=forking\nPIDFile=/run/nvidia-persistenced/nvidia-persistenced.pid\n"
        "ExecStart=/usr/bin/nvidia-persistenced --user nvidia-persistenced --no-persistence-mode --verbose\n"
        "ExecStopPost=/bin/rm -rf /run/nvidia-persistenced\n[Install]\nWantedBy=multi-user.target\n"
    )
    fabric_unit = (
        "[Unit]\nDescription=NVIDIA fabric manager service (stand-in)\n"
        "[Service]\nType=forking\nPIDFile=/run/nvidia-fabricmanager/nv-fabricmanager.pid\n"
        "ExecStart=/usr/bin/nv-fabricmanager -c /usr/share/nvidia/nvswitch/fabricmanager.cfg\n"
        "ExecStopPost=/bin/rm -rf /run/nvidia-fabricmanager\n[Install]\nWantedBy=multi-user.target\n"
    )
    library = _nvml_library(work, version)
    return [
        StandIn(
            "nvidia-driver-cuda",
            deb,
            (("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", library, 0o644),),
            preinst=_script("record-swap"),
        ),
        StandIn("nvidia-kernel-open-dkms", deb, module, enable=("nvidia-standin-module.service",)),
        StandIn("nvidia-kernel-dkms", deb, module, enable=("nvidia-standin-module.service",)),
        StandIn(
            "nvidia-persistenced",
            deb,
            (
                ("usr/bin/nvidia-persistenced", _script("nvidia-persistenced"), 0o755),
                ("lib/systemd/system/nvidia-persistenced.service", persistenced_unit, 0o644),
            ),
        ),
        StandIn(
            "nvidia-fabricmanager",
            deb,
            (
                ("usr/bin/nv-fabricmanager", _script("nv-fabricmanager").replace("@VERSION@", version), 0o755),
                ("lib/systemd/system/nvidia-fabricmanager.service", fabric_unit, 0o644),
            ),
        ),
        StandIn("libnvidia-nscq", deb),
    ]


def stand_ins(work: Path, decoy_driver: str = "590.48.01") -> list[StandIn]:
    """Every package the roles install, at the pinned versions and at the previous driver pin, plus a newer
    driver (a decoy: the pin must win) and a kernel flavour and headers to hold and match."""
    p = pins()
    cuda = str(p["cuda_version"]).replace(".", "-")
    ctk = str(p["nvidia_container_toolkit_version"])
    dcgm_major = str(p["driver_cuda_major"][str(p["nvidia_driver_branch"])])  # type: ignore[index]
    dcgm_unit = (
        "[Unit]\nDescription=NVIDIA DCGM host engine (stand-in)\n[Service]\n"
        "ExecStart=/usr/bin/nv-hostengine -n --service-account nvidia-dcgm\n[Install]\nWantedBy=multi-user.target\n"
    )
    packages = [
        *driver_stand_ins(work, str(p["nvidia_driver_version"])),
        *driver_stand_ins(work, str(p["nvidia_driver_previous_version"])),
        *driver_stand_ins(work, decoy_driver),
        StandIn(f"cuda-toolkit-{cuda}", str(p["cuda_package_version"])),
        # DKMS builds the module against the running kernel's headers (a container runs the host's kernel).
        StandIn(f"linux-headers-{os.uname().release}", "1"),
        StandIn("nvidia-container-toolkit", ctk),
        StandIn("nvidia-container-toolkit-base", ctk, (("usr/bin/nvidia-ctk", _script("nvidia-ctk"), 0o755),)),
        StandIn("libnvidia-container-tools", ctk),
        StandIn("libnvidia-container1", ctk),
        *(
            StandIn(
                f"datacenter-gpu-manager-4-cuda{major}",
                str(p["dcgm_package_version"]),
                (
                    ("usr/bin/nv-hostengine", _script("nv-hostengine"), 0o755),
                    ("usr/bin/dcgmi", _script("dcgmi").replace("@VERSION@", str(p["dcgm_version"])), 0o755),
                    ("lib/systemd/system/nvidia-dcgm.service", dcgm_unit, 0o644),
                ),
            )
            for major in sorted({dcgm_major, "12", "13"})  # the driver's CUDA major must win over the other
        ),
        # AWS's Lustre client for FSx, for the running kernel; its mount helper records how mount(8) called it
        # and fails as a client with no Lustre server to reach would (the lab has none).
        StandIn(
            f"lustre-client-modules-{os.uname().release}",
            "2.15.6-1fsx1",
            (("sbin/mount.lustre", _script("mount.lustre"), 0o755),),
        ),
        StandIn("lustre-client-modules-aws", "2.15.6-1fsx1"),
        # NCCL, which the nccl_tests role installs and holds at the pin (the stand-in nccl-tests needs no library).
        StandIn("libnccl2", str(p["nccl_package_version"])),
        StandIn("libnccl-dev", str(p["nccl_package_version"])),
    ]
    return packages


def _deb(work: Path, pkg: StandIn) -> Path:
    tree = work / "trees" / f"{pkg.name}_{pkg.version.replace(':', '_')}"
    (tree / "DEBIAN").mkdir(parents=True)
    upstream = pkg.version.split(":")[-1]
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {pkg.name}\nVersion: {pkg.version}\nArchitecture: amd64\n"
        "Maintainer: gpucloud tests <tests@gpucloud.invalid>\n"
        f"Description: gpucloud test stand-in for NVIDIA's {pkg.name}\n A stand-in with the real name and version"
        f" whose files mimic what the real package does to a node's state.\n"
    )
    doc = tree / "usr" / "share" / "doc" / pkg.name
    doc.mkdir(parents=True)
    (doc / "STAND-IN").write_text(f"{pkg.name} {upstream}\n")
    for rel, content, mode in pkg.files:
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        target.chmod(mode)
    if pkg.preinst:
        (tree / "DEBIAN" / "preinst").write_text(pkg.preinst)
        (tree / "DEBIAN" / "preinst").chmod(0o755)
    for unit in pkg.enable:
        wants = tree / "etc" / "systemd" / "system" / "multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / unit).symlink_to(f"/lib/systemd/system/{unit}")
    out = work / "repo" / f"{tree.name}_amd64.deb"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)], check=True, capture_output=True)
    return out


def install_kernel_stand_in(work: Path, host: Path) -> None:
    """A stand-in kernel flavour, installed into the root filesystem ``host`` (before it boots) as a real
    node has one: the roles must find it and hold it."""
    deb = _deb(work, StandIn("linux-image-amd64", "6.1.140-1"))
    shutil.copy(deb, host / "tmp" / deb.name)
    chroot(host, "dpkg", "-i", f"/tmp/{deb.name}")


EFA_BUMP = "+lab1"  # suffix of a second stand-in EFA installer version: "the next pin", to upgrade to


def build_efa_installers(repo: Path) -> dict[str, str]:
    """Stand-in aws-efa-installer-<version>.tar.gz at the pinned version and a next one, served beside the
    apt repository; returns each version's sha256 (the lab's own, not AWS's)."""
    pinned = str(pins()["efa_installer_version"])
    checksums = {}
    for version in (pinned, pinned + EFA_BUMP):
        tree = repo.parent / "efa" / version / "aws-efa-installer"
        tree.mkdir(parents=True)
        (tree / "efa_installer.sh").write_text(_script("efa_installer.sh").replace("@VERSION@", version))
        (tree / "fi_info").write_text(_script("fi_info"))
        for name in ("efa_installer.sh", "fi_info"):
            (tree / name).chmod(0o755)
        tarball = repo / f"aws-efa-installer-{version}.tar.gz"
        subprocess.run(["tar", "-C", str(tree.parent), "-czf", str(tarball), "aws-efa-installer"], check=True)
        checksums[version] = hashlib.sha256(tarball.read_bytes()).hexdigest()
    return checksums


def build_enroot_release(work: Path) -> dict[str, str]:
    """Stand-ins for NVIDIA's enroot release packages at the pinned version (enroot_<v>-1_amd64.deb and
    enroot+caps), served beside the apt repository as a mirror of the GitHub release; each file's sha256."""
    version = f"{pins()['enroot_version']}-1"
    hook = "#!/bin/sh\n# enroot hook (lab stand-in)\nexit 0\n"
    enroot = StandIn(
        "enroot",
        version,
        (
            ("usr/bin/enroot", _script("enroot").replace("@VERSION@", version.rsplit("-", 1)[0]), 0o755),
            ("usr/share/enroot/hooks.d/50-slurm-pmi.sh", hook, 0o755),
            ("usr/share/enroot/hooks.d/50-slurm-pytorch.sh", hook, 0o755),
            ("etc/enroot/hooks.d/10-cgroups.sh", hook, 0o755),
        ),
    )
    return {deb.name: hashlib.sha256(deb.read_bytes()).hexdigest() for deb in
            (_deb(work, enroot), _deb(work, StandIn("enroot+caps", version)))}  # fmt: skip


def build_git_repository(work: Path, name: str) -> str:
    """A stand-in's source (tests/standins/<name>: pyxis, nccl-tests) as a git repository served over HTTP beside
    the apt repository (git's "dumb" protocol: plain files) at <name>.git; returns its commit, which the role
    checks out as it checks out the pinned commit of NVIDIA's repository."""
    src = work / f"{name}-src"
    shutil.copytree(STANDINS / name, src)
    git = ["git", "-c", "user.name=gpucloud tests", "-c", "user.email=tests@gpucloud.invalid"]
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", f"{name} stand-in"]):
        subprocess.run([*git, *argv], cwd=src, check=True, capture_output=True)
    bare = work / "repo" / f"{name}.git"
    subprocess.run([*git, "clone", "-q", "--bare", str(src), str(bare)], check=True, capture_output=True)
    subprocess.run(["git", "--git-dir", str(bare), "update-server-info"], check=True, capture_output=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=src, check=True, capture_output=True, text=True
    ).stdout.strip()


# Real Debian packages the roles install that the root filesystem leaves out, so that the role must install them:
# downloaded from Debian's archive (the host's apt sources) into the lab repository.
DEBIAN_PACKAGES = ("libpmix2", "libpmix-dev")  # Slurm's mpi/pmix plugin loads it (the slurm_* roles install them)


def build_apt_repo(work: Path) -> Path:
    """A flat, signed apt repository of stand-ins at ``work/repo`` (``key.asc`` beside the index), with the real
    Debian packages of DEBIAN_PACKAGES."""
    for pkg in stand_ins(work):
        _deb(work, pkg)
    repo = work / "repo"
    subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=repo, check=True, capture_output=True, timeout=300)
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
    # gpg started an agent for the throw-away key: stop it, or it outlives the tests.
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)
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


def chroot(host: Path, *argv: str) -> str:
    return subprocess.run(["chroot", str(host), *argv], check=True, capture_output=True, text=True).stdout
