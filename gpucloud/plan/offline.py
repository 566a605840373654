"""``gpucloud plan``: what ``pulumi preview`` would show for a fresh stack, computed offline.

A tenant stack's StackReference resolves from its region stack's own offline plan (run first,
and cached for the life of the process).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gpucloud.catalog import load_catalog
from gpucloud.config import RegionConfig, StackConfig, config_from_namespaced
from gpucloud.errors import ConfigError
from gpucloud.plan.mocks import RecordedResource
from gpucloud.plan.runner import ProgramRun, run_program
from gpucloud.plan.summary import Summary, summarize
from gpucloud.policy import Violation, evaluate
from gpucloud.prices import load_prices
from gpucloud.repo import Repository


@dataclass(frozen=True)
class Plan:
    stack: str
    config: StackConfig
    resources: list[RecordedResource]
    exports: dict[str, Any]
    summary: Summary
    violations: list[Violation]
    region_exports: dict[str, Any] = field(default_factory=dict)  # what a tenant's StackReference read

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": "region" if isinstance(self.config, RegionConfig) else "tenant",
            "resources": [
                {"type": r.type, "name": r.name, "urn": r.urn, "parent": r.parent, "inputs": r.inputs}
                for r in self.resources
            ],
            "summary": self.summary.as_json(),
            "violations": [v.as_json() for v in self.violations],
        }


class Planner:
    """Plans stacks of one repository; keeps region runs so tenants of a region reuse them."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._runs: dict[str, ProgramRun] = {}

    def _run(self, stack: str, raw: dict[str, Any] | None = None) -> tuple[StackConfig, ProgramRun]:
        cacheable = raw is None  # a plan of a config that is not on disk (onboarding's dry run) is not kept
        raw = self.repo.raw_config(stack) if raw is None else raw
        config = config_from_namespaced(stack, raw)
        if cacheable and stack in self._runs:
            return config, self._runs[stack]
        stack_outputs: dict[str, dict[str, Any]] = {}
        if not isinstance(config, RegionConfig):
            region_stack = config.region_stack
            if region_stack not in self.repo.stacks():
                raise ConfigError(
                    f"stack {stack}: its region stack {region_stack} does not exist; add it first "
                    f"(gpucloud region add {config.region})"
                )
            _, region_run = self._run(region_stack)
            stack_outputs[config.region_stack_ref] = region_run.exports
        run = run_program(config, raw, stack_outputs=stack_outputs)
        run = replace(run, region_exports=next(iter(stack_outputs.values()), {}))
        if cacheable:
            self._runs[stack] = run
        return config, run

    def plan(self, stack: str, raw_config: dict[str, Any] | None = None) -> Plan:
        """The plan of ``stack`` as its file declares it, or as ``raw_config`` (namespaced keys) would."""
        config, run = self._run(stack, raw_config)
        summary = summarize(run.resources, config, load_catalog(), load_prices())
        return Plan(
            stack=stack,
            config=config,
            resources=run.resources,
            exports=run.exports,
            summary=summary,
            violations=evaluate(run.resources, config, run.region_exports),
            region_exports=run.region_exports,
        )
