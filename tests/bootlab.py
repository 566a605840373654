"""A lab of booted GPU-node stand-ins: Debian 12 root filesystems booted with ``systemd-nspawn --boot``.

- Each node runs real systemd in a network namespace of its own (``--private-network``: loopback only)
  under a supervisor that boots it again when its systemd reboots (exit status 133), as
  ``systemd-nspawn@.service`` does. ``ansible.builtin.reboot`` therefore really reboots a node.
- Ansible reaches a node over SSH: its ProxyCommand (``lab-connect``) enters the node's current network
  namespace and connects to sshd on the node's own loopback. Nothing listens on the host's network.
- The node's only package source is the lab's signed apt repository, served on the host over a UNIX
  socket and forwarded to ``127.0.0.1:8080`` inside each node's namespace. No other address is reachable.
- The GPUs are the stand-ins of ``tests/standins/`` (a stand-in libnvidia-ml.so.1 that pynvml loads):
  their "hardware" is /etc/nvidia-standin/gpus.conf, written here from the GPU catalog; faults are injected
  in /etc/nvidia-standin/faults.conf.
- The kernel log: a container reads no kernel messages, so each node's /dev/kmsg is a FIFO of the lab's
  that the node's journald reads as it reads the kernel's (records in /dev/kmsg's own format); an Xid
  written there shows in ``journalctl -k`` with the kernel as its source, where the health check looks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nodelab
import yaml

ROOT = nodelab.ROOT
CACHE = nodelab.CACHE
REPO_PORT = 8080  # inside each node's namespace
REBOOT = 133  # systemd-nspawn's exit status when the container's systemd rebooted
LEADER_TIMEOUT_S = 60  # for systemd-nspawn to start a container's init
SETTLE_ATTEMPTS = 3  # tries at one boot's forwarder and network link before the supervisor gives up
REBOOT_TIMEOUT_S = 300  # the lab's nvidia_driver_reboot_timeout: a node boots in ~10 s; a real p5 needs the 1200 s
LAB_SUBNET = "10.77.0"  # the lab network's addresses (a /24 inside the lab's own network namespace)
PACKAGES = [
    "python3", "python3-venv", "python3-packaging", "systemd", "systemd-sysv", "dbus", "openssh-server",
    "ca-certificates", "kmod", "procps", "gnupg", "python3-apt",
    "containerd",  # a container engine, as GPU servers have one, for the container toolkit to wire in
    # Debian's Slurm and MUNGE, which the cluster roles install from the OS archive (the nodes cannot reach it).
    "slurmctld", "slurmd", "slurm-client", "munge",
    "python3-boto3",  # the munge role's secret reader (AWS's SDK for Python, from the OS archive)
    "mdadm",  # the local_nvme role's RAID 0 (the lab's nodes have no instance-store disk to use it on)
    # What the pyxis and nccl_tests roles build with on each node (Slurm's headers of the release it runs; nvcc's
    # host compiler).
    "git", "gcc", "g++", "make", "libc6-dev", "libslurm-dev",
    # What libpmix2 and libpmix-dev depend on (the slurm roles install those two from the lab repository's copies
    # of Debian's).
    "libevent-core-2.1-7", "libevent-pthreads-2.1-7", "libhwloc-plugins", "libevent-dev", "libhwloc-dev",
    "zlib1g-dev", "automake",  # automake: libltdl-dev's automake-1.16, a virtual package debootstrap cannot resolve
]  # fmt: skip


class LabError(RuntimeError):
    """The lab could not bring a node up; the message names the node and says what it knows of it."""


def _write_atomically(path: Path, text: str) -> None:
    """Readers (``lab-connect``) see the old contents or the new, never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _comm(pid: int) -> str:
    try:
        return _read(f"/proc/{pid}/comm").strip()
    except OSError:
        return "(gone)"


def _pid_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (children of all its threads, and theirs), oldest generation first."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop(0)
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in _read(f"/proc/{parent}/task/{task}/children").split()]
            except OSError:
                continue
            found.extend(children)
            queue.extend(children)
    return found


def is_container_init(pid: int, outer_namespace: str) -> bool:
    """Whether ``pid`` is a container's init: PID 1 of a PID namespace other than ``outer_namespace`` (the last
    field of NSpid in its status is its pid in its own namespace), running systemd (exec'd, so not nspawn's own
    child that is about to become it)."""
    try:
        status = _read(f"/proc/{pid}/status")
        namespace = _pid_namespace(pid)
    except OSError:
        return False
    nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
    return namespace != outer_namespace and nspid[-1:] == ["1"] and _comm(pid) == "systemd"


def _joined_network(pid: int, leader: int, timeout: float = 5) -> bool:
    """Whether ``pid`` (nsenter, then the program it runs) is in ``leader``'s network namespace within
    ``timeout`` seconds (nsenter joins it just after it starts) and still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/{leader}/ns/net") and _comm(pid) == "socat":
                return True
        except OSError:
            return False
        time.sleep(0.02)
    return False


def rootfs_tarball() -> Path:
    """A bootable Debian 12 root filesystem (systemd, sshd, python3), cached by its package list."""
    key = hashlib.sha256(",".join(PACKAGES).encode()).hexdigest()[:10]
    tarball = CACHE / f"rootfs-{nodelab.SUITE}-boot-{key}.tar"
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    build = CACHE / f"rootfs-boot-{key}.build"
    shutil.rmtree(build, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", nodelab.SUITE, str(build),
         nodelab.MIRROR],
        check=True, capture_output=True, timeout=1200,
    )  # fmt: skip
    # The lab's repository is the node's only package source (the Debian mirror is not reachable from a node).
    (build / "etc" / "apt" / "sources.list").write_text("")
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer"):  # nothing moves packages behind the tests' back
        (build / "etc" / "systemd" / "system" / unit).symlink_to("/dev/null")
    tmp = tarball.with_suffix(".tmp")
    subprocess.run(["tar", "-C", str(build), "-cf", str(tmp), "."], check=True)
    os.replace(tmp, tarball)
    shutil.rmtree(build, ignore_errors=True)
    return tarball


def lab_key() -> Path:
    """The lab's SSH key (made once, kept in the cache)."""
    key = CACHE / "lab-ssh" / "id_ed25519"
    if not key.is_file():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def catalog_entry(sku: str) -> dict[str, Any]:
    catalog = yaml.safe_load((ROOT / "gpucloud" / "data" / "catalog.yaml").read_text())
    entry: dict[str, Any] = catalog["instance_types"][sku]
    return entry


def hardware(sku: str) -> str:
    """/etc/nvidia-standin/gpus.conf for a SKU of the GPU catalog: what its GPUs report."""
    entry = catalog_entry(sku)
    memory_mib = int(entry["gpu_memory_gb"] * 1024 * 0.9956)  # an H100 80GB reports 81,559 MiB
    return (
        f"count={entry['gpu_count']}\nname={entry['gpu_model']}\nmemory_mib={memory_mib}\n"
        f"nvlinks={entry['nvlinks_per_gpu']}\nnvswitch={1 if entry['nvswitch'] else 0}\npcie_gen=5\npcie_width=16\n"
    )


@dataclass
class Node:
    """One booted node and its supervisor."""

    name: str
    root: Path
    sku: str | None  # None: a node without GPUs (a cluster's head node)
    repo_socket: Path
    network: LabNetwork | None = None  # a lab network it joins as eth1 (see LabNetwork), besides its loopback
    boots: int = 0
    _thread: threading.Thread | None = None
    _stopping: bool = False
    _proc: subprocess.Popen[bytes] | None = None
    _forwarder: subprocess.Popen[bytes] | None = None
    _kmsg: int | None = None  # the lab's end of the node's /dev/kmsg, held open so writers never block
    log: list[str] = field(default_factory=list)
    failure: str = ""  # why the supervisor gave up, if it did

    @property
    def leader_file(self) -> Path:
        return self.root.with_suffix(".leader")

    @property
    def kernel_log(self) -> Path:
        """The node's /dev/kmsg: a FIFO its journald reads as the kernel log (see ``kernel_message``)."""
        return self.root.with_suffix(".kmsg")

    def create(self, key: Path) -> None:
        self.root.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(self.root), "-xf", str(rootfs_tarball())], check=True)
        ssh = self.root / "root" / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(key.with_suffix(".pub"), ssh / "authorized_keys")
        (self.root / "etc" / "hostname").write_text(self.name + "\n")
        standin = self.root / "etc" / "nvidia-standin"
        standin.mkdir(parents=True, exist_ok=True)
        (standin / "gpus.conf").write_text(hardware(self.sku) if self.sku else "count=0\n")
        (standin / "faults.conf").write_text("")
        efa = catalog_entry(self.sku)["efa_interfaces"] if self.sku else 0
        (standin / "efa.conf").write_text(f"interfaces={efa}\n")
        scheduler = self.root / "usr" / "local" / "sbin" / "lab-scheduler"
        shutil.copy(nodelab.STANDINS / "lab-scheduler", scheduler)
        scheduler.chmod(0o755)
        # What efivarfs shows for Secure Boot on (attributes 0x6, then 1): preflight is pointed at it to test
        # its refusal (a container sees no firmware variables of its own).
        (standin / "secureboot-enabled").write_bytes(bytes([6, 0, 0, 0, 1]))
        os.mkfifo(self.kernel_log, 0o600)
        self._kmsg = os.open(self.kernel_log, os.O_RDWR | os.O_NONBLOCK)

    def kernel_message(self, text: str, priority: int = 3) -> None:
        """A message from "the kernel" (an NVRM Xid line, say), as the node's journald reads /dev/kmsg."""
        assert self._kmsg is not None, "create() the node first"
        sequence = time.time_ns() // 1000  # journald drops a record whose sequence number is not new
        os.write(self._kmsg, f"{priority},{sequence},{time.monotonic_ns() // 1000},-;{text}\n".encode())

    def clear_kernel_log(self) -> None:
        """Forget the kernel messages (as a new boot would), so an injected Xid stops failing the check."""
        self.run("sh", "-c", "journalctl --rotate && sleep 1.5 && journalctl --vacuum-time=1s --quiet")

    def inject(self, **faults: int) -> None:
        """Faults the stand-in NVML reports from its next call on (gpus_missing=1, gpu3_ecc_uncorrected=2, ...)."""

        def key(name: str) -> str:  # gpu3_ecc_uncorrected -> gpu3.ecc_uncorrected
            return name.replace("_", ".", 1) if name.startswith("gpu") and name[3].isdigit() else name

        lines = [f"{key(k)}={v}" for k, v in faults.items()]
        (self.root / "etc" / "nvidia-standin" / "faults.conf").write_text("\n".join(lines) + "\n")

    @property
    def state_file(self) -> Path:
        """One line saying what the supervisor last knew of the node (``lab-connect`` prints it when it gives up)."""
        return self.root.with_suffix(".state")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name=f"lab-{self.name}", daemon=True)
        self._thread.start()
        self.wait_running()

    def _set_state(self, text: str) -> None:
        _write_atomically(self.state_file, text + "\n")

    def _container_init(self, nspawn: subprocess.Popen[bytes], timeout: float = LEADER_TIMEOUT_S) -> int | None:
        """The pid of the container's init: the process under ``nspawn`` that is PID 1 of a PID namespace of its
        own and runs systemd. Never nspawn's short-lived intermediate children (another PID namespace already,
        or not yet systemd). None when nspawn exited meanwhile (its exit status says why)."""
        outer = _pid_namespace(nspawn.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if nspawn.poll() is not None:
                return None
            for pid in _descendants(nspawn.pid):
                if is_container_init(pid, outer):
                    return pid
            time.sleep(0.05)
        seen = {pid: _comm(pid) for pid in _descendants(nspawn.pid)}
        raise LabError(f"{self.name}: systemd-nspawn started no container init within {timeout:g} s (under it: {seen})")

    def _settle(self, nspawn: subprocess.Popen[bytes]) -> int | None:
        """Find this boot's init and set up what is keyed on it (the repository forwarder, the lab network's link),
        then read the init again: the leader file is written only once all of it is known to be in the node's
        namespaces. None when the container exited before that."""
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            leader = self._container_init(nspawn)
            if leader is None:
                return None
            # The node's package repository: 127.0.0.1:8080 in its namespace, forwarded to the host's socket.
            self._forwarder = subprocess.Popen(
                ["nsenter", "-t", str(leader), "-n", "socat",
                 f"TCP-LISTEN:{REPO_PORT},bind=127.0.0.1,reuseaddr,fork", f"UNIX-CONNECT:{self.repo_socket}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                if self.network is not None:
                    self.network.attach(self, leader)
                in_node = _joined_network(self._forwarder.pid, leader)
            except (subprocess.CalledProcessError, OSError) as exc:
                in_node, why = False, str(exc)
            else:
                why = "the repository forwarder is not in its network namespace"
            if in_node and self._container_init(nspawn, timeout=1) == leader:
                _write_atomically(self.leader_file, str(leader))
                return leader
            self.log.append(f"boot {self.boots}: init {leader} not settled (try {attempt}: {why}); again")
            self._stop_forwarder()
        raise LabError(f"{self.name}: boot {self.boots} did not settle after {SETTLE_ATTEMPTS} tries ({self.log[-1]})")

    def _stop_forwarder(self) -> None:
        if self._forwarder is not None:
            self._forwarder.kill()
            self._forwarder.wait()
            self._forwarder = None

    def _supervise(self) -> None:
        try:
            while not self._stopping:
                self._proc = subprocess.Popen(
                    ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--private-network", "--quiet",
                     "--console=read-only", f"--bind={self.kernel_log}:/dev/kmsg", f"--machine={self.name}",
                     "-D", str(self.root)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    start_new_session=True,
                )  # fmt: skip
                self.boots += 1
                self._set_state(f"booting (boot {self.boots})")
                leader = self._settle(self._proc)
                if leader is not None:
                    self._set_state(f"up (boot {self.boots}, init pid {leader})")
                _, err = self._proc.communicate()
                self.leader_file.unlink(missing_ok=True)
                self._stop_forwarder()
                said = err.decode(errors="replace")[-300:]
                self.log.append(f"boot {self.boots}: exit {self._proc.returncode} {said}")
                if self._proc.returncode != REBOOT:
                    self._set_state(f"stopped (boot {self.boots} exited {self._proc.returncode})")
                    break
                self._set_state(f"rebooting (boot {self.boots} ended)")
        except Exception as exc:  # noqa: BLE001  (the supervisor's thread records why it gave up; wait_running raises it)
            self.failure = str(exc)
            self.log.append(f"supervisor gave up: {exc}")
            self.leader_file.unlink(missing_ok=True)
            self._set_state(f"failed: {exc}")
            self._stop_forwarder()
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()

    def describe(self) -> str:
        """What is known of the node: the supervisor's state, its boots' log, and the journal's last lines."""
        state = self.state_file.read_text().strip() if self.state_file.exists() else "never started"
        journal = ""
        if self.leader_file.exists():
            try:
                journal = self.run("journalctl", "-n", "15", "--no-pager", "-q", check=False).stdout
            except (subprocess.SubprocessError, OSError) as exc:
                journal = f"(journal unreadable: {exc})"
        return f"{self.name}: {state}; log {self.log}" + (f"; journal:\n{journal}" if journal else "")

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command inside the running node (all its namespaces), as root."""
        leader = self.leader_file.read_text().strip()
        return subprocess.run(
            ["nsenter", "-t", leader, "-m", "-u", "-i", "-n", "-p", *argv],
            capture_output=True, text=True, check=check, timeout=120,
        )  # fmt: skip

    def wait_running(self, timeout: float = 120) -> None:
        """Wait, at most ``timeout`` seconds, for the node's systemd to say it is up; raise with the node's state
        and log at once when its supervisor gave up or the node stopped."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.failure or (self._thread is not None and not self._thread.is_alive()):
                raise LabError(f"not running: {self.describe()}")
            if self.leader_file.exists():
                try:
                    state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                except (subprocess.SubprocessError, OSError):
                    state = ""
                if state in ("running", "degraded"):
                    return
            time.sleep(0.5)
        raise LabError(f"not running after {timeout:g} s (systemd says {state!r}): {self.describe()}")

    def reboot(self, timeout: float = REBOOT_TIMEOUT_S) -> None:
        """``systemctl reboot`` inside the node; wait, at most ``timeout`` seconds, until its next boot is up."""
        boots = self.boots
        self.run("systemctl", "reboot", check=False)
        deadline = time.monotonic() + timeout
        while self.boots == boots or not self.leader_file.exists():
            if self.failure or time.monotonic() > deadline:
                raise LabError(f"no new boot within {timeout:g} s of a reboot: {self.describe()}")
            time.sleep(0.2)
        self.wait_running(max(1.0, deadline - time.monotonic()))

    def boot_id(self) -> str:
        return self.run("cat", "/proc/sys/kernel/random/boot_id").stdout.strip()

    def stop(self) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)  # systemd-nspawn: power the container off
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # the container's init first: killing it ends its whole PID namespace
                for pid in _descendants(self._proc.pid):
                    if is_container_init(pid, _pid_namespace(self._proc.pid)):
                        os.kill(pid, signal.SIGKILL)
                self._proc.kill()
                self.log.append("did not power off within 60 s: killed")
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self._kmsg is not None:
            os.close(self._kmsg)
            self._kmsg = None


@contextmanager
def repo_socket(url: str, path: Path) -> Iterator[Path]:
    """The lab repository (served on the host's 127.0.0.1) behind a UNIX socket the nodes' forwarders use."""
    host_port = url.rstrip("/").rsplit(":", 1)[1]
    proc = subprocess.Popen(
        ["socat", f"UNIX-LISTEN:{path},fork,mode=600", f"TCP:127.0.0.1:{host_port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield path
    finally:
        proc.terminate()
        proc.wait()


@dataclass(frozen=True)
class Sources:
    """What lab nodes install from: the signed stand-in repository (behind ``socket``) and gpucloud's wheels."""

    wheelhouse: Path
    key: Path
    socket: Path
    efa_checksums: dict[str, str]  # stand-in EFA installer version -> sha256
    enroot_checksums: dict[str, str]  # stand-in enroot package file -> sha256
    commits: dict[str, str]  # stand-in source (pyxis, nccl-tests) -> its commit in the lab's git repository

    def github_stand_ins(self) -> dict[str, object]:
        """Inventory variables that take what the cluster roles fetch from NVIDIA's GitHub (enroot's release, the
        pyxis and nccl-tests sources) from the lab's stand-ins instead: a release mirror and git repositories."""
        return {
            "enroot_release_url": f"http://127.0.0.1:{REPO_PORT}",
            "enroot_checksums": self.enroot_checksums,
            "pyxis_repository": f"http://127.0.0.1:{REPO_PORT}/pyxis.git",
            "pyxis_commit": self.commits["pyxis"],
            "nccl_tests_repository": f"http://127.0.0.1:{REPO_PORT}/nccl-tests.git",
            "nccl_tests_commit": self.commits["nccl-tests"],
        }

    def efa(self, version: str) -> dict[str, str]:
        """Inventory variables that install the stand-in EFA installer ``version`` from the lab repository."""
        return {
            "efa_installer_version": version,
            "efa_installer_url": f"http://127.0.0.1:{REPO_PORT}/aws-efa-installer-{version}.tar.gz",
            "efa_installer_checksum": f"sha256:{self.efa_checksums[version]}",
        }


@contextmanager
def lab_sources(work: Path) -> Iterator[Sources]:
    """Build the stand-in repository and the wheelhouse once, and serve the repository while in use."""
    repo = nodelab.build_apt_repo(work)
    efa = nodelab.build_efa_installers(repo)
    enroot = nodelab.build_enroot_release(work)
    commits = {name: nodelab.build_git_repository(work, name) for name in ("pyxis", "nccl-tests")}
    wheelhouse = nodelab.build_wheelhouse(work / "wheelhouse")
    with nodelab.serve(repo) as url, repo_socket(url, work / "repo.sock") as sock:
        yield Sources(wheelhouse, lab_key(), sock, efa, enroot, commits)


class LabNetwork:
    """A network of the lab's own between booted nodes: a bridge in a network namespace the lab makes (none of
    this machine's interfaces is on it), and a veth from each node's namespace to it: the node's eth1, with
    an address of LAB_SUBNET. Each node also lists every other in its /etc/hosts. A node that reboots gets a
    new namespace, and its link is made again."""

    def __init__(self, name: str) -> None:
        self.namespace = name
        self.addresses: dict[str, str] = {}

    def __enter__(self) -> LabNetwork:
        subprocess.run(["ip", "netns", "add", self.namespace], check=True)
        for argv in (
            ["link", "add", "br0", "type", "bridge"],
            ["addr", "add", f"{self.gateway}/24", "dev", "br0"],  # where the lab's own services listen
            ["link", "set", "br0", "up"],
        ):
            subprocess.run(["ip", "-n", self.namespace, *argv], check=True)
        return self

    @property
    def gateway(self) -> str:
        return f"{LAB_SUBNET}.1"

    def start(self, argv: list[str]) -> subprocess.Popen[str]:
        """Run ``argv`` inside the lab network's namespace (a service the nodes reach at ``gateway``)."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, *argv], stdout=subprocess.PIPE, text=True, start_new_session=True
        )

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "del", self.namespace], check=False)

    def join(self, nodes: list[Node]) -> None:
        for node in nodes:
            node.network = self
            self.addresses[node.name] = f"{LAB_SUBNET}.{10 + len(self.addresses)}"

    def hosts_file(self) -> str:
        return "".join(f"{address} {name}\n" for name, address in self.addresses.items())

    def attach(self, node: Node, leader: int) -> None:
        link = f"lab{list(self.addresses).index(node.name)}"
        ip = ["ip", "-n", self.namespace]
        subprocess.run([*ip, "link", "del", link], capture_output=True, check=False)  # the last boot's, if any
        subprocess.run(
            [*ip, "link", "add", link, "type", "veth", "peer", "name", "eth1", "netns", str(leader)], check=True
        )
        subprocess.run([*ip, "link", "set", link, "master", "br0", "up"], check=True)
        inside = ["nsenter", "-t", str(leader), "-n", "ip"]
        subprocess.run([*inside, "addr", "add", f"{self.addresses[node.name]}/24", "dev", "eth1"], check=True)
        subprocess.run([*inside, "link", "set", "eth1", "up"], check=True)


def nvswitch_and_pcie_nodes(work: Path, prefix: str, sources: Sources) -> list[Node]:
    """The lab's usual pair: an NVSwitch p5 (fabric manager, 32 EFA) and a PCIe g6e, not yet created."""
    return [
        Node(f"{prefix}-p5", work / f"{prefix}-p5", "p5.48xlarge", sources.socket),
        Node(f"{prefix}-g6e", work / f"{prefix}-g6e", "g6e.48xlarge", sources.socket),
    ]


@contextmanager
def booted(
    nodes: list[Node], key: Path, before_boot: Any = None, network: LabNetwork | None = None
) -> Iterator[dict[str, Node]]:
    """Create and boot ``nodes`` (``before_boot(nodes)`` runs between the two), on ``network`` if given;
    power them off after."""
    try:
        if network is not None:
            network.join(nodes)
        for node in nodes:
            node.create(key)
            if network is not None:
                with (node.root / "etc" / "hosts").open("a") as hosts:
                    hosts.write(network.hosts_file())
        if before_boot is not None:
            before_boot(nodes)
        for node in nodes:
            node.start()
        yield {node.name: node for node in nodes}
    finally:
        for node in nodes:
            node.stop()


def health(node: Node) -> tuple[int, dict[str, Any]]:
    """The health check the gate runs, run on the node itself: its exit status and its JSON."""
    result = node.run("/opt/gpucloud/venv/bin/gpucloud", "health", "check", "--expect", node.sku, "--json", check=False)
    return result.returncode, json.loads(result.stdout)


def failed_checks(doc: dict[str, Any]) -> set[str]:
    return {c["name"] for c in doc["checks"] if c["verdict"] == "FAIL"}


def installed(node: Node) -> dict[str, str]:
    """Installed packages and their versions."""
    out = node.run("dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n").stdout
    return {n: v for n, v, s in (line.split(" ", 2) for line in out.splitlines()) if s.startswith(("ii", "hi"))}


def held(node: Node) -> set[str]:
    out = node.run("dpkg", "--get-selections").stdout
    return {line.split()[0] for line in out.splitlines() if line.split()[-1] == "hold"}


def write_inventory(
    path: Path, wheelhouse: Path, nodes: list[Node], key: Path, groups: dict[str, list[str]] | None = None, **extra: Any
) -> Path:
    """An inventory of booted nodes reached over SSH, taking packages from the lab repository; ``groups``
    names inventory groups of them (role_head_node, role_gpu_node)."""
    connect = ROOT / "tests" / "lab-connect"
    sku = extra.pop("gpucloud_sku", None)  # a host var (each node has one), so an override must be one too
    url = f"http://127.0.0.1:{REPO_PORT}/"
    hosts = {
        node.name: {
            "ansible_host": node.name,
            "gpucloud_sku": sku or node.sku,
            "ansible_ssh_common_args": (
                f"-o ProxyCommand='{connect} {node.leader_file}' -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
            ),
        }
        for node in nodes
    }
    doc = {
        "all": {
            "vars": {
                "ansible_connection": "ssh",
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_python_interpreter": "/usr/bin/python3",
                "gpucloud_site": "onprem",
                "gpucloud_repo_url": url,
                "gpucloud_repo_key_url": url + "key.asc",
                "gpu_health_wheelhouse": str(wheelhouse),
                # A container cannot load kernel modules: the stand-in driver records what it "loaded" at boot.
                "nvidia_driver_loaded_version_file": "/run/nvidia-standin/loaded-driver-version",
                # A lab node boots in about 10 s: a reboot that takes minutes is a stuck lab, reported as such.
                "nvidia_driver_reboot_timeout": REBOOT_TIMEOUT_S,
                **extra,
            },
            "hosts": hosts,
            "children": {group: {"hosts": {name: {} for name in names}} for group, names in (groups or {}).items()},
        }
    }
    for node in nodes:
        if node.network is not None:  # the cluster's own network, not the SSH path
            hosts[node.name]["slurm_config_node_address"] = node.network.addresses[node.name]
    path.write_text(yaml.safe_dump(doc))
    return path


SECRETS_PORT = 4566  # the lab's Secrets Manager, at the lab network's gateway
# A tenant's FSx for Lustre file system as the tenant inventory names it (from the nodes' tags).
LAB_FSX = {
    "lustre_client_dns_name": "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com",
    "lustre_client_mount_name": "abcdefgh",
}


@contextmanager
def lab_secret(network: LabNetwork, work: Path, value: str) -> Iterator[dict[str, Any]]:
    """A Secrets Manager (moto's server, inside ``network``'s namespace) holding ``value``; yields the munge
    role's variables that name it, as the tenant inventory composes them, plus the lab's endpoint."""
    (work / "munge-key").write_text(value)
    server = network.start([
        sys.executable, str(ROOT / "tests" / "lab_secrets.py"), network.gateway, str(SECRETS_PORT),
        "gpucloud/lab/munge-key-", str(work / "munge-key"),
    ])  # fmt: skip
    try:
        assert server.stdout is not None
        said = []
        for line in server.stdout:  # moto says it started; then the script prints the ARN (or exits)
            said.append(line.strip())
            if line.startswith("arn:aws:secretsmanager:"):
                break
        else:
            raise RuntimeError(f"the lab's Secrets Manager did not start (said {said!r})")
        arn = said[-1]
        yield {
            "munge_key_secret": arn,
            "munge_key_secret_region": "us-east-1",
            "munge_key_secret_endpoint": f"http://{network.gateway}:{SECRETS_PORT}",
            # On EC2 the SDK takes the instance role's credentials from the metadata service; moto takes any.
            "munge_key_secret_environment": {"AWS_ACCESS_KEY_ID": "lab", "AWS_SECRET_ACCESS_KEY": "lab"},
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def write_cluster_inventory(path: Path, sources: Sources, head: Node, gpus: list[Node], **extra: Any) -> Path:
    """The inventory of a lab Slurm cluster: groups as the tenant inventory makes them, the lab repository in
    place of AWS's Lustre client repository, and what the lab's small nodes and read-only cgroups need."""
    # The lab repository under another name than the NVIDIA mirror's: apt refuses one source signed by two
    # keyring files, as a site's two mirrors (NVIDIA's, AWS's Lustre client) are two sources.
    url = f"http://127.1:{REPO_PORT}/"  # 127.0.0.1, spelt otherwise: another source to apt
    return write_inventory(
        path, sources.wheelhouse, [head, *gpus], sources.key,
        groups={"role_head_node": [head.name], "role_gpu_node": [node.name for node in gpus]},
        lustre_client_repo_url=url, lustre_client_repo_suite="/", lustre_client_repo_components="",
        lustre_client_repo_key_url=url + "key.asc",
        # systemd in a container has no autofs, and no Lustre server is here: fstab only, no mount.
        lustre_client_mount_now=False,
        slurm_config_overrides=True,  # the lab's nodes have 2 CPUs, not the 192 of a p5
        # This machine's cgroups are v1, read-only inside the nodes: no cgroup tracking or confinement here.
        slurm_config_proctrack="proctrack/linuxproc", slurm_config_task_plugins="task/affinity",
        **{**sources.github_stand_ins(), **extra},
    )  # fmt: skip


def require_boot_lab() -> str | None:
    """Why booted nodes cannot run here, or None."""
    if os.geteuid() != 0:
        return "booting nodes with systemd-nspawn needs root"
    for tool in ("debootstrap", "apt-ftparchive", "gpg", "dpkg-deb", "chroot", "systemd-nspawn", "nsenter", "socat",
                 "ssh", "gcc", "ip"):  # fmt: skip
        if not shutil.which(tool):
            return f"{tool} is not installed (make deps installs the Debian packages the lab needs)"
    return None
