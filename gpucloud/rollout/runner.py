"""Run a rollout: waves in order, up to ``parallel`` stacks of a wave at once, halt on the first failure.

A failure in a wave lets the stacks already running finish, starts no other stack of that wave, and
starts no later wave. The state file (``.gpucloud/rollout.json``) records each finished stack as it
finishes, so ``--resume`` carries on where a halted (or killed) rollout stopped.

``parallel`` 1 runs stacks in this process, one after another; more runs them in that many worker
processes (the Pulumi mock runtime is global to a process, so threads would not do).

Ctrl-C stops gracefully, as the Pulumi and Terraform CLIs do: the stacks in flight finish (a stack is never
cut off halfway through its program or its ``pulumi up``), no other starts, and the summary so far is shown.
A second Ctrl-C stops at once; the stacks it cuts off are not recorded as done, so ``--resume`` runs them again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from gpucloud.errors import ConfigError
from gpucloud.rollout.steps import StackOutcome, forget_plans, run_stack
from gpucloud.rollout.waves import Wave
from gpucloud.transaction import state_dir

STATE_FILE = "rollout.json"
LOCK_FILE = "rollout.lock"


@dataclass
class RolloutState:
    stacks: list[str]
    waves: list[list[Any]]  # [name, [stacks]]
    plan_only: bool
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    def wave_objects(self) -> list[Wave]:
        return [Wave(name, tuple(stacks)) for name, stacks in self.waves]

    @classmethod
    def load(cls, root: Path) -> RolloutState:
        path = root / ".gpucloud" / STATE_FILE
        if not path.is_file():
            raise ConfigError("--resume: there is no rollout to resume (no .gpucloud/rollout.json)")
        try:
            doc = json.loads(path.read_text())
            return cls(**doc)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"--resume: .gpucloud/rollout.json is unreadable ({err}); start a new rollout") from None

    def save(self, root: Path) -> None:
        path = state_dir(root) / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}")
        tmp.write_text(json.dumps(self.__dict__, indent=1))
        os.replace(tmp, path)


@dataclass
class Summary:
    waves: list[Wave]
    outcomes: dict[str, StackOutcome] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # finished by an earlier run (--resume)
    elapsed_s: float = 0.0
    interrupted: bool = False  # Ctrl-C: what finished is recorded, --resume carries on

    @property
    def failed(self) -> list[StackOutcome]:
        return [o for o in self.outcomes.values() if not o.ok]

    def not_started(self) -> list[str]:
        return [s for w in self.waves for s in w.stacks if s not in self.outcomes and s not in self.skipped]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "elapsed_s": round(self.elapsed_s, 3),
            "waves": [{"name": w.name, "stacks": list(w.stacks)} for w in self.waves],
            "done": [o.as_json() for o in self.outcomes.values() if o.ok],
            "failed": [o.as_json() for o in self.failed],
            "skipped": self.skipped,
            "not_started": self.not_started(),
            "interrupted": self.interrupted,
        }


@contextlib.contextmanager
def rollout_lock(root: Path) -> Iterator[None]:
    fd = os.open(state_dir(root) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError("another gpucloud rollout is running in this repository; wait for it to end") from None
        yield
    finally:
        os.close(fd)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the rollout, which lets their stacks finish (the terminal signals them all)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(parallel: int) -> ProcessPoolExecutor:
    """Workers forked from a fork server that has already imported Pulumi and the program (fast to start,
    and safe: the server forks before any thread of ours exists)."""
    context = get_context("forkserver")
    context.set_forkserver_preload(["gpucloud.rollout.steps", "gpucloud.plan.offline", "pulumi_aws"])
    return ProcessPoolExecutor(max_workers=parallel, mp_context=context, initializer=_ignore_interrupts)


class StopRequest:
    """The first Ctrl-C asks the rollout to stop once the stacks in flight finish; the second stops it now."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self.requested = False
        self._notify = notify
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._notify()

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


Progress = Callable[[str, StackOutcome | None], None]  # (event, outcome): "start:<stack>" or "end"


def run_rollout(
    root: Path,
    state: RolloutState,
    *,
    parallel: int,
    progress: Progress | None = None,
) -> Summary:
    report = progress or (lambda event, outcome: None)
    summary = Summary(waves=state.wave_objects(), skipped=[s for s in state.stacks if s in state.done])
    started = time.monotonic()
    forget_plans()  # worker processes are new for each rollout; this process may have planned before
    pool = _pool(parallel) if parallel > 1 else None
    stop = StopRequest(lambda: report("stopping", None))
    try:
        with stop:
            for wave in summary.waves:
                todo = [s for s in wave.stacks if s not in state.done]
                if not todo:
                    continue
                if stop.requested:
                    break
                report(f"wave:{wave.name}", None)
                ok = _run_wave(root, todo, state, summary, pool, parallel, report, stop)
                if not ok:
                    break
    except KeyboardInterrupt:
        # A second Ctrl-C: every stack that finished is already in the state file; those in flight are
        # not, so `--resume` runs them again.
        stop.requested = True
    finally:
        summary.interrupted = stop.requested
        state.finished = not summary.interrupted and not summary.failed and not summary.not_started()
        state.save(root)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.elapsed_s = time.monotonic() - started
    return summary


def _record(root: Path, state: RolloutState, summary: Summary, outcome: StackOutcome, report: Progress) -> None:
    summary.outcomes[outcome.stack] = outcome
    if outcome.ok:
        state.done.append(outcome.stack)
        state.failed.pop(outcome.stack, None)
    else:
        state.failed[outcome.stack] = f"{outcome.step}: {outcome.message}"
    state.save(root)
    report("end", outcome)


def _run_wave(
    root: Path,
    stacks: list[str],
    state: RolloutState,
    summary: Summary,
    pool: ProcessPoolExecutor | None,
    parallel: int,
    report: Progress,
    stop: StopRequest,
) -> bool:
    if pool is None:
        for stack in stacks:
            if stop.requested:
                return False
            report(f"start:{stack}", None)
            outcome = run_stack(str(root), stack, state.plan_only)
            _record(root, state, summary, outcome, report)
            if not outcome.ok:
                return False
        return True
    pending: dict[Future[StackOutcome], str] = {}
    queue = list(stacks)
    halted = False
    while queue or pending:
        halted = halted or stop.requested
        while queue and not halted and len(pending) < parallel:  # queued here, so a halt starts no more
            stack = queue.pop(0)
            report(f"start:{stack}", None)
            pending[pool.submit(run_stack, str(root), stack, state.plan_only)] = stack
        if not pending:
            break
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            stack = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as err:  # noqa: BLE001 - a worker that died is that stack's failure
                now = time.time()
                outcome = StackOutcome(stack, False, "worker", f"{type(err).__name__}: {err}", now, now, 0)
            _record(root, state, summary, outcome, report)
            if not outcome.ok:
                halted = True  # no new stack starts; the ones in flight finish
        if halted and not pending:
            break
    return not halted
