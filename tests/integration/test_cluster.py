"""playbooks/cluster.yml on booted nodes (tests/bootlab.py) joined by a lab network of their own: a head node
and two GPU stand-in nodes become a Slurm cluster with Debian's slurm-wlm and MUNGE, the roles'
configuration, and the gpucloud health check as Slurm's HealthCheckProgram."""

from __future__ import annotations

import os
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
MUNGE_KEY = "lab-munge-key-" + "0123456789abcdef" * 4  # the stack generates 64 random alphanumerics


@dataclass
class Cluster:
    head: bootlab.Node
    gpus: list[bootlab.Node]
    inventory: Path
    first: RunResult
    second: RunResult
    sources: bootlab.Sources

    def slurm(self, *argv: str) -> str:
        return self.head.run(*argv).stdout

    def settles(self, node: str, state: str, timeout_s: float = 60) -> bool:
        """Whether Slurm reports ``node`` in ``state`` within ``timeout_s`` (its states change asynchronously)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.slurm("sinfo", "--noheader", f"--nodes={node}", "--format=%T").strip() == state:
                return True
            time.sleep(1)
        return False


@pytest.fixture(scope="module")
def cluster(lab_sources: bootlab.Sources, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("cluster")
    head = bootlab.Node("head", work / "head", None, lab_sources.socket)
    gpus = [
        bootlab.Node("gpu-a", work / "gpu-a", "p5.48xlarge", lab_sources.socket),
        bootlab.Node("gpu-b", work / "gpu-b", "g6e.48xlarge", lab_sources.socket),
    ]
    with (
        bootlab.LabNetwork(f"gpucloud-lab-{os.getpid()}") as network,
        bootlab.booted([head, *gpus], lab_sources.key, network=network),
    ):
        inventory = bootlab.write_inventory(
            work / "hosts.yml", lab_sources.wheelhouse, [head, *gpus], lab_sources.key,
            groups={"role_head_node": ["head"], "role_gpu_node": ["gpu-a", "gpu-b"]},
            munge_key=MUNGE_KEY,
            slurm_config_overrides=True,  # the lab's nodes have 2 CPUs, not the 192 of a p5
            # This machine's cgroups are v1, read-only inside the nodes: no cgroup tracking or confinement here.
            slurm_config_proctrack="proctrack/linuxproc", slurm_config_task_plugins="task/affinity",
        )  # fmt: skip
        start = time.monotonic()
        first = configure(ROOT, inventory, "cluster")
        first_s = time.monotonic() - start
        second = configure(ROOT, inventory, "cluster")
        print(f"cluster converge: first {first_s:.1f} s")
        yield Cluster(head, gpus, inventory, first, second, lab_sources)


def test_the_cluster_converges_and_runs_a_job_on_every_gpu_node(cluster: Cluster) -> None:
    assert cluster.first.ok, [h.as_json() for h in cluster.first.hosts]
    nodes = dict(line.split() for line in cluster.slurm("sinfo", "--noheader", "--Node", "--format=%N %T").splitlines())
    assert nodes == {"gpu-a": "idle", "gpu-b": "idle"}
    gres = dict(line.split() for line in cluster.slurm("sinfo", "--noheader", "--Node", "--format=%N %G").splitlines())
    assert gres == {"gpu-a": "gpu:h100:8", "gpu-b": "gpu:l40s:8"}
    ran = cluster.slurm("srun", "--nodes=2", "--ntasks-per-node=1", "hostname").split()
    assert sorted(ran) == ["gpu-a", "gpu-b"]


def test_a_second_run_changes_nothing(cluster: Cluster) -> None:
    assert cluster.second.ok, [h.as_json() for h in cluster.second.hosts]
    assert {h.host: h.changed for h in cluster.second.hosts} == {"head": 0, "gpu-a": 0, "gpu-b": 0}


def test_slurm_drains_a_node_whose_gpu_fails_its_health_check_and_resumes_it_once_fixed(cluster: Cluster) -> None:
    node = cluster.gpus[1]
    try:
        node.inject(gpus_missing=1)
        result = node.run("/usr/local/sbin/gpucloud-slurm-health", check=False)  # what slurmd runs every interval
        assert result.returncode == 1, result.stderr
        state, reason = cluster.slurm("sinfo", "--noheader", "--nodes=gpu-b", "--format=%T|%E").strip().split("|")
        assert state in ("drained", "draining") and reason.startswith("gpucloud health: gpu-count"), (state, reason)
    finally:
        node.inject()
    assert node.run("/usr/local/sbin/gpucloud-slurm-health", check=False).returncode == 0
    assert cluster.settles("gpu-b", "idle")  # resumed: "idle*" (not answering slurmctld's ping yet) first, at times


def test_an_operators_drain_is_left_alone_by_the_health_program(cluster: Cluster) -> None:
    cluster.slurm("scontrol", "update", "NodeName=gpu-a", "State=DRAIN", "Reason=RMA 4711")
    try:
        assert cluster.gpus[0].run("/usr/local/sbin/gpucloud-slurm-health", check=False).returncode == 0
        assert cluster.slurm("sinfo", "--noheader", "--nodes=gpu-a", "--format=%E").strip() == "RMA 4711"
    finally:
        cluster.slurm("scontrol", "update", "NodeName=gpu-a", "State=RESUME")


def test_a_missing_munge_key_is_refused_before_anything_changes(cluster: Cluster, tmp_path: Path) -> None:
    inventory = bootlab.write_inventory(
        tmp_path / "hosts.yml", cluster.sources.wheelhouse, [cluster.head, *cluster.gpus], cluster.sources.key,
        groups={"role_head_node": ["head"], "role_gpu_node": ["gpu-a", "gpu-b"]}, munge_key="short",
    )  # fmt: skip
    result = configure(ROOT, inventory, "cluster", limit="head")
    (host,) = result.hosts
    assert host.status == "failed" and "munge_key is too short (5 characters)" in host.message, host.message


def test_the_sample_inventorys_slurm_drain_commands_work_on_real_slurm(cluster: Cluster) -> None:
    """upgrade_driver.yml's node_drain role runs these on the node; here they run on a node of the lab's
    Slurm 22.05, as the role would run them, with the values Ansible would put in."""
    sample = yaml.safe_load((ROOT / "inventories/sample/group_vars/all/upgrade.yml").read_text())
    node = cluster.gpus[0]

    def argv(name: str, reason: str = "") -> list[str]:
        return [
            part.replace("{{ inventory_hostname_short }}", node.name).replace("{{ node_drain_reason }}", reason)
            for part in sample[name]
        ]

    assert node.run(*argv("node_drain_reason_argv")).stdout.strip() == "none"  # not drained: the role reads ""
    node.run(*argv("node_drain_argv", "gpucloud: driver upgrade to 580.105.08"))
    try:
        assert node.run(*argv("node_drain_reason_argv")).stdout.strip() == "gpucloud: driver upgrade to 580.105.08"
        assert node.run(*argv("node_drain_idle_argv"), check=False).returncode == 0  # no job on it
        job = cluster.head.run("sbatch", "--nodelist=gpu-a", "--wrap=sleep 30", "--parsable").stdout.strip()
        # A drained node takes no new job: the job waits, and the node stays idle.
        assert node.run(*argv("node_drain_idle_argv"), check=False).returncode == 0
        cluster.head.run("scancel", job)
    finally:
        node.run(*argv("node_drain_resume_argv"))
    assert cluster.settles(node.name, "idle")
    job = cluster.head.run("sbatch", "--nodelist=gpu-a", "--wrap=sleep 30", "--parsable").stdout.strip()
    try:
        deadline = time.monotonic() + 30
        while node.run(*argv("node_drain_idle_argv"), check=False).returncode == 0 and time.monotonic() < deadline:
            time.sleep(1)
        assert node.run(*argv("node_drain_idle_argv"), check=False).returncode != 0  # a job runs on it: not idle
    finally:
        cluster.head.run("scancel", job)
