"""``gpucloud nodes configure``: run a node playbook through ansible-runner, with progress and a per-host table.

ansible-runner runs ``ansible-playbook`` from PATH, so the interpreter's own ``bin/`` goes first (the
Ansible installed beside gpucloud, not whatever else the machine has). The repository's ``ansible.cfg``
applies. A failed host never stops the others: Ansible carries on with the rest of its batch, and the
command exits 1 when any host failed or was unreachable.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpucloud.errors import ConfigError
from gpucloud.interrupt import removed_on_interrupt

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
    # Why the run reached no host, in Ansible's words ("" when it reached some): an inventory that did not load,
    # a --limit that matched nothing, an empty inventory.
    no_hosts_reason: str = ""
    allow_empty: bool = False  # a run on no host is what the user asked for (a pool scaled to zero)

    @property
    def ok(self) -> bool:
        """Every host converged, and there was at least one (a run on no host proves nothing: it fails closed,
        unless ``allow_empty``)."""
        if not self.hosts and not self.allow_empty:
            return False
        return self.rc == 0 and all(h.status in ("ok", "changed") for h in self.hosts)


# What Ansible says when an inventory did not load or a run matched no host, most telling first: each pattern's
# first match is the reason, with {0} its captured text. (ansible-core 2.19's messages, as seen here.)
_NO_HOST_REASONS = (
    (re.compile(r"Failed to parse inventory with '[^']+' plugin: (.+)"), "the inventory did not load: {0}"),
    (re.compile(r"Failed to parse (\S+) with \S+ plugin: (.+)"), "the inventory did not load: {1}"),
    (re.compile(r"Unable to parse (\S+) as an inventory source"), "the inventory did not load: {0}"),
    (re.compile(r"Could not match supplied host pattern, ignoring: (.+)"), "no host matched --limit {0}"),
    (re.compile(r"\[ERROR\]: (.+)"), "{0}"),
    (re.compile(r"provided hosts list is empty"), "the inventory holds no host"),
)


def no_hosts_reason(output: str, limit: str | None) -> str:
    """Why a run reached no host, from what Ansible printed."""
    for pattern, reason in _NO_HOST_REASONS:
        for line in output.splitlines():
            found = pattern.search(line)
            if found:
                return reason.format(*(g.strip() for g in found.groups()))
    return f"no host matched --limit {limit}" if limit else "no host in the inventory was run"


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
    allow_empty: bool = False,
) -> RunResult:
    """Run ``playbook`` on ``inventory``. A run that reaches no host is a failure that says why (an inventory
    that did not load, a --limit that matched nothing), unless ``allow_empty``."""
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
        # An inventory that does not load is an error, not a warning and a run on no host (Ansible's default): a
        # dynamic inventory without credentials would otherwise "succeed" on nothing.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        # The fact cache must outlive ansible-runner's temporary directory: keep it in the repository.
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(root / ".gpucloud" / "ansible-facts"),
        **(extra_env or {}),
    }
    with tempfile.TemporaryDirectory(prefix="gpucloud-ansible-") as private, removed_on_interrupt(Path(private)):
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
        said = runner.stdout.read() if runner.stdout else ""
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
    reason = "" if results else no_hosts_reason(said, limit)
    return RunResult(path.stem, rc, str(runner.status), results, reason, allow_empty)
