"""Run the real stack program in-process under Pulumi's mock runtime: no CLI, no cloud, no network.

The mock runtime is global to a process, so runs here are sequential; callers that want
parallel plans use processes (DESIGN.md, Concurrency).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from gpucloud import program
from gpucloud.config import StackConfig
from gpucloud.errors import PlanError
from gpucloud.plan.mocks import THREAD_LOOPS, PlanMocks, RecordedResource, RecordingMonitor

PROJECT = "gpucloud"
CANCEL_GRACE_S = 1.0  # how long the exit waits for the SDK's cancelled tasks to wind down


@dataclass(frozen=True)
class ProgramRun:
    stack: str
    resources: list[RecordedResource]
    exports: dict[str, Any]
    region_exports: dict[str, Any] = field(default_factory=dict)  # what a tenant's StackReference read


def _as_pulumi_config(namespaced: Mapping[str, Any]) -> dict[str, str]:
    """Config as the Pulumi CLI hands it to a program: strings, with objects and lists as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in namespaced.items()}


def run_program(
    config: StackConfig,
    namespaced_config: Mapping[str, Any],
    *,
    stack_outputs: Mapping[str, dict[str, Any]] | None = None,
) -> ProgramRun:
    """Run the stack program for ``config`` and return what it registered and exported."""
    mocks = PlanMocks(stack=config.stack, region=config.region, stack_outputs=dict(stack_outputs or {}))
    monitor = RecordingMonitor(mocks)
    settings.reset_options(project=PROJECT, stack=config.stack, preview=False)
    pulumi.runtime.set_all_config(_as_pulumi_config(namespaced_config), [])
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=config.stack, preview=False, monitor=monitor)
    root = settings.get_root_resource()
    exports: dict[str, Any] = {}

    async def resolve_exports() -> None:
        outputs: dict[str, Any] = getattr(root, "outputs", {})
        for name, value in outputs.items():
            exports[name] = await pulumi.Output.from_input(value).future()

    def body() -> Any:
        program.build(config)
        return resolve_exports()

    try:
        _sync_await(run_pulumi_func(body))
    except Exception as err:
        raise PlanError(f"stack {config.stack}: the program failed: {_first_line(err)}") from err
    finally:
        pulumi.runtime.set_all_config({}, [])
    # Registrations arrive in whatever order asyncio schedules them: sort so plans are deterministic,
    # parents before their children.
    resources = sorted(monitor.recorded, key=lambda r: (r.urn.split("::")[2].count("$"), r.urn))
    return ProgramRun(stack=config.stack, resources=resources, exports=exports)


def close_event_loop() -> None:
    """Close the asyncio loop the Pulumi SDK ran on, before the interpreter exits.

    The SDK leaves its event loops open: the main thread's, and one per worker thread that its mock monitor
    answered in (``_ensure_event_loop``). Left to garbage collection at interpreter shutdown,
    ``BaseEventLoop.__del__`` closes it after its self-pipe socket may already be finalised, and prints
    ``Exception ignored in: <function BaseEventLoop.__del__> ... ValueError: Invalid file descriptor: -1``
    (only sometimes: shutdown order varies). Closing it here, deterministically, removes the race.
    """
    policy = asyncio.get_event_loop_policy()
    loops = set(THREAD_LOOPS)
    with contextlib.suppress(RuntimeError):
        loops.add(policy.get_event_loop())
    for loop in loops:
        if loop.is_running() or loop.is_closed():
            continue
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            # Bounded: after a Ctrl-C in the middle of a program run, some of the SDK's tasks await futures
            # that nothing will ever resolve, and waiting for them to finish would hang the exit for good.
            loop.run_until_complete(asyncio.wait(pending, timeout=CANCEL_GRACE_S))
            for task in pending:
                if not task.done():
                    task._log_destroy_pending = False  # type: ignore[attr-defined]  # abandoned on purpose
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    THREAD_LOOPS.clear()
    # A fresh default policy: no loop set, and a later in-process run (tests call main() many times) gets a new one.
    asyncio.set_event_loop_policy(None)


def _root_cause(err: BaseException) -> BaseException:
    """The error the program raised, under the SDK's "While processing resource ..." wrappers."""
    seen: set[int] = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = err.__cause__ or err.__context__
        if inner is None:
            break
        err = inner
    return err


def _first_line(err: BaseException) -> str:
    err = _root_cause(err)
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
