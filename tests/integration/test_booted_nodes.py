"""The node roles on booted nodes: Debian 12 root filesystems booted with systemd-nspawn, reached over SSH,
with stand-in NVIDIA packages whose libnvidia-ml.so.1 answers pynvml from the node's state (tests/bootlab.py).
The health gate runs, as on a real node: nothing here switches it off."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bootlab
import nodelab
import pytest
import yaml

from gpucloud.nodes import RunResult, configure

pytestmark = pytest.mark.integration
ROOT = nodelab.ROOT


@dataclass
class Lab:
    nodes: dict[str, bootlab.Node]
    inventory: Path
    first: RunResult
    second: RunResult
    boot_ids: dict[str, str]
    sources: bootlab.Sources
    base: dict[str, object]  # what every inventory of this lab says (AWS nodes, with EFA)

    def inventory_with(self, path: Path, **extra: object) -> Path:
        nodes = list(self.nodes.values())
        return bootlab.write_inventory(path, self.sources.wheelhouse, nodes, self.sources.key, **{**self.base, **extra})


@pytest.fixture(scope="module")
def lab(lab_sources: bootlab.Sources, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("bootlab")
    nodes = bootlab.nvswitch_and_pcie_nodes(work, "node", lab_sources)

    def kernel_flavour(nodes: list[bootlab.Node]) -> None:  # a kernel flavour to find and hold on the p5
        nodelab.install_kernel_stand_in(work, nodes[0].root)

    # AWS nodes: both SKUs have EFA, installed from the lab's stand-in of the pinned installer version.
    base = {"gpucloud_site": "aws", **lab_sources.efa(str(nodelab.pins()["efa_installer_version"]))}
    with bootlab.booted(nodes, lab_sources.key, kernel_flavour) as by_name:
        boot_ids = {name: node.boot_id() for name, node in by_name.items()}
        inventory = bootlab.write_inventory(work / "hosts.yml", lab_sources.wheelhouse, nodes, lab_sources.key, **base)
        start = time.monotonic()
        first = configure(ROOT, inventory)
        first_s = time.monotonic() - start
        start = time.monotonic()
        second = configure(ROOT, inventory)
        print(f"booted lab converge: first {first_s:.1f} s, second {time.monotonic() - start:.1f} s")
        yield Lab(by_name, inventory, first, second, boot_ids, lab_sources, base)


def gpucloud_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(ROOT), *args], capture_output=True, text=True, timeout=900
    )


def test_a_fresh_node_converges_reboots_starts_its_services_and_passes_the_gate(lab: Lab) -> None:
    assert lab.first.ok, [h.as_json() for h in lab.first.hosts]
    assert all(h.changed > 0 for h in lab.first.hosts)
    for name, node in lab.nodes.items():
        assert node.boots == 2, node.log  # the driver was installed, then the node rebooted into it once
        assert node.boot_id() != lab.boot_ids[name]
        status, doc = bootlab.health(node)
        assert status == 0 and doc["verdict"] == "PASS", bootlab.failed_checks(doc)
        assert node.run("test", "-e", "/var/lib/gpucloud/in-service", check=False).returncode == 0
    p5, g6e = lab.nodes["node-p5"], lab.nodes["node-g6e"]
    assert p5.run("systemctl", "is-active", "nvidia-fabricmanager", check=False).stdout.strip() == "active"
    assert g6e.run("systemctl", "is-active", "nvidia-fabricmanager", check=False).stdout.strip() != "active"
    for node in lab.nodes.values():
        for unit in ("nvidia-persistenced", "nvidia-dcgm", "gpucloud-health.timer"):
            assert node.run("systemctl", "is-active", unit, check=False).stdout.strip() == "active", unit
        # Issue 26 (8): the gate ran DCGM's diagnostic at health.yaml's level (the stand-in dcgmi records its calls).
        calls = node.run("cat", "/run/nvidia-standin/dcgmi.calls").stdout.splitlines()
        assert "diag -r 3 --json" in calls, calls


def test_the_container_engine_runs_the_nvidia_runtime_and_cdi_names_the_gpus(lab: Lab) -> None:
    driver = str(nodelab.pins()["nvidia_driver_version"])
    for node in lab.nodes.values():
        # The real containerd, reading the config the toolkit's CLI wrote, and running after its restart.
        config = node.run("containerd", "config", "dump").stdout
        assert "containerd.runtimes.nvidia]" in config, config[-2000:]
        assert 'BinaryName = "/usr/bin/nvidia-container-runtime"' in config
        assert node.run("systemctl", "is-active", "containerd", check=False).stdout.strip() == "active"
        spec = yaml.safe_load(node.run("cat", "/etc/cdi/nvidia.yaml").stdout)
        gpus = bootlab.catalog_entry(node.sku)["gpu_count"]
        assert [d["name"] for d in spec["devices"]] == [*map(str, range(gpus)), "all"]
        assert any(m["hostPath"].endswith(f"libnvidia-ml.so.{driver}") for m in spec["containerEdits"]["mounts"])


def test_efa_is_installed_at_the_pin_and_every_interface_is_seen(lab: Lab, tmp_path: Path) -> None:
    version = str(nodelab.pins()["efa_installer_version"])
    for node in lab.nodes.values():
        assert f"EFA installer version: {version}" in node.run("cat", "/opt/amazon/efa_installed_packages").stdout
    node = lab.nodes["node-p5"]
    try:
        node.inject(efa_missing=1)
        result = configure(ROOT, lab.inventory_with(tmp_path / "hosts.yml"), limit="node-p5")
    finally:
        node.inject()
    (host,) = result.hosts
    assert host.status == "failed", host
    assert "fi_info -p efa found 31 EFA interfaces on node-p5, the catalog says p5.48xlarge has 32" in host.message


def test_a_second_converge_changes_nothing(lab: Lab) -> None:
    assert lab.second.ok, [h.as_json() for h in lab.second.hosts]
    assert [(h.host, h.changed) for h in lab.second.hosts] == [("node-g6e", 0), ("node-p5", 0)]
    assert all(node.boots == 2 for node in lab.nodes.values())  # no reboot when the pinned driver is loaded


def test_the_pinned_debian_packages_are_installed_and_held(lab: Lab) -> None:
    pins = nodelab.pins()
    driver = f"{pins['nvidia_driver_version']}-1"
    cuda = "cuda-toolkit-" + str(pins["cuda_version"]).replace(".", "-")
    cuda_major = pins["driver_cuda_major"][str(pins["nvidia_driver_branch"])]  # type: ignore[index]
    dcgm = f"datacenter-gpu-manager-4-cuda{cuda_major}"  # the driver's CUDA major, not only the toolkit's
    for node in lab.nodes.values():
        found = bootlab.installed(node)
        for name in ("nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-persistenced"):
            assert found[name] == driver, name  # not the newer decoy the repository also offers
        assert "nvidia-kernel-dkms" not in found  # open modules, as pinned
        assert [name for name in found if name.startswith("datacenter-gpu-manager-4-")] == [dcgm]
        assert f"linux-headers-{node.run('uname', '-r').stdout.strip()}" in found  # what DKMS builds against
        blacklist = node.run("apt-config", "dump", "Unattended-Upgrade::Package-Blacklist").stdout
        assert all(f'"^{p}' in blacklist for p in ("nvidia-", "libnvidia-", "linux-")), blacklist
        assert found[cuda] == pins["cuda_package_version"]
        assert found[dcgm] == pins["dcgm_package_version"]
        assert {"nvidia-driver-cuda", "nvidia-kernel-open-dkms", cuda, dcgm} <= bootlab.held(node)
        dropin = node.run("cat", "/etc/systemd/system/nvidia-persistenced.service.d/gpucloud.conf").stdout
        assert "--persistence-mode" in dropin
    assert {"nvidia-fabricmanager", "libnvidia-nscq"} <= bootlab.held(lab.nodes["node-p5"])
    assert "nvidia-fabricmanager" not in bootlab.installed(lab.nodes["node-g6e"])
    assert "linux-image-amd64" in bootlab.held(lab.nodes["node-p5"])  # the kernel flavour it has is held
    assert "linux-image-amd64" not in bootlab.installed(lab.nodes["node-g6e"])  # no flavour installed: nothing held


def test_injected_faults_fail_the_gate(lab: Lab) -> None:
    node = lab.nodes["node-g6e"]
    try:
        node.inject(gpu3_ecc_uncorrected=2)
        result = gpucloud_cli("nodes", "configure", "--inventory", str(lab.inventory), "--playbook", "health",
                              "--json")  # fmt: skip
        assert result.returncode == 1, result.stderr
        hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
        assert hosts["node-g6e"]["status"] == "failed" and hosts["node-p5"]["status"] != "failed"
        assert "on GPU 3: uncorrectable memory errors" in hosts["node-g6e"]["message"], hosts["node-g6e"]  # named
        # What only DCGM's diagnostic finds (NVML reports nothing wrong): the gate fails the node, naming test and GPU.
        node.inject(dcgm_fail=5)
        result = gpucloud_cli("nodes", "configure", "--inventory", str(lab.inventory), "--playbook", "health",
                              "--limit", "node-g6e", "--json")  # fmt: skip
        assert result.returncode == 1, result.stderr
        (host,) = json.loads(result.stdout)["hosts"]
        assert "dcgm-diag-r3" in host["message"] and "memory (Hardware): Fail on GPU 5" in host["message"], host
        assert bootlab.health(node)[0] == 0  # the timer's quick check does not run DCGM
        for faults, check in (
            ({"gpus_missing": 1}, "gpu-count"),
            ({"gpu1_row_remap_failed": 1}, "row-remapping"),
            ({"gpu2_lost": 1}, "model"),
        ):
            node.inject(**faults)
            status, doc = bootlab.health(node)
            assert status == 1 and doc["verdict"] == "FAIL", faults
            assert check in bootlab.failed_checks(doc), (faults, bootlab.failed_checks(doc))
        node.inject()
        node.kernel_message("NVRM: Xid (PCI:0000:18:00): 79, pid=1234, name=python3, GPU has fallen off the bus.")
        status, doc = bootlab.health(node)
        assert status == 1 and bootlab.failed_checks(doc) == {"xid"}, bootlab.failed_checks(doc)
    finally:
        node.inject()
        node.clear_kernel_log()
    assert bootlab.health(node)[0] == 0


@pytest.mark.parametrize(
    ("unit", "check"), [("nvidia-fabricmanager", "fabric"), ("nvidia-persistenced", "persistence-mode")]
)
def test_a_stopped_fabric_manager_or_persistence_daemon_fails_the_gate(lab: Lab, unit: str, check: str) -> None:
    node = lab.nodes["node-p5"]
    try:
        node.run("systemctl", "stop", unit)
        status, doc = bootlab.health(node)
        assert status == 1 and check in bootlab.failed_checks(doc)
    finally:
        node.run("systemctl", "start", unit)
    assert bootlab.health(node)[0] == 0


def test_a_node_in_service_on_the_wrong_driver_reboots_only_where_allowed(lab: Lab, tmp_path: Path) -> None:
    """The reboot is decided from the node's state, not from a task's `changed`: a converge that installs
    nothing still reboots a node whose loaded driver is not the pin, if it may."""
    node = lab.nodes["node-g6e"]
    boots = node.boots
    node.run("sh", "-c", "echo 580.0.0 > /run/nvidia-standin/loaded-driver-version")
    refused = configure(ROOT, lab.inventory, limit="node-g6e")
    (host,) = refused.hosts
    assert host.status == "failed" and "needs a reboot" in host.message and "in service" in host.message
    assert node.boots == boots and bootlab.health(node)[0] == 1  # NVML: driver/library version mismatch
    allowed = configure(ROOT, lab.inventory_with(tmp_path / "hosts.yml", nvidia_driver_reboot_allowed=True),
                        limit="node-g6e")  # fmt: skip
    assert allowed.ok, [h.as_json() for h in allowed.hosts]
    assert node.boots == boots + 1 and bootlab.health(node)[0] == 0


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"cuda_toolkit_package_version": "13.0.2-1", "nvidia_driver_version": "580.82.07"},
         "(CUDA 13.0.2) needs a driver >= 580.95.05"),
        ({"fabric_manager_version": "580.95.05"}, "fabric_manager_version=580.95.05 must equal"),
        ({"gpucloud_sku": "p9.huge"}, "gpucloud_sku=p9.huge is not in the GPU catalog"),
        ({"gpucloud_repo_url": ""}, 'nvidia_driver_repo_url=""'),
        ({"nvidia_driver_version": "575.57.08"}, "is not on nvidia_driver_branch=580"),
        ({"preflight_secure_boot_file": "/etc/nvidia-standin/secureboot-enabled"}, "Secure Boot is on"),
    ],
)  # fmt: skip
def test_preflight_refuses_before_anything_changes(lab: Lab, tmp_path: Path, bad: dict[str, str], needle: str) -> None:
    before = bootlab.installed(lab.nodes["node-p5"])
    result = configure(ROOT, lab.inventory_with(tmp_path / "hosts.yml", **bad), limit="node-p5")
    (node,) = result.hosts
    assert node.status == "failed" and needle in node.message, node.message
    assert node.changed == 0
    assert bootlab.installed(lab.nodes["node-p5"]) == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--inventory", "/no/such/inventory.yml"], "--inventory=/no/such/inventory.yml"),
        (["--inventory", "inventories/sample", "--playbook", "nope"], "--playbook='nope'"),
    ],
)
def test_bad_input_is_exit_2(args: list[str], needle: str) -> None:
    result = gpucloud_cli("nodes", "configure", *args)
    assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr


def test_the_rollout_health_gate_stops_a_tenant_whose_node_lost_a_gpu(lab: Lab, tmp_path: Path) -> None:
    from gpucloud.rollout.steps import StepError, health_gate

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Pulumi.yaml", "ansible.cfg"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("stacks", "playbooks", "gpucloud/data"):
        shutil.copytree(ROOT / folder, repo / folder)
    # The tenant's inventory, pointing at a booted lab node instead of EC2 instances.
    inventory = repo / "inventories/tenants/acme/us-east-1.aws_ec2.yml"
    inventory.parent.mkdir(parents=True)
    node = lab.nodes["node-p5"]
    bootlab.write_inventory(inventory, lab.sources.wheelhouse, [node], lab.sources.key)
    health_gate(repo, "tenant-acme-us-east-1")  # healthy: passes
    try:
        node.inject(gpus_missing=1)
        with pytest.raises(StepError) as failure:
            health_gate(repo, "tenant-acme-us-east-1")
    finally:
        node.inject()
    assert failure.value.step == "health"
    assert "node-p5" in str(failure.value)


def test_check_mode_on_a_converged_host_limited_to_it_exits_0(lab: Lab) -> None:
    result = gpucloud_cli(
        "nodes", "configure", "--inventory", str(lab.inventory), "--limit", "node-g6e", "--check", "--json"
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    hosts = json.loads(result.stdout)["hosts"]
    assert [h["host"] for h in hosts] == ["node-g6e"]
    assert hosts[0]["failed"] == 0 and hosts[0]["changed"] == 0


def test_bumping_the_efa_pin_upgrades_an_installed_node(lab: Lab, tmp_path: Path) -> None:
    node = lab.nodes["node-g6e"]
    boots = node.boots
    bumped = str(nodelab.pins()["efa_installer_version"]) + nodelab.EFA_BUMP
    inventory = lab.inventory_with(tmp_path / "hosts.yml", nvidia_driver_reboot_allowed=True, **lab.sources.efa(bumped))
    result = configure(ROOT, inventory, limit="node-g6e")
    assert result.ok, [h.as_json() for h in result.hosts]
    assert f"EFA installer version: {bumped}" in node.run("cat", "/opt/amazon/efa_installed_packages").stdout
    assert node.boots == boots + 1  # the installer changed kernel modules: the node rebooted onto them
    assert bootlab.health(node)[0] == 0
