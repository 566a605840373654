"""What a rollout does to one stack, in a worker process: plan and policy, then preview, up, health gate.

Runs in a process of its own (the Pulumi mock runtime is global to a process); each worker keeps one
Planner, so the region plans that tenant StackReferences read are computed once per worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from gpucloud.errors import GpucloudError
from gpucloud.rollout.replacements import from_preview_events

_PLANNERS: dict[str, Any] = {}  # repository root -> Planner, one per process and rollout


def forget_plans() -> None:
    """Drop cached plans: a new rollout (or --resume after a fix) must plan the files as they are now."""
    _PLANNERS.clear()


@dataclass(frozen=True)
class StackOutcome:
    stack: str
    ok: bool
    step: str  # the last step reached: plan, policy, preview, up, health, done
    message: str
    started: float
    ended: float
    pid: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _planner(root: str) -> Any:
    from gpucloud.plan.offline import Planner
    from gpucloud.repo import Repository

    if root not in _PLANNERS:
        _PLANNERS[root] = Planner(Repository(Path(root)))
    return _PLANNERS[root]


def run_stack(root: str, stack: str, plan_only: bool) -> StackOutcome:
    started = time.time()

    def outcome(ok: bool, step: str, message: str) -> StackOutcome:
        return StackOutcome(stack, ok, step, message, started, time.time(), os.getpid())

    try:
        plan = _planner(root).plan(stack)
    except GpucloudError as err:
        return outcome(False, "plan", str(err))
    if plan.violations:
        first = plan.violations[0]
        more = f" (and {len(plan.violations) - 1} more)" if len(plan.violations) > 1 else ""
        return outcome(False, "policy", f"{first.rule}: {first.message} at {first.urn}{more}")
    summary = f"{plan.summary.resource_count} resources, {plan.summary.gpus} GPUs, no violations"
    if plan_only:
        return outcome(True, "done", f"plan: {summary}")
    try:
        up_in_own_workspace(Path(root), stack)
        gpus = plan.summary.gpus
        if stack.startswith("tenant-") and gpus:
            health_gate(Path(root), stack)
    except GpucloudError as err:
        return outcome(False, getattr(err, "step", "up"), str(err))
    return outcome(True, "done", f"up: {summary}")


class StepError(GpucloudError):
    exit_code = 1

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


def up_in_own_workspace(root: Path, stack: str) -> None:
    """``pulumi preview`` then ``pulumi up`` through the Automation API, in a workspace directory of the
    stack's own: concurrent stack selection in one shared workspace corrupts it."""
    from pulumi import automation as auto

    with tempfile.TemporaryDirectory(prefix=f"gpucloud-{stack}-") as tmp:
        work = Path(tmp)
        project = yaml.safe_load((root / "Pulumi.yaml").read_text())
        (work / "program").symlink_to(root / "stacks", target_is_directory=True)
        (work / ".venv").symlink_to(root / ".venv", target_is_directory=True)
        project["main"] = "program/"
        project["stackConfigDir"] = "stacks"
        (work / "stacks").mkdir()
        shutil.copy(root / "stacks" / f"Pulumi.{stack}.yaml", work / "stacks" / f"Pulumi.{stack}.yaml")
        (work / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
        try:
            ws_stack = auto.create_or_select_stack(stack_name=stack, work_dir=str(work))
        except auto.errors.CommandError as err:
            raise StepError("preview", f"selecting the stack failed: {_last_line(err)}") from None
        events: list[Any] = []
        try:
            ws_stack.preview(on_event=events.append)
        except auto.errors.CommandError as err:
            raise StepError("preview", f"pulumi preview failed: {_last_line(err)}") from None
        # Node replacements (a launch-template change) go a batch at a time, never all at once.
        for targets in from_preview_events(events).steps():
            try:
                ws_stack.up(target=targets)
            except auto.errors.CommandError as err:
                raise StepError("up", f"pulumi up --target {' '.join(targets)} failed: {_last_line(err)}") from None
        try:
            ws_stack.up()
        except auto.errors.CommandError as err:
            raise StepError("up", f"pulumi up failed: {_last_line(err)}") from None


def health_gate(root: Path, stack: str) -> None:
    """Run the GPU health gate (playbooks/health.yml) on the stack's nodes through its tenant inventory.

    Fails closed: a node that fails the check, or cannot be reached, fails the stack."""
    from gpucloud.config import TenantConfig
    from gpucloud.nodes import configure
    from gpucloud.repo import Repository
    from gpucloud.tenants.files import TenantFiles

    config = Repository(root).load(stack)
    assert isinstance(config, TenantConfig)
    inventory = root / TenantFiles(config.tenant, config.region).inventory
    if not inventory.is_file():
        raise StepError("health", f"health gate: {inventory.relative_to(root)} is missing")
    result = configure(root, inventory, "health")
    if not result.hosts:
        raise StepError("health", f"health gate reached none of {stack}'s nodes: {result.no_hosts_reason}"[:300])
    if not result.ok:
        bad = [f"{h.host}: {h.message or h.status}" for h in result.hosts if h.status in ("failed", "unreachable")]
        raise StepError("health", f"health gate failed: {'; '.join(bad) or result.status}"[:300])


def _last_line(err: Exception) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
