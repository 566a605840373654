"""First and second converge wall time of playbooks/gpu_nodes.yml on 1 and 4 chroot hosts (fresh Debian 12
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

import nodelab  # noqa: E402

from gpucloud.nodes import configure  # noqa: E402


def main() -> None:
    reason = nodelab.require_lab()
    if reason:
        raise SystemExit(f"cannot run here: {reason}")
    with tempfile.TemporaryDirectory(prefix="gpucloud-bench-") as tmp:
        work = Path(tmp)
        repo = nodelab.build_apt_repo(work)
        wheelhouse = nodelab.build_wheelhouse(work / "wheelhouse")
        default_cfg = work / "default.cfg"
        default_cfg.write_text("[defaults]\n")  # Ansible's own defaults (roles found through the environment)
        rows = []
        with nodelab.serve(repo) as url:
            for label, env in (("default", {"ANSIBLE_CONFIG": str(default_cfg)}), ("tuned", {})):
                for count in (1, 4):
                    shutil.rmtree(ROOT / ".gpucloud" / "ansible-facts", ignore_errors=True)
                    hosts = [nodelab.make_host(work / f"{label}-{count}-{i}") for i in range(count)]
                    inv = nodelab.write_inventory(
                        work / f"{label}-{count}.yml",
                        url,
                        wheelhouse,
                        {
                            f"node-{i}": {"ansible_host": str(h), "gpucloud_sku": "p5.48xlarge"}
                            for i, h in enumerate(hosts)
                        },
                    )
                    times = []
                    for _ in range(2):
                        start = time.perf_counter()
                        result = configure(ROOT, inv, extra_env=env)
                        times.append(time.perf_counter() - start)
                        if not result.ok:
                            raise SystemExit(f"converge failed: {[h.as_json() for h in result.hosts]}")
                    changed = sum(h.changed for h in result.hosts)
                    rows.append((label, count, times[0], times[1], changed))
                    for host in hosts:
                        shutil.rmtree(host)
    print("converge of playbooks/gpu_nodes.yml on chroot hosts (this machine, 2 cores)")
    print(f"{'settings':<9} {'hosts':>5} {'first s':>8} {'second s':>9} {'changed on 2nd':>15}")
    for label, count, first, second, changed in rows:
        print(f"{label:<9} {count:>5} {first:>8.1f} {second:>9.1f} {changed:>15}")
    tuned = {count: second for label, count, _, second, _ in rows if label == "tuned"}
    print(f"tuned second converge, 4 hosts / 1 host: {tuned[4] / tuned[1]:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
