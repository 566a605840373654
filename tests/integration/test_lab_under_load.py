"""The booted-node lab itself, under load: the leader of a node (what SSH, the repository forwarder and the lab
network's link enter) is always the container's init, on the first boot and after every reboot, while both
cores are kept busy (nspawn's short-lived intermediate child is most likely read on a loaded machine).

And the rule that picks it, against a stand-in of nspawn that starts an intermediate child before the init:
the race, made certain instead of likely."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import bootlab
import pytest

pytestmark = pytest.mark.integration
REBOOTS = 4  # per node, each checked
HOG_S = 600  # the CPU hog's own bound: it stops by itself even if the test is killed


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.fixture()
def busy_machine() -> Iterator[None]:
    """Every core busy (one spinning process per core), for at most HOG_S seconds."""
    hogs = [multiprocessing.Process(target=_spin, args=(HOG_S,), daemon=True) for _ in range(os.cpu_count() or 2)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()  # SIGKILL: no signal mask the hog inherited can hold it back (conftest._signals_unblocked)
            hog.join(timeout=10)


@pytest.fixture()
def fake_init(tmp_path: Path) -> Path:
    """A program whose process name is ``systemd`` (sleep under that name): an init to look for."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a PID namespace of the test's own needs root and unshare")
    path = tmp_path / "systemd"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", path)
    return path


def test_the_leader_is_the_init_and_never_the_intermediate_child(fake_init: Path) -> None:
    """A stand-in of systemd-nspawn whose first child lives a second (as nspawn's intermediate does) before the
    container's init exists: the leader is the init, PID 1 of its own PID namespace. The first child (what the
    lab once took for the node) is refused, and so is a process named systemd in the host's PID namespace."""
    nspawn = subprocess.Popen(
        ["sh", "-c", f"sleep 1 & wait; exec unshare --pid --fork {fake_init} 30"], start_new_session=True
    )
    node = bootlab.Node("race", fake_init.parent / "race", None, fake_init.parent / "none.sock")
    outside = subprocess.Popen([str(fake_init), "30"])
    try:
        deadline = time.monotonic() + 5
        while not bootlab._descendants(nspawn.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        intermediate = bootlab._descendants(nspawn.pid)[0]
        leader = node._container_init(nspawn, timeout=10)
        assert leader is not None and leader != intermediate
        assert bootlab._comm(leader) == "systemd"
        own = next(line for line in bootlab._read(f"/proc/{leader}/status").splitlines() if line.startswith("NSpid"))
        assert own.split()[-1] == "1", own
        outer = bootlab._pid_namespace(nspawn.pid)
        assert not bootlab.is_container_init(outside.pid, outer)  # systemd by name, but in the host's namespace
        assert not bootlab.is_container_init(intermediate, outer)
    finally:
        os.killpg(nspawn.pid, 9)
        nspawn.wait()
        outside.kill()
        outside.wait()


def _ssh(node: bootlab.Node, key: Path, command: str) -> subprocess.CompletedProcess[str]:
    """SSH to the node exactly as Ansible does (lab-connect as the ProxyCommand)."""
    connect = bootlab.ROOT / "tests" / "lab-connect"
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", f"ProxyCommand={connect} {node.leader_file}", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
         f"root@{node.name}", command],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _check_boot(node: bootlab.Node, peer: bootlab.Node, network: bootlab.LabNetwork, key: Path) -> str:
    """One boot of ``node``, checked: its leader is its container's init, SSH answers through it, the lab
    repository answers on the node's loopback, and the peer's sshd answers over the lab network. Its boot id."""
    assert node._proc is not None
    leader = int(node.leader_file.read_text())
    assert bootlab.is_container_init(leader, bootlab._pid_namespace(node._proc.pid)), (leader, node.describe())
    assert leader in bootlab._descendants(node._proc.pid), node.describe()
    peer_address = network.addresses[peer.name]
    probe = (
        "cat /proc/sys/kernel/random/boot_id; "
        "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/key.asc',"
        ' timeout=20).read()[:36].decode())"; '
        f"python3 -c \"import socket; s = socket.create_connection(('{peer_address}', 22), timeout=20);"
        ' print(s.recv(64).decode().strip())"'
    )
    result = _ssh(node, key, probe)
    assert result.returncode == 0, f"{result.stderr}\n{node.describe()}"
    boot_id, repository, peer_banner = result.stdout.splitlines()[:3]
    assert repository.startswith("-----BEGIN PGP PUBLIC KEY BLOCK"), repository
    assert peer_banner.startswith("SSH-2.0-"), peer_banner
    return boot_id


def test_nodes_boot_and_reboot_under_load_and_are_reached_through_their_init(
    lab_sources: bootlab.Sources, tmp_path: Path, busy_machine: None
) -> None:
    nodes = [bootlab.Node(f"load{i}", tmp_path / f"load{i}", None, lab_sources.socket) for i in range(3)]
    with (
        bootlab.LabNetwork(f"gpucloud-load-{os.getpid()}") as network,
        bootlab.booted(nodes, lab_sources.key, network=network),
    ):
        seen: dict[str, set[str]] = {node.name: set() for node in nodes}
        for round_ in range(REBOOTS + 1):
            for i, node in enumerate(nodes):
                if round_:
                    node.reboot()
                boot_id = _check_boot(node, nodes[(i + 1) % len(nodes)], network, lab_sources.key)
                assert boot_id not in seen[node.name], f"{node.name}: boot {round_} has an old boot id"
                seen[node.name].add(boot_id)
            print(f"round {round_}: {[node.boots for node in nodes]} boots")
        assert all(node.boots == REBOOTS + 1 for node in nodes), [node.log for node in nodes]
