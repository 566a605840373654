"""playbooks/cluster.yml on booted nodes (tests/bootlab.py) joined by a lab network of their own: a head node
and two GPU stand-in nodes become a Slurm cluster with Debian's slurm-wlm and MUNGE, the roles'
configuration, and the gpucloud health check as Slurm's HealthCheckProgram. Each node reads the MUNGE key from
a Secrets Manager (moto's, inside the lab network) as the tenant stack's nodes read theirs, and gets the FSx
for Lustre fstab entry up to the mount command (the lab has no Lustre server)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bootlab
import nodelab
import pytest
import yaml

from gpucloud.nodes import RunResult, configure

pytestmark = pytest.mark.integration
ROOT = nodelab.ROOT
MUNGE_KEY = "lab-munge-key-" + "0123456789abcdef" * 8  # the stack generates 128 random alphanumerics
FSX = bootlab.LAB_FSX


@dataclass
class Cluster:
    head: bootlab.Node
    gpus: list[bootlab.Node]
    inventory: Path
    first: RunResult
    second: RunResult
    sources: bootlab.Sources
    secret: dict[str, Any]  # the inventory variables that name the MUNGE key's secret

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
        bootlab.lab_secret(network, work, MUNGE_KEY) as secret,
    ):
        inventory = bootlab.write_cluster_inventory(work / "hosts.yml", lab_sources, head, gpus, **secret, **FSX)
        start = time.monotonic()
        first = configure(ROOT, inventory, "cluster")
        first_s = time.monotonic() - start
        second = configure(ROOT, inventory, "cluster")
        print(f"cluster converge: first {first_s:.1f} s")
        yield Cluster(head, gpus, inventory, first, second, lab_sources, secret)


def test_the_cluster_converges_and_runs_a_job_on_every_gpu_node(cluster: Cluster) -> None:
    assert cluster.first.ok, [h.as_json() for h in cluster.first.hosts]
    nodes = dict(line.split() for line in cluster.slurm("sinfo", "--noheader", "--Node", "--format=%N %T").splitlines())
    assert nodes == {"gpu-a": "idle", "gpu-b": "idle"}
    gres = dict(line.split() for line in cluster.slurm("sinfo", "--noheader", "--Node", "--format=%N %G").splitlines())
    assert gres == {"gpu-a": "gpu:h100:8", "gpu-b": "gpu:l40s:8"}
    ran = cluster.slurm("srun", "--nodes=2", "--ntasks-per-node=1", "hostname").split()
    assert sorted(ran) == ["gpu-a", "gpu-b"]


def test_a_job_keeps_slurmds_unlimited_locked_memory_not_the_submitting_shells(cluster: Cluster) -> None:
    """Issue 26 (2): a login shell's small memlock limit reached every task (Slurm propagates the submitter's limits
    by default), and libfabric's EFA provider could not register memory. The head node's shell here has 64 KiB."""
    ran = cluster.head.run("sh", "-c", "ulimit -l 64 && srun --nodes=2 --ntasks-per-node=1 sh -c 'ulimit -l'")
    assert sorted(ran.stdout.split()) == sorted(_slurmd_memlock(node) for node in cluster.gpus) != ["64", "64"]
    for node in cluster.gpus:
        unit = node.run("systemctl", "show", "slurmd", "--property=After", "--property=LimitMEMLOCK").stdout
        shown = dict(line.split("=", 1) for line in unit.splitlines())
        assert {"nvidia-persistenced.service", "gpucloud-scratch.service"} <= set(shown["After"].split())
        assert shown["LimitMEMLOCK"] == "infinity"  # what a real node's slurmd gets (see _slurmd_memlock)


def _slurmd_memlock(node: bootlab.Node) -> str:
    """slurmd's locked-memory limit in KiB as `ulimit -l` prints it. Unlimited on a real node; here 8192: this
    machine's processes lack CAP_SYS_RESOURCE (its capability bounding set), so nothing, systemd included, raises
    the limit above the 8 MiB it started with."""
    pid = node.run("pidof", "slurmd").stdout.split()[0]
    limits = node.run("cat", f"/proc/{pid}/limits").stdout
    soft = next(line.split()[3] for line in limits.splitlines() if line.startswith("Max locked memory"))
    return "unlimited" if soft == "unlimited" else str(int(soft) // 1024)


def test_a_job_that_asks_for_gpus_gets_memory_in_proportion(cluster: Cluster) -> None:
    """DefMemPerGPU: without it a 1-GPU job that names no memory took all of a node's (CR_Core_Memory), and the
    node's other seven GPUs waited. The share is the smallest node's memory for Slurm over its GPU count."""
    from gpucloud.catalog import load_catalog

    p5, g6e = (load_catalog().get(t) for t in ("p5.48xlarge", "g6e.48xlarge"))
    share = min(int(s.memory_gib * 1024 * 0.95) // s.gpu_count for s in (p5, g6e))  # slurm_config's 5 % for the OS
    assert f"DefMemPerGPU={share}" in cluster.slurm("scontrol", "show", "partition", "gpu")
    job = cluster.slurm("srun", "--nodes=1", "--gres=gpu:1", "sh", "-c", "scontrol show job $SLURM_JOB_ID")
    assert f"mem={share}M" in job, job


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
        assert state in ("drained", "draining"), state
        assert reason.startswith("gpucloud health: gpu-count on the node:"), reason
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


def test_every_node_has_the_key_from_the_secret(cluster: Cluster) -> None:
    for node in [cluster.head, *cluster.gpus]:
        assert node.run("cat", "/etc/munge/munge.key").stdout == MUNGE_KEY, node.name
        assert node.run("stat", "-c", "%U %a", "/etc/munge/munge.key").stdout.split() == ["munge", "400"]


@pytest.mark.parametrize(
    ("variables", "needle"),
    [
        ({"munge_key": "short"}, "the MUNGE key is too short (5 characters)"),
        ({"munge_key_secret_suffix": "-gone"}, "cannot read arn:aws:secretsmanager:us-east-1:"),
    ],
)
def test_a_short_or_unreadable_munge_key_is_refused_before_anything_changes(
    cluster: Cluster, tmp_path: Path, variables: dict[str, str], needle: str
) -> None:
    secret = dict(cluster.secret)
    if "munge_key_secret_suffix" in variables:  # a secret that does not exist (or that the node may not read)
        secret["munge_key_secret"] += variables.pop("munge_key_secret_suffix")
    inventory = bootlab.write_cluster_inventory(
        tmp_path / "hosts.yml", cluster.sources, cluster.head, cluster.gpus, **{**secret, **variables}
    )
    result = configure(ROOT, inventory, "cluster", limit="head")
    (host,) = result.hosts
    assert host.status == "failed" and needle in host.message, host.message
    assert MUNGE_KEY not in host.message
    assert cluster.head.run("cat", "/etc/munge/munge.key").stdout == MUNGE_KEY  # untouched


def test_every_node_has_the_file_system_at_fsx_with_awss_options_up_to_the_mount_command(cluster: Cluster) -> None:
    source = f"{FSX['lustre_client_dns_name']}@tcp:/{FSX['lustre_client_mount_name']}"
    options = "defaults,relatime,flock,_netdev,x-systemd.automount,x-systemd.requires=network-online.target"
    for node in [cluster.head, *cluster.gpus]:
        entries = [line.split() for line in node.run("cat", "/etc/fstab").stdout.splitlines() if " /fsx " in line]
        assert entries == [[source, "/fsx", "lustre", options, "0", "0"]], node.name
        assert node.run("test", "-d", "/fsx", check=False).returncode == 0, node.name
    node = cluster.gpus[0]
    node.run("rm", "-f", "/run/lustre-standin/mounts")
    # mount(8) on that fstab entry calls the Lustre client's helper (what systemd's automount does on first use,
    # which a container cannot do); no Lustre server answers in the lab.
    assert node.run("mount", "/fsx", check=False).returncode != 0
    (call,) = node.run("cat", "/run/lustre-standin/mounts").stdout.splitlines()
    assert call.startswith(f"{source} /fsx -o ") and "flock" in call and "relatime" in call, call


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


def test_gpu_nodes_run_the_scratch_assembler_at_boot_and_it_leaves_other_disks_alone(cluster: Cluster) -> None:
    """The lab's nodes have no instance-store disk (tests/integration/test_scratch_volume.py makes one for real):
    the boot unit runs, finds none, and touches nothing."""
    for node in cluster.gpus:
        state = node.run("systemctl", "show", "-p", "ActiveState,Result", "gpucloud-scratch.service").stdout.split()
        assert sorted(state) == ["ActiveState=active", "Result=success"], (node.name, state)
        log = node.run("journalctl", "-u", "gpucloud-scratch.service", "-o", "cat").stdout
        assert "no instance-store NVMe disk (Amazon EC2 NVMe Instance Storage): nothing to do" in log, log
        assert node.run("systemctl", "is-enabled", "gpucloud-scratch.service").stdout.strip() == "enabled"


def test_jobs_ask_for_a_container_through_pyxis_which_finds_enroot_on_every_gpu_node(cluster: Cluster) -> None:
    """pyxis (the lab's stand-in, built by the pyxis role on each node against Debian's Slurm 22.05 headers) is
    loaded by srun on the head node and by slurmstepd on both GPU nodes; there it finds the enroot the enroot role
    installed. Starting the container needs NVIDIA's real pyxis and enroot and an image registry: not here."""
    assert "--container-image" in cluster.slurm("srun", "--help")
    image = "nvcr.io#nvidia/pytorch:25.01-py3"
    for node in cluster.gpus:
        node.run("rm", "-f", "/run/pyxis/standin.log")
    ran = cluster.slurm("srun", "--nodes=2", "--ntasks-per-node=1", f"--container-image={image}", "hostname").split()
    assert sorted(ran) == ["gpu-a", "gpu-b"]
    enroot = nodelab.pins()["enroot_version"]
    for node in cluster.gpus:
        (record,) = node.run("cat", "/run/pyxis/standin.log").stdout.splitlines()
        assert record.endswith(f"image={image} runtime_path=/run/pyxis enroot={enroot}"), (node.name, record)


def test_pyxis_is_built_from_its_pinned_commit_against_the_nodes_slurm(cluster: Cluster) -> None:
    for node in [cluster.head, *cluster.gpus]:
        slurm = node.run("dpkg-query", "--showformat=${Version}", "--show", "libslurm-dev").stdout
        built = node.run("cat", "/usr/local/share/pyxis/built-from").stdout
        assert built == f"pyxis {cluster.sources.commits['pyxis']} slurm {slurm}", node.name
        assert node.run("cat", "/etc/slurm/plugstack.conf.d/pyxis.conf").stdout == (
            "required /usr/local/lib/slurm/spank_pyxis.so runtime_path=/run/pyxis\n"
        )
        assert node.run("stat", "-c", "%a", "/run/pyxis").stdout.strip() == "1777", node.name


def test_enroot_keeps_each_users_images_on_the_local_volume(cluster: Cluster) -> None:
    node = cluster.gpus[0]
    conf = dict(
        line.split(None, 1) for line in node.run("cat", "/etc/enroot/enroot.conf").stdout.splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    assert conf["ENROOT_RUNTIME_PATH"] == "/run/enroot/user-$(id -u)"
    local = "$(mountpoint -q /scratch && echo /scratch || echo /var/tmp)"
    assert conf["ENROOT_DATA_PATH"] == f"{local}/enroot-user-$(id -u)/data"
    assert conf["ENROOT_TEMP_PATH"] == f"{local}/enroot-user-$(id -u)/tmp"  # an import's layers: not RAM's /tmp
    assert node.run("stat", "-c", "%a", "/run/enroot").stdout.strip() == "1777"
    # As enroot reads it (eval echo, as a job's user): no instance store in the lab, so /var/tmp.
    seen = node.run("bash", "-c", f'eval echo "{conf["ENROOT_DATA_PATH"]}"').stdout.strip()
    assert seen == "/var/tmp/enroot-user-0/data", seen
    assert node.run("bash", "-n", "/etc/enroot/enroot.conf", check=False).returncode == 0  # enroot's own check
    hooks = node.run("ls", "/etc/enroot/hooks.d").stdout.split()
    assert {"50-slurm-pmi.sh", "50-slurm-pytorch.sh"} <= set(hooks)


def test_an_enroot_package_without_a_pinned_checksum_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    inventory = bootlab.write_cluster_inventory(
        tmp_path / "hosts.yml", cluster.sources, cluster.head, cluster.gpus, **cluster.secret, **FSX,
        enroot_checksums={},
    )  # fmt: skip
    result = configure(ROOT, inventory, "cluster")  # every host: slurm.conf names them all
    hosts = {h.host: h for h in result.hosts}
    assert hosts["head"].status == "ok" and hosts["head"].changed == 0, hosts["head"].as_json()
    for name in ("gpu-a", "gpu-b"):
        assert hosts[name].status == "failed" and "no sha256 pinned for enroot_" in hosts[name].message, name
    assert cluster.gpus[0].run("dpkg-query", "--show", "enroot").returncode == 0  # the verified install stays


def _health(node: bootlab.Node, *argv: str) -> tuple[int, dict[str, Any]]:
    result = node.run("/opt/gpucloud/venv/bin/gpucloud", "health", "check", "--json", *argv, check=False)
    return result.returncode, json.loads(result.stdout)


def _check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (check,) = [c for c in doc["checks"] if c["name"] == name]
    return check


def test_nccl_tests_is_built_for_each_nodes_gpus_from_its_pinned_commit(cluster: Cluster) -> None:
    pins = nodelab.pins()
    for node, sm in ((cluster.gpus[0], "90"), (cluster.gpus[1], "89")):  # a p5's H100s, a g6e's L40S
        built = node.run("cat", "/opt/gpucloud/nccl-tests/built-from").stdout.split()
        assert built == ["nccl-tests", cluster.sources.commits["nccl-tests"], "nccl", pins["nccl_package_version"],
                         f"sm_{sm}", "mpi", "none"], node.name  # fmt: skip
        args = node.run("cat", "/opt/gpucloud/nccl-tests/build/build-args").stdout
        assert f"NVCC_GENCODE=-gencode=arch=compute_{sm},code=sm_{sm}" in args and "MPI=0" in args, args
        status = "--showformat=${Package} ${Status}\\n"
        held = node.run("dpkg-query", status, "--show", "libnccl2", "libnccl-dev").stdout
        assert sorted(held.splitlines()) == ["libnccl-dev hold ok installed", "libnccl2 hold ok installed"], held


def test_across_nodes_with_efa_the_check_fails_unless_nccl_took_the_efa_provider(cluster: Cluster) -> None:
    """Issue 26 (5): nothing asserted that NCCL used EFA; a run without aws-ofi-nccl on its library path goes over
    TCP sockets at a fraction of the bandwidth. With the EFA installer's stand-in on both GPU nodes the check gives
    the run AWS's environment and reads NCCL's log (the stand-in logs as NCCL does, from what it finds)."""
    fi_info = (nodelab.STANDINS / "fi_info").read_text()
    node = cluster.gpus[0]
    try:
        install = (f"mkdir -p /opt/amazon/efa/bin && cat > /opt/amazon/efa/bin/fi_info <<'EOF'\n{fi_info}EOF\n"
                   "chmod 0755 /opt/amazon/efa/bin/fi_info && touch /opt/amazon/efa_installed_packages")  # fmt: skip
        for gpu in cluster.gpus:
            gpu.run("sh", "-c", install)
        code, doc = _health(node, "--expect", "p5.48xlarge", "--nccl-nodes", "2")
        across = _check(doc, "nccl-all-reduce-2-nodes")
        assert code == 1 and across["verdict"] == "FAIL", across
        assert "NCCL ran over TCP sockets, not EFA" in across["reason"]  # no plugin: the stand-in logs NET/Socket
        for gpu in cluster.gpus:  # aws-ofi-nccl where the EFA installer puts it on Debian and Ubuntu
            gpu.run("sh", "-c", "mkdir -p /opt/amazon/ofi-nccl/lib/x86_64-linux-gnu && "
                    "touch /opt/amazon/ofi-nccl/lib/x86_64-linux-gnu/libnccl-net.so")  # fmt: skip
        code, doc = _health(node, "--expect", "p5.48xlarge", "--nccl-nodes", "2")
        assert code == 0 and _check(doc, "nccl-all-reduce-2-nodes")["verdict"] == "PASS", doc["failed"]
    finally:
        for gpu in cluster.gpus:
            gpu.run("rm", "-rf", "/opt/amazon", "/run/nccl-standin")  # the lab is on-prem: no EFA before


def test_the_health_check_runs_the_all_reduce_within_a_node_and_across_two(cluster: Cluster) -> None:
    """`health check --nccl` on a GPU node runs the built all_reduce_perf (a stand-in: no GPU here) over its 8 GPUs;
    --nccl-nodes 2 starts it through Slurm once on each GPU node and judges rank 0's output against the network
    floor; a slow bus fails both, naming the floor."""
    for each in [cluster.head, *cluster.gpus]:  # what srun --mpi=pmix loads, from the role (not in the rootfs)
        status = each.run("dpkg-query", "--showformat=${Status}\\n", "--show", "libpmix2", "libpmix-dev").stdout
        assert status.splitlines() == ["install ok installed"] * 2, (each.name, status)
    node = cluster.gpus[0]
    for gpu in cluster.gpus:
        gpu.run("rm", "-rf", "/run/nccl-standin")
    _, doc = _health(node, "--expect", "p5.48xlarge", "--nccl", "--nccl-nodes", "2")
    within, across = _check(doc, "nccl-all-reduce"), _check(doc, "nccl-all-reduce-2-nodes")
    assert (within["verdict"], within["expected"]) == ("PASS", "busbw >= 360 GB/s"), within["reason"]
    assert (across["verdict"], across["expected"]) == ("PASS", "busbw >= 280 GB/s"), across["reason"]
    assert across["seen"] == "480.0 GB/s at 8589934592 B over 2 nodes x 8 GPUs"
    calls = {gpu.name: gpu.run("cat", "/run/nccl-standin/calls").stdout.splitlines() for gpu in cluster.gpus}
    assert calls["gpu-a"][0] == "host=gpu-a procid=none ntasks=1 gpus=8 max=8589934592"  # within: no Slurm
    ranks = sorted(line.split()[1] for lines in calls.values() for line in lines if "ntasks=2" in line)
    assert ranks == ["procid=0", "procid=1"]
    try:
        for gpu in cluster.gpus:
            gpu.run("sh", "-c", "echo 120.00 > /run/nccl-standin/busbw")
        code, doc = _health(node, "--expect", "p5.48xlarge", "--nccl", "--nccl-nodes", "2")
        assert code == 1
        failed = {c["name"] for c in doc["checks"] if c["verdict"] == "FAIL"}
        assert failed >= {"nccl-all-reduce", "nccl-all-reduce-2-nodes"}, failed
        why = "bus bandwidth under the SKU's floor (health.yaml nccl)"
        assert f"nccl-all-reduce-2-nodes on the node: {why}" in doc["failed"], doc["failed"]
    finally:
        for gpu in cluster.gpus:
            gpu.run("rm", "-rf", "/run/nccl-standin")


LAB_IMAGE = "lab.invalid/nccl-tests:efa"  # pyxis's stand-in records the image; what it "holds" is below


def _image(gpus: list[bootlab.Node], library_path: str) -> None:
    """The lab's stand-in for an image's all_reduce_perf (pyxis's stand-in starts no container: the step runs on the
    node): nccl-tests where AWS's image builds it, on the image's own LD_LIBRARY_PATH, which pyxis gives
    precedence over the job's."""
    wrapper = ("#!/bin/sh\n# the lab's image: its LD_LIBRARY_PATH, then nccl-tests\n"
               f"export LD_LIBRARY_PATH={library_path}\nexec /opt/gpucloud/nccl-tests/build/all_reduce_perf \"$@\"\n")
    for gpu in gpus:
        gpu.run("sh", "-c", f"mkdir -p /opt/nccl-tests/build && cat > /opt/nccl-tests/build/all_reduce_perf <<'EOF'\n"
                f"{wrapper}EOF\nchmod 0755 /opt/nccl-tests/build/all_reduce_perf")  # fmt: skip


def test_the_smoke_job_runs_a_container_all_reduce_over_efa_and_fails_an_image_without_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Issue 26 (3): on GPU nodes with EFA the smoke job is a tenant's first multi-node job, nccl-tests in a
    container across the nodes, and it fails unless NCCL in the image took libfabric's EFA provider: an image
    without the EFA software runs over TCP sockets and the converge fails, naming what the image lacks. Every
    container gets libfabric's variables (enroot environ.d)."""
    fi_info = (nodelab.STANDINS / "fi_info").read_text()
    install = (f"mkdir -p /opt/amazon/efa/bin && cat > /opt/amazon/efa/bin/fi_info <<'EOF'\n{fi_info}EOF\n"
               "chmod 0755 /opt/amazon/efa/bin/fi_info && touch /opt/amazon/efa_installed_packages && "
               "mkdir -p /opt/amazon/ofi-nccl/lib/x86_64-linux-gnu && "
               "touch /opt/amazon/ofi-nccl/lib/x86_64-linux-gnu/libnccl-net.so")  # fmt: skip
    efa = {"FI_PROVIDER": "efa", "FI_EFA_FORK_SAFE": "1"}  # what the enroot role gives a node with EFA in AWS
    inventory = bootlab.write_cluster_inventory(
        tmp_path / "hosts.yml", cluster.sources, cluster.head, cluster.gpus, **cluster.secret, **FSX,
        cluster_smoke_all_reduce=True, cluster_smoke_image=LAB_IMAGE, enroot_efa_environment=efa,
    )  # fmt: skip
    try:
        for gpu in cluster.gpus:
            gpu.run("sh", "-c", install)
            gpu.run("rm", "-rf", "/run/nccl-standin", "/run/pyxis/standin.log")
        _image(cluster.gpus, "/usr/local/cuda/lib64")  # an image without the EFA software
        result = configure(ROOT, inventory, "cluster")
        hosts = {h.host: h for h in result.hosts}
        assert hosts["gpu-a"].status == "failed", hosts["gpu-a"].as_json()
        message = hosts["gpu-a"].message
        assert f"the smoke job's container all-reduce ({LAB_IMAGE}) failed" in message, message
        assert "NCCL ran over TCP sockets" in message and "the image must carry libfabric and aws-ofi-nccl" in message
        _image(cluster.gpus, "/opt/amazon/ofi-nccl/lib/x86_64-linux-gnu:/usr/local/cuda/lib64")  # one with it
        result = configure(ROOT, inventory, "cluster")
        assert result.ok, [h.as_json() for h in result.hosts]
        for gpu in cluster.gpus:
            (record,) = gpu.run("cat", "/run/pyxis/standin.log").stdout.splitlines()[-1:]
            assert f"image={LAB_IMAGE} " in record, record
            env = gpu.run("cat", "/etc/enroot/environ.d/60-gpucloud-efa.env").stdout.splitlines()
            assert [line for line in env if not line.startswith("#")] == ["FI_EFA_FORK_SAFE=1", "FI_PROVIDER=efa"]
        calls = [line for gpu in cluster.gpus for line in gpu.run("cat", "/run/nccl-standin/calls").stdout.splitlines()]
        assert {line.split()[1] for line in calls if "ntasks=2" in line} == {"procid=0", "procid=1"}  # one per node
    finally:
        for gpu in cluster.gpus:
            gpu.run("rm", "-rf", "/opt/amazon", "/opt/nccl-tests", "/run/nccl-standin")
            gpu.run("rm", "-f", "/etc/enroot/environ.d/60-gpucloud-efa.env")
