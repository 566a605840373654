"""upgrade_driver.yml on booted nodes (tests/bootlab.py), from the previous driver pin to the current one:
the stand-in repository holds both, each with its own stand-in libnvidia-ml.so.1 and fabric manager.

The nodes' scheduler is tests/standins/lab-scheduler (a drain reason in a file, jobs as transient units),
reached through the node_drain role's commands exactly as Slurm's would be."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bootlab
import nodelab
import pytest

from gpucloud.nodes import RunResult, configure

pytestmark = pytest.mark.integration
ROOT = nodelab.ROOT
PINS = nodelab.pins()
NEW = str(PINS["nvidia_driver_version"])
OLD = str(PINS["nvidia_driver_previous_version"])
SCHEDULER = "/usr/local/sbin/lab-scheduler"
DRAIN = {
    "node_drain_argv": [SCHEDULER, "drain", "{{ node_drain_reason }}"],
    "node_drain_reason_argv": [SCHEDULER, "reason"],
    "node_drain_idle_argv": [SCHEDULER, "idle"],
    "node_drain_resume_argv": [SCHEDULER, "resume"],
    "node_drain_poll": 1,
    "upgrade_batch": 1,
}


@dataclass
class Fleet:
    work: Path
    sources: bootlab.Sources
    nodes: dict[str, bootlab.Node]

    def upgrade(self, name: str, *, limit: str | None = None, **extra: object) -> RunResult:
        inventory = bootlab.write_inventory(
            self.work / f"{name}.yml", self.sources.wheelhouse, list(self.nodes.values()), self.sources.key,
            **{**DRAIN, **extra},
        )  # fmt: skip
        return configure(ROOT, inventory, "upgrade_driver", limit=limit)


@pytest.fixture(scope="module")
def fleet(lab_sources: bootlab.Sources, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two nodes in service on the previous pin (the p5 with its fabric manager)."""
    work = tmp_path_factory.mktemp("upgrade")
    nodes = bootlab.nvswitch_and_pcie_nodes(work, "up", lab_sources)
    with bootlab.booted(nodes, lab_sources.key) as by_name:
        inventory = bootlab.write_inventory(
            work / "old.yml", lab_sources.wheelhouse, nodes, lab_sources.key,
            nvidia_driver_version=OLD, fabric_manager_version=OLD,
        )  # fmt: skip
        converged = configure(ROOT, inventory)
        assert converged.ok, [h.as_json() for h in converged.hosts]
        yield Fleet(work, lab_sources, by_name)


def driver(node: bootlab.Node) -> tuple[str, str]:
    """(installed driver package version, driver loaded now)."""
    loaded = node.run("cat", "/run/nvidia-standin/loaded-driver-version").stdout.strip()
    return bootlab.installed(node)["nvidia-driver-cuda"], loaded


def drain_reason(node: bootlab.Node) -> str:
    return node.run(SCHEDULER, "reason").stdout.strip()


def last_swap(node: bootlab.Node) -> tuple[float, str]:
    """When the driver packages were last swapped, and which GPU daemons ran then (tests/standins/record-swap)."""
    line = node.run("tail", "-n1", "/var/log/nvidia-standin/swaps").stdout.strip()
    stamp, _, rest = line.partition(" ")
    return float(stamp), rest


def test_the_fleet_starts_on_the_previous_pin(fleet: Fleet) -> None:
    for node in fleet.nodes.values():
        assert driver(node) == (f"{OLD}-1", OLD)
        assert bootlab.health(node)[0] == 0
        assert node.run("test", "-e", "/var/lib/gpucloud/in-service", check=False).returncode == 0


def test_a_drain_that_outlasts_its_timeout_leaves_the_node_as_it_was(fleet: Fleet) -> None:
    node = fleet.nodes["up-g6e"]
    boots = node.boots
    node.run(SCHEDULER, "job", "600")
    try:
        result = fleet.upgrade("timeout", limit=node.name, node_drain_timeout=3)
    finally:
        node.run("systemctl", "stop", "lab-job.service")
    (host,) = result.hosts
    assert host.status == "failed" and "still runs jobs 3 s after it was drained" in host.message, host.message
    assert drain_reason(node) == ""  # given back to the scheduler as it was
    assert driver(node) == (f"{OLD}-1", OLD) and node.boots == boots
    assert node.run("systemctl", "is-active", "nvidia-persistenced", check=False).stdout.strip() == "active"


def test_a_node_that_fails_its_gate_after_the_upgrade_stops_the_rollout(fleet: Fleet) -> None:
    g6e, p5 = fleet.nodes["up-g6e"], fleet.nodes["up-p5"]  # g6e is first in the inventory: the first batch
    boots = {name: node.boots for name, node in fleet.nodes.items()}
    g6e.run(SCHEDULER, "job", "5")  # a job the drain must wait for
    g6e.inject(gpus_missing=1)
    try:
        result = fleet.upgrade("failing")
    finally:
        g6e.inject()
    assert not result.ok
    hosts = {h.host: h for h in result.hosts}
    assert hosts["up-g6e"].status == "failed", hosts["up-g6e"]
    assert "gpu-count on the node" in hosts["up-g6e"].message, hosts["up-g6e"].message
    # The failed node was upgraded and rebooted, and stays drained, saying why.
    assert driver(g6e) == (f"{NEW}-1", NEW) and g6e.boots == boots["up-g6e"] + 1
    assert drain_reason(g6e) == f"gpucloud: failed after the driver upgrade to {NEW}"
    # The drain waited for the job; the packages were swapped with no GPU daemon running.
    job_ended = float(g6e.run("cat", "/var/lib/lab-scheduler/job-ended").stdout)
    swapped, what = last_swap(g6e)
    assert swapped > job_ended, (swapped, job_ended)
    assert what == f"nvidia-driver-cuda upgrade {OLD}-1 running:", what
    # The next batch was never touched.
    assert hosts.get("up-p5") is None or hosts["up-p5"].changed == 0
    assert driver(p5) == (f"{OLD}-1", OLD) and p5.boots == boots["up-p5"] and drain_reason(p5) == ""


def test_the_upgrade_passes_and_gives_each_node_back_as_it_was(fleet: Fleet) -> None:
    g6e, p5 = fleet.nodes["up-g6e"], fleet.nodes["up-p5"]
    boots = {name: node.boots for name, node in fleet.nodes.items()}
    p5.run(SCHEDULER, "drain", "RMA 4711: fan noise")  # drained by an operator before the upgrade
    result = fleet.upgrade("passing")
    assert result.ok, [h.as_json() for h in result.hosts]
    for node in (g6e, p5):
        assert driver(node) == (f"{NEW}-1", NEW)
        assert bootlab.health(node)[0] == 0
        assert {"nvidia-driver-cuda", "nvidia-kernel-open-dkms"} <= bootlab.held(node)  # held again
        for unit in ("nvidia-persistenced", "nvidia-dcgm"):
            assert node.run("systemctl", "is-active", unit, check=False).stdout.strip() == "active", unit
    assert bootlab.installed(p5)["nvidia-fabricmanager"] == f"{NEW}-1"
    assert p5.run("systemctl", "is-active", "nvidia-fabricmanager", check=False).stdout.strip() == "active"
    assert {"nvidia-fabricmanager", "libnvidia-nscq"} <= bootlab.held(p5)
    for node in (g6e, p5):  # the CDI spec names the new driver's libraries, not the old one's
        spec = node.run("cat", "/etc/cdi/nvidia.yaml").stdout
        assert f"libnvidia-ml.so.{NEW}" in spec and f"libnvidia-ml.so.{OLD}" not in spec
    assert last_swap(p5)[1] == f"nvidia-driver-cuda upgrade {OLD}-1 running:"
    assert p5.boots == boots["up-p5"] + 1
    assert g6e.boots == boots["up-g6e"]  # already on the pin: gated and given back, not rebooted again
    assert drain_reason(p5) == "RMA 4711: fan noise"  # the operator's reason, put back
    assert drain_reason(g6e) == ""  # gpucloud's own drain of the failed run, lifted


def test_the_upgrade_run_again_changes_nothing(fleet: Fleet) -> None:
    boots = {name: node.boots for name, node in fleet.nodes.items()}
    result = fleet.upgrade("again")
    assert result.ok and [(h.host, h.changed) for h in result.hosts] == [("up-g6e", 0), ("up-p5", 0)]
    assert {name: node.boots for name, node in fleet.nodes.items()} == boots
