"""``gpucloud nodes configure``: run a node playbook through ansible-runner, with progress and a per-host table.

ansible-runner runs ``ansible-playbook`` from PATH, so the interpreter's own ``bin/`` goes first (the
Ansible installed beside gpucloud, not whatever else the machine has). The repository's ``ansible.cfg``
applies. A failed host never stops the others: Ansible carries on with the rest of its batch, and the
command exits 1 when any host failed or was unreachable.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpucloud.errors import ConfigError

PLAYBOOKS = ("gpu_nodes", "health", "upgrade_driver", "cluster")


@dataclass(frozen=True)
class HostResult:
    host: str
    ok: int
    changed: int
    failed: int
    unreachable: int
    skipped: int
    message: str  # the first failure's message, if any

    @property
    def status(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
            "message": self.message,
        }


@dataclass(frozen=True)
class RunResult:
    playbook: str
    rc: int
    status: str
    hosts: list[HostResult]

    @property
    def ok(self) -> bool:
        return self.rc == 0 and all(h.status in ("ok", "changed") for h in self.hosts)


def _failure_text(res: dict[str, Any], status: str) -> str:
    """What a failed task says: its message, or for a command that only exited non-zero, what it printed; for a
    loop ("One or more items failed"), what its first failed item says."""
    failed_items = [r for r in res.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    if failed_items:
        return _failure_text(failed_items[0], status)
    msg = str(res.get("msg") or "")
    stderr = str(res.get("stderr") or "").strip()
    if stderr and (not msg or msg == "non-zero return code"):
        last = stderr.splitlines()[-1]
        return f"{msg}: {last}" if msg else last
    return msg or status


def playbook_path(root: Path, name: str) -> Path:
    stem = name.removesuffix(".yml")
    path = root / "playbooks" / f"{stem}.yml"
    if stem not in PLAYBOOKS or not path.is_file():
        raise ConfigError(f"--playbook={name!r}: allowed: {', '.join(PLAYBOOKS)}")
    return path


def check_inventory(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(f"--inventory={path}: no such file or directory")
    return path.resolve()


Progress = Callable[[str, str, str], None]  # (host, task, status)


def configure(
    root: Path,
    inventory: Path,
    playbook: str = "gpu_nodes",
    *,
    limit: str | None = None,
    check: bool = False,
    progress: Progress | None = None,
    extra_env: dict[str, str] | None = None,
    timeout_s: int | None = None,
) -> RunResult:
    import ansible_runner

    path = playbook_path(root, playbook)
    inventory = check_inventory(inventory)
    failures: dict[str, str] = {}

    def on_event(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {})
        host = data.get("host")
        kind = event.get("event", "")
        if host and kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            status = kind.removeprefix("runner_on_")
            if status == "ok" and data.get("res", {}).get("changed"):
                status = "changed"
            if status in ("failed", "unreachable") and host not in failures and not data.get("ignore_errors"):
                res = data.get("res", {})
                failures[host] = f"{data.get('task', '')}: {_failure_text(res, status)}".strip()
            if progress:
                progress(host, data.get("task", ""), status)
        return True

    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(root / "playbooks" / "roles"),
        "ANSIBLE_FORCE_COLOR": "0",
        # The fact cache must outlive ansible-runner's temporary directory: keep it in the repository.
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(root / ".gpucloud" / "ansible-facts"),
        **(extra_env or {}),
    }
    with tempfile.TemporaryDirectory(prefix="gpucloud-ansible-") as private:
        runner = ansible_runner.run(
            private_data_dir=private,
            playbook=str(path),
            inventory=str(inventory),
            limit=limit,
            cmdline="--check --diff" if check else None,
            envvars=env,
            event_handler=on_event,
            quiet=True,
            suppress_env_files=True,
            timeout=timeout_s,
        )
        stats = runner.stats or {}
    hosts = sorted(
        {h for key in ("ok", "changed", "failures", "dark", "skipped") for h in (stats.get(key) or {})} | set(failures)
    )
    results = [
        HostResult(
            host=h,
            ok=int((stats.get("ok") or {}).get(h, 0)),
            changed=int((stats.get("changed") or {}).get(h, 0)),
            failed=int((stats.get("failures") or {}).get(h, 0)),
            unreachable=int((stats.get("dark") or {}).get(h, 0)),
            skipped=int((stats.get("skipped") or {}).get(h, 0)),
            message=failures.get(h, ""),
        )
        for h in hosts
    ]
    # A run that did not end successfully by itself (killed: no exit status; past timeout_s) is a failure.
    rc = int(runner.rc) if runner.rc else 0
    if rc == 0 and runner.status != "successful":
        rc = 1
    return RunResult(playbook=path.stem, rc=rc, status=str(runner.status), hosts=results)
