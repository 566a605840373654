"""First and second converge wall time of playbooks/gpu_nodes.yml over SSH on 1 and 4 booted nodes (fresh
Debian 12 root filesystems, tests/bootlab.py), in one run: Ansible's default settings, the repository's
tuned ansible.cfg, and the tuned ansible.cfg with Mitogen's strategy (PyPI `mitogen`) where it runs with
the ansible-core in use (the bench says so when it does not).

    .venv/bin/python bench/converge.py            # needs root and the lab's Debian packages (make deps)

Prints figures and ratios; asserts nothing.
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

from gpucloud.nodes import configure  # noqa: E402

TIMEOUT_S = 600  # one converge; Mitogen has hung in the reboot on one of 4 nodes here


def settings(work: Path) -> list[tuple[str, dict[str, str]]]:
    default_cfg = work / "default.cfg"
    default_cfg.write_text("[defaults]\n")  # Ansible's own defaults (roles found through the environment)
    runs = [("default", {"ANSIBLE_CONFIG": str(default_cfg)}), ("tuned", {})]
    try:
        import ansible_mitogen
    except ImportError:
        print("mitogen: not installed (pip install mitogen); its row is left out")
        return runs
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    runs.append(("mitogen", {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}))
    return runs


def converge_twice(sources: bootlab.Sources, work: Path, label: str, count: int, env: dict[str, str]) -> tuple:
    shutil.rmtree(ROOT / ".gpucloud" / "ansible-facts", ignore_errors=True)
    nodes = [
        bootlab.Node(f"{label}-{count}-{i}", work / f"{label}-{count}-{i}", "p5.48xlarge", sources.socket)
        for i in range(count)
    ]
    with bootlab.booted(nodes, sources.key):
        inventory = bootlab.write_inventory(work / f"{label}-{count}.yml", sources.wheelhouse, nodes, sources.key)
        times = []
        last: dict[str, str] = {}  # each host's last finished task, to say where a run that timed out stood

        def progress(host: str, task: str, status: str) -> None:
            last[host] = task

        for _ in range(2):
            start = time.perf_counter()
            result = configure(ROOT, inventory, extra_env=env, timeout_s=TIMEOUT_S, progress=progress)
            times.append(time.perf_counter() - start)
            if not result.ok:
                failure = next((h.message for h in result.hosts if h.message), f"{result.status}, exit {result.rc}")
                if result.status == "timeout":
                    stood = ", ".join(f"{host} after {task!r}" for host, task in sorted(last.items()))
                    failure = f"not done after {TIMEOUT_S} s ({stood})"
                return label, count, None, None, failure
    for node in nodes:
        shutil.rmtree(node.root, ignore_errors=True)
    return label, count, times[0], times[1], sum(h.changed for h in result.hosts)


def main() -> None:
    reason = bootlab.require_boot_lab()
    if reason:
        raise SystemExit(f"cannot run here: {reason}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpucloud-bench-") as tmp, bootlab.lab_sources(Path(tmp)) as sources:
        work = Path(tmp)
        for label, env in settings(work):
            for count in (1, 4):
                rows.append(converge_twice(sources, work, label, count, env))
                print(f"  done: {rows[-1]}", file=sys.stderr, flush=True)
    print("converge of playbooks/gpu_nodes.yml on booted nodes over SSH (this machine, 2 cores; the first run")
    print("installs everything and reboots each node into the driver once)")
    print(f"{'settings':<9} {'hosts':>5} {'first s':>8} {'second s':>9} {'changed on 2nd':>15}")
    for label, count, first, second, changed in rows:
        if first is None:
            print(f"{label:<9} {count:>5} {'failed':>8} {'-':>9}  {changed}")
        else:
            print(f"{label:<9} {count:>5} {first:>8.1f} {second:>9.1f} {changed:>15}")
    ok = {(label, count): (first, second) for label, count, first, second, _ in rows if first is not None}

    def ratio(a: tuple[str, int], b: tuple[str, int], run: int) -> str:
        return f"{ok[a][run] / ok[b][run]:.2f}x" if a in ok and b in ok else "n/a (a run failed)"

    for run, name in ((0, "first"), (1, "second")):
        print(f"{name} converge: default / tuned, 4 hosts: {ratio(('default', 4), ('tuned', 4), run)}; "
              f"tuned / mitogen, 4 hosts: {ratio(('tuned', 4), ('mitogen', 4), run)}; "
              f"tuned, 4 hosts / 1 host: {ratio(('tuned', 4), ('tuned', 1), run)}")  # fmt: skip


if __name__ == "__main__":
    main()
