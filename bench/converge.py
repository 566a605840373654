"""First and second converge wall time of playbooks/gpu_nodes.yml on 1 and 4 booted hosts (fresh Debian 12
root filesystems), with Ansible's default settings against the repository's tuned ansible.cfg, in one run.

    .venv/bin/python bench/converge.py            # needs root, debootstrap, apt-utils, gnupg (make deps)

Prints figures; asserts nothing. Target (issue 4): the tuned second converge of 4 hosts within 1.5x that
of 1 host.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import bootlab  # noqa: E402
import nodelab  # noqa: E402

from gpucloud.nodes import configure  # noqa: E402


def main() -> None:
    reason = bootlab.require_boot_lab()
    if reason:
        raise SystemExit(f"cannot run here: {reason}")
    with tempfile.TemporaryDirectory(prefix="gpucloud-bench-") as tmp:
        work = Path(tmp)
        repo = nodelab.build_apt_repo(work)
        wheelhouse = nodelab.build_wheelhouse(work / "wheelhouse")
        key = bootlab.lab_key()
        default_cfg = work / "default.cfg"
        default_cfg.write_text("[defaults]\n")  # Ansible's own defaults (roles found through the environment)
        rows = []
        with nodelab.serve(repo) as url, bootlab.repo_socket(url, work / "repo.sock") as sock:
            for label, env in (("default", {"ANSIBLE_CONFIG": str(default_cfg)}), ("tuned", {})):
                for count in (1, 4):
                    shutil.rmtree(ROOT / ".gpucloud" / "ansible-facts", ignore_errors=True)
                    nodes = [
                        bootlab.Node(f"{label}-{count}-{i}", work / f"{label}-{count}-{i}", "p5.48xlarge", sock)
                        for i in range(count)
                    ]
                    try:
                        for node in nodes:
                            node.create(key)
                            node.start()
                        inv = bootlab.write_inventory(work / f"{label}-{count}.yml", wheelhouse, nodes, key)
                        times = []
                        for _ in range(2):
                            start = time.perf_counter()
                            result = configure(ROOT, inv, extra_env=env)
                            times.append(time.perf_counter() - start)
                            if not result.ok:
                                raise SystemExit(f"converge failed: {[h.as_json() for h in result.hosts]}")
                        changed = sum(h.changed for h in result.hosts)
                        rows.append((label, count, times[0], times[1], changed))
                    finally:
                        for node in nodes:
                            node.stop()
                            shutil.rmtree(node.root, ignore_errors=True)
    print("converge of playbooks/gpu_nodes.yml on booted nodes over SSH (this machine, 2 cores; first run")
    print("includes the reboot into the driver)")
    print(f"{'settings':<9} {'hosts':>5} {'first s':>8} {'second s':>9} {'changed on 2nd':>15}")
    for label, count, first, second, changed in rows:
        print(f"{label:<9} {count:>5} {first:>8.1f} {second:>9.1f} {changed:>15}")
    tuned = {count: second for label, count, _, second, _ in rows if label == "tuned"}
    default = {count: second for label, count, _, second, _ in rows if label == "default"}
    print(f"tuned second converge, 4 hosts / 1 host: {tuned[4] / tuned[1]:.2f}x")
    print(f"second converge, 4 hosts, default / tuned ansible.cfg: {default[4] / tuned[4]:.2f}x")


if __name__ == "__main__":
    main()
