"""The playbooks parse, and the roles pass ansible-lint's production profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}"}
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_syntax_check(playbook: Path) -> None:
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(ROOT / "inventories" / "sample"), str(playbook)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_ansible_lint_production_profile_is_clean() -> None:
    result = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "--profile", "production", "playbooks/", "inventories/sample/"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_every_role_documents_its_interface() -> None:
    for role in sorted((ROOT / "playbooks" / "roles").iterdir()):
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
        entry_points = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        options = {name for spec in entry_points.values() for name in spec.get("options", {})}
        assert set(defaults) <= set(options), f"{role.name}: undocumented {sorted(set(defaults) - set(options))}"
        assert all(name.startswith(role.name + "_") for name in defaults), f"{role.name}: unprefixed variables"


@pytest.mark.parametrize(("override", "package"), [({}, "cuda13"), ({"nvidia_driver_branch": 570}, "cuda12")])
def test_dcgm_follows_the_driver_branch_the_inventory_holds(
    tmp_path: Path, override: dict[str, int], package: str
) -> None:
    """The dcgm role's own defaults, evaluated by Ansible with the pins the playbooks load: a site holding
    branch 570 (CUDA 12) gets DCGM's cuda12 package, not the pinned 580's cuda13."""
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": override,
            "tasks": [
                {"ansible.builtin.import_tasks": str(ROOT / "playbooks" / "tasks" / "load_gpucloud_data.yml")},
                {"ansible.builtin.include_vars": str(ROOT / "playbooks" / "roles" / "dcgm" / "defaults" / "main.yml")},
                {"ansible.builtin.debug": {"msg": "DCGM={{ dcgm_package }}"}},
            ],
        }
    ]
    # Beside the repository's own playbooks, as they find gpucloud's data files: playbook_dir/../gpucloud/data.
    (tmp_path / "gpucloud").symlink_to(ROOT / "gpucloud")
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "vars").symlink_to(ROOT / "playbooks" / "vars")
    (tmp_path / "playbooks" / "play.yml").write_text(yaml.safe_dump(play))
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(tmp_path / "playbooks" / "play.yml")],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert f"DCGM=datacenter-gpu-manager-4-{package}" in result.stdout, result.stdout[-2000:]


def run_tasks(tmp_path: Path, tasks: list[dict[str, object]], *extra: str) -> subprocess.CompletedProcess[str]:
    """``tasks`` on localhost after the playbooks' own data loading, beside the repository's playbooks (as they find
    gpucloud's data files: playbook_dir/../gpucloud/data); ``extra``: ansible-playbook options (-e NAME=VALUE)."""
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"ansible.builtin.import_tasks": str(ROOT / "playbooks" / "tasks" / "load_gpucloud_data.yml")},
                *tasks,
            ],
        }
    ]
    (tmp_path / "gpucloud").symlink_to(ROOT / "gpucloud")
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "vars").symlink_to(ROOT / "playbooks" / "vars")
    (tmp_path / "playbooks" / "play.yml").write_text(yaml.safe_dump(play))
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", *extra]
    return subprocess.run(
        [*argv, str(tmp_path / "playbooks" / "play.yml")], capture_output=True, text=True, env=ENV, timeout=300
    )


@pytest.mark.parametrize(
    ("os_key", "refusal"),
    [
        ("Ubuntu-22", "Ubuntu-22 cannot run a gpucloud Slurm cluster: its archive has Slurm 21.08.5, without the "
                      "cgroup/v2 plugin"),
        ("Rocky-9", "Rocky-9 cannot run a gpucloud Slurm cluster: not an OS"),
        ("Ubuntu-24", None),
        ("Debian-12", None),  # what the cluster lab converges
    ],
)  # fmt: skip
def test_a_cluster_is_refused_on_an_os_whose_slurm_has_no_cgroup_v2(
    tmp_path: Path, os_key: str, refusal: str | None
) -> None:
    """playbooks/tasks/check_cluster_os.yml, which cluster.yml runs on every host before anything changes (issue
    26, 1: on Ubuntu 22.04 slurmd would not start)."""
    check = {"ansible.builtin.import_tasks": str(ROOT / "playbooks" / "tasks" / "check_cluster_os.yml")}
    result = run_tasks(tmp_path, [check], "-e", f"gpucloud_os_key={os_key}")
    if refusal is None:
        assert result.returncode == 0, result.stdout[-2000:]
    else:
        assert result.returncode != 0 and refusal in " ".join(result.stdout.split()), result.stdout[-2000:]
        assert "allowed: Debian-12, Ubuntu-24" in result.stdout
