"""The node roles for real: Ansible converges Debian 12 root filesystems (chroot connection) from a signed
local apt repository of stand-in packages, through `gpucloud nodes configure`, twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nodelab
import pytest

from gpucloud.nodes import RunResult, configure

pytestmark = pytest.mark.integration
ROOT = nodelab.ROOT


def _lab_or_skip() -> None:
    reason = nodelab.require_lab()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: the repository installs it (make deps); CI must have it")
        pytest.skip(reason)


@dataclass
class Lab:
    work: Path
    url: str
    wheelhouse: Path
    hosts: dict[str, Path]
    inventory: Path
    first: RunResult
    second: RunResult
    first_s: float
    second_s: float


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _lab_or_skip()
    work = tmp_path_factory.mktemp("nodelab")
    repo = nodelab.build_apt_repo(work)
    wheelhouse = nodelab.build_wheelhouse(work / "wheelhouse")
    hosts = {"node-p5": nodelab.make_host(work / "p5"), "node-g6e": nodelab.make_host(work / "g6e")}
    skus = {"node-p5": "p5.48xlarge", "node-g6e": "g6e.48xlarge"}
    nodelab.install_kernel_stand_in(work, hosts["node-p5"])  # a node with a kernel metapackage to hold
    with nodelab.serve(repo) as url:
        inventory = nodelab.write_inventory(
            work / "hosts.yml",
            url,
            wheelhouse,
            {name: {"ansible_host": str(path), "gpucloud_sku": skus[name]} for name, path in hosts.items()},
        )
        start = time.monotonic()
        first = configure(ROOT, inventory)
        first_s = time.monotonic() - start
        start = time.monotonic()
        second = configure(ROOT, inventory)
        second_s = time.monotonic() - start
        yield Lab(work, url, wheelhouse, hosts, inventory, first, second, first_s, second_s)


def test_converge_then_converge_again_changes_nothing(lab: Lab) -> None:
    assert lab.first.ok, [h.as_json() for h in lab.first.hosts]
    assert {h.host for h in lab.first.hosts} == {"node-p5", "node-g6e"}
    assert all(h.changed > 0 for h in lab.first.hosts)
    assert lab.second.ok
    assert [(h.host, h.changed) for h in lab.second.hosts] == [("node-g6e", 0), ("node-p5", 0)]
    print(f"converge: first {lab.first_s:.1f} s, second {lab.second_s:.1f} s")


def test_the_pinned_versions_are_installed_and_held(lab: Lab) -> None:
    pins = nodelab.pins()
    driver = f"{pins['nvidia_driver_version']}-1"
    for host in lab.hosts.values():
        installed = nodelab.installed(host)
        assert installed["nvidia-driver"] == driver  # not the newer decoy the repository also offers
        assert installed["nvidia-kernel-open-dkms"] == driver  # open modules, as pinned
        assert "nvidia-kernel-dkms" not in installed
        assert installed["cuda-toolkit-12-8"] == pins["cuda_package_version"]
        assert installed["nvidia-container-toolkit"] == pins["nvidia_container_toolkit_version"]
        assert installed["datacenter-gpu-manager-4-cuda12"] == pins["dcgm_package_version"]
        assert {"nvidia-driver", "nvidia-kernel-open-dkms", "cuda-toolkit-12-8", "nvidia-container-toolkit",
                "datacenter-gpu-manager-4-cuda12"} <= nodelab.held(host)  # fmt: skip
        sources = (host / "etc/apt/sources.list.d/gpucloud-nvidia.sources").read_text()
        keyring = next(line.split(": ", 1)[1] for line in sources.splitlines() if line.startswith("Signed-By: "))
        assert keyring.startswith("/etc/apt/keyrings/gpucloud-nvidia-") and (host / keyring.lstrip("/")).is_file()
        assert "trusted" not in sources.lower()


def test_the_kernel_is_held_where_there_is_one(lab: Lab) -> None:
    assert "linux-image-amd64" in nodelab.held(lab.hosts["node-p5"])
    assert "linux-image-amd64" not in nodelab.installed(lab.hosts["node-g6e"])  # nothing to hold: skipped


def test_fabric_manager_exactly_where_the_sku_needs_nvswitch(lab: Lab) -> None:
    assert "nvidia-fabricmanager-570" in nodelab.installed(lab.hosts["node-p5"])
    assert "nvidia-fabricmanager-570" in nodelab.held(lab.hosts["node-p5"])
    assert (
        lab.hosts["node-p5"] / "etc/systemd/system/multi-user.target.wants/nvidia-fabricmanager.service"
    ).is_symlink()
    assert "nvidia-fabricmanager-570" not in nodelab.installed(lab.hosts["node-g6e"])


def test_nouveau_persistence_health_timer_and_no_efa_off_aws(lab: Lab) -> None:
    for host in lab.hosts.values():
        assert "blacklist nouveau" in (host / "etc/modprobe.d/blacklist-nouveau.conf").read_text()
        assert (host / "etc/systemd/system/multi-user.target.wants/nvidia-persistenced.service").is_symlink()
        assert (host / "etc/systemd/system/timers.target.wants/gpucloud-health.timer").is_symlink()
        service = (host / "etc/systemd/system/gpucloud-health.service").read_text()
        assert "/opt/gpucloud/venv/bin/gpucloud health check --expect" in service
        assert not (host / "opt/aws-efa-installer").exists()  # on-prem: EFA skipped
    assert "--expect p5.48xlarge" in (lab.hosts["node-p5"] / "etc/systemd/system/gpucloud-health.service").read_text()


def test_the_installed_health_check_fails_closed_on_a_node_without_gpu(lab: Lab) -> None:
    result = subprocess.run(
        ["chroot", str(lab.hosts["node-p5"]), "/opt/gpucloud/venv/bin/gpucloud", "health", "check", "--expect",
         "p5.48xlarge", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["verdict"] == "FAIL"


def gpucloud_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(ROOT), *args], capture_output=True, text=True, timeout=900
    )


def test_the_health_playbook_fails_hosts_without_gpus_exit_1(lab: Lab) -> None:
    result = gpucloud_cli("nodes", "configure", "--inventory", str(lab.inventory), "--playbook", "health", "--json")
    assert result.returncode == 1, result.stderr
    hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
    assert hosts["node-p5"]["status"] == "failed" and hosts["node-g6e"]["status"] == "failed"
    assert "Check the GPUs are what the node is sold as" in hosts["node-p5"]["message"]


def test_an_unreachable_host_fails_alone(lab: Lab, tmp_path: Path) -> None:
    inventory = nodelab.write_inventory(
        tmp_path / "hosts.yml",
        lab.url,
        lab.wheelhouse,
        {
            "node-p5": {"ansible_host": str(lab.hosts["node-p5"]), "gpucloud_sku": "p5.48xlarge"},
            "node-gone": {"ansible_host": str(tmp_path / "no-such-root"), "gpucloud_sku": "p5.48xlarge"},
        },
    )
    result = gpucloud_cli("nodes", "configure", "--inventory", str(inventory), "--json")
    assert result.returncode == 1
    hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
    # The chroot connection reports a missing root as a failure (SSH would say unreachable).
    assert hosts["node-gone"]["status"] in ("failed", "unreachable")
    assert "no-such-root" in hosts["node-gone"]["message"] or "chroot" in hosts["node-gone"]["message"]
    assert hosts["node-p5"]["status"] == "ok"  # converged already, and not stopped by the other host
    human = gpucloud_cli("nodes", "configure", "--inventory", str(inventory))
    assert human.returncode == 1 and "1 host(s) failed: node-gone" in human.stdout


@pytest.fixture()
def bare_host(lab: Lab, tmp_path: Path) -> Path:
    return nodelab.make_host(tmp_path / "bare")


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"cuda_toolkit_version": "13.0"}, "cuda_toolkit_version=13.0 needs a driver >= 580.65.06"),
        ({"fabric_manager_version": "570.133.20"}, "fabric_manager_version=570.133.20 must equal"),
        ({"gpucloud_sku": "p9.huge"}, "gpucloud_sku=p9.huge is not in the GPU catalog"),
        ({"gpucloud_repo_url": ""}, 'nvidia_driver_repo_url=""'),
        ({"nvidia_driver_version": "575.57.08"}, "is not on nvidia_driver_branch=570"),
    ],
)
def test_preflight_refuses_before_anything_changes(
    lab: Lab, bare_host: Path, tmp_path: Path, bad: dict[str, str], needle: str
) -> None:
    host = {"ansible_host": str(bare_host), "gpucloud_sku": "p5.48xlarge", **bad}
    inventory = nodelab.write_inventory(tmp_path / "hosts.yml", lab.url, lab.wheelhouse, {"node-bad": host})
    result = configure(ROOT, inventory)
    (node,) = result.hosts
    assert node.status == "failed" and needle in node.message, node.message
    assert node.changed == 0
    assert not (bare_host / "etc/apt/sources.list.d/gpucloud-nvidia.sources").exists()


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


def test_the_rollout_health_gate_fails_closed_on_nodes_without_gpus(lab: Lab, tmp_path: Path) -> None:
    import shutil

    from gpucloud.rollout.steps import StepError, health_gate

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Pulumi.yaml", "ansible.cfg"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("stacks", "playbooks", "gpucloud/data"):
        shutil.copytree(ROOT / folder, repo / folder)
    # The tenant's inventory, pointing at a chroot host instead of EC2 instances.
    inventory = repo / "inventories/tenants/acme/us-east-1.aws_ec2.yml"
    inventory.parent.mkdir(parents=True)
    node = {"ansible_host": str(lab.hosts["node-p5"]), "gpucloud_sku": "p5.48xlarge"}
    nodelab.write_inventory(inventory, lab.url, lab.wheelhouse, {"acme-node-0": node})
    with pytest.raises(StepError) as failure:
        health_gate(repo, "tenant-acme-us-east-1")
    assert failure.value.step == "health"
    assert "acme-node-0" in str(failure.value)


def test_a_node_resold_without_nvswitch_loses_its_fabric_manager(lab: Lab, tmp_path: Path) -> None:
    host = nodelab.make_host(tmp_path / "resold")
    node = {"ansible_host": str(host), "gpucloud_sku": "p5.48xlarge"}
    inventory = nodelab.write_inventory(tmp_path / "hosts.yml", lab.url, lab.wheelhouse, {"node-resold": node})
    assert configure(ROOT, inventory).ok
    assert "nvidia-fabricmanager-570" in nodelab.held(host)
    node["gpucloud_sku"] = "g6e.48xlarge"
    inventory = nodelab.write_inventory(tmp_path / "hosts.yml", lab.url, lab.wheelhouse, {"node-resold": node})
    result = configure(ROOT, inventory)
    assert result.ok, [h.as_json() for h in result.hosts]
    assert "nvidia-fabricmanager-570" not in nodelab.installed(host)


def test_check_mode_on_a_converged_host_limited_to_it_exits_0(lab: Lab) -> None:
    result = gpucloud_cli(
        "nodes", "configure", "--inventory", str(lab.inventory), "--limit", "node-g6e", "--check", "--json"
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    hosts = json.loads(result.stdout)["hosts"]
    assert [h["host"] for h in hosts] == ["node-g6e"]
    changed = [line for line in result.stderr.splitlines() if ": changed" in line]
    assert hosts[0]["failed"] == 0 and hosts[0]["changed"] == 0, changed
