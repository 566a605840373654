"""``gpucloud plan``: what ``pulumi preview`` would show for a fresh stack, computed offline.

A stack's StackReferences resolve from the offline plans of the stacks they name (run first, and cached
for the life of the process): a tenant reads its region and its account, an account and a region read
the org stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gpucloud.catalog import load_catalog
from gpucloud.config import (
    ORG_STACK,
    AccountConfig,
    OrgConfig,
    RegionConfig,
    StackConfig,
    TenantConfig,
    config_from_namespaced,
)
from gpucloud.errors import ConfigError
from gpucloud.plan.mocks import RecordedResource
from gpucloud.plan.runner import ProgramRun, run_program
from gpucloud.plan.summary import Summary, summarize
from gpucloud.policy import ACCOUNTLESS_PROVIDERS, PROVIDER_PREFIX, Violation, evaluate, provider_account
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
    # Account id -> what it is ("log-archive", "tenant acme"), from this plan and the stacks it read.
    account_names: dict[str, str] = field(default_factory=dict)

    def accounts(self) -> dict[str | None, str]:
        """The account each provider lands in: its ``allowedAccountIds`` (the tenant's account), and for the
        default provider (None) the account whose credentials run the stack, ours."""
        landing: dict[str | None, str] = {None: OUR_ACCOUNT}
        for res in self.resources:
            if res.type.startswith(PROVIDER_PREFIX):
                landing[res.urn] = provider_account(res) or "unknown"
        return landing

    def as_json(self) -> dict[str, Any]:
        accounts = self.accounts()
        return {
            "stack": self.stack,
            "kind": stack_kind(self.config),
            "resources": [
                {
                    "type": r.type,
                    "name": r.name,
                    "urn": r.urn,
                    "parent": r.parent,
                    "inputs": r.inputs,
                    "provider": r.provider,
                    "account": (
                        accounts.get(r.provider, "unknown")
                        if r.custom and not r.type.startswith(ACCOUNTLESS_PROVIDERS)
                        else None
                    ),
                    "dependencies": list(r.dependencies),
                }
                for r in self.resources
            ],
            "summary": self.summary.as_json(),
            "violations": [v.as_json() for v in self.violations],
        }


OUR_ACCOUNT = "ours"  # the default provider: the credentials `pulumi up` runs with, our own account


def stack_kind(config: StackConfig) -> str:
    if isinstance(config, OrgConfig):
        return "org"
    if isinstance(config, AccountConfig):
        return "account"
    return "region" if isinstance(config, RegionConfig) else "tenant"


def stack_references(config: StackConfig) -> list[tuple[str, str, str]]:
    """The stacks ``config``'s program reads: (fully qualified name, stack, how to create it if missing)."""
    if isinstance(config, OrgConfig):
        return []
    if isinstance(config, AccountConfig | RegionConfig):
        return [(config.org_stack_ref, ORG_STACK, "write stacks/Pulumi.org.yaml (README: Organization stack)")]
    assert isinstance(config, TenantConfig)
    return [
        (config.region_stack_ref, config.region_stack, f"gpucloud region add {config.region}"),
        (config.account_stack_ref, config.account_stack, f"onboard {config.tenant} with --new-account or --account-id"),
    ]


class Planner:
    """Plans stacks of one repository; keeps region runs so tenants of a region reuse them."""

    def __init__(self, repo: Repository, pending: dict[str, dict[str, Any]] | None = None) -> None:
        self.repo = repo
        self._runs: dict[str, ProgramRun] = {}
        # Stacks not written yet (an onboarding's dry run): their namespaced config, read instead of the file.
        self.pending = dict(pending or {})

    def _run(self, stack: str, raw: dict[str, Any] | None = None) -> tuple[StackConfig, ProgramRun]:
        cacheable = raw is None  # a plan of a config that is not on disk (onboarding's dry run) is not kept
        if raw is None and stack in self.pending:
            cacheable, raw = False, self.pending[stack]
        raw = self.repo.raw_config(stack) if raw is None else raw
        config = config_from_namespaced(stack, raw)
        if cacheable and stack in self._runs:
            return config, self._runs[stack]
        stack_outputs: dict[str, dict[str, Any]] = {}
        for qualified, referenced, how in stack_references(config):
            if referenced not in self.pending and referenced not in self.repo.stacks():
                raise ConfigError(
                    f"stack {stack}: it reads stack {referenced}, which does not exist; add it first ({how})"
                )
            _, referenced_run = self._run(referenced)
            stack_outputs[qualified] = referenced_run.exports
        run = run_program(config, raw, stack_outputs=stack_outputs)
        region_ref = config.region_stack_ref if isinstance(config, TenantConfig) else None
        run = replace(run, region_exports=stack_outputs.get(region_ref, {}) if region_ref else {})
        if cacheable:
            self._runs[stack] = run
        return config, run

    @staticmethod
    def _account_names(runs: list[ProgramRun]) -> dict[str, str]:
        """Our accounts by duty (the org stack's exports) and each tenant's (its account stack's)."""
        names: dict[str, str] = {}
        for run in runs:
            for duty, key in (("log-archive", "logArchive"), ("security", "security"), ("capacity", "capacity")):
                if f"{key}AccountId" in run.exports:
                    names[str(run.exports[f"{key}AccountId"])] = duty
            if "accountId" in run.exports and "tenant" in run.exports:
                names[str(run.exports["accountId"])] = f"tenant {run.exports['tenant']}"
        return names

    def plan(self, stack: str, raw_config: dict[str, Any] | None = None) -> Plan:
        """The plan of ``stack`` as its file declares it, or as ``raw_config`` (namespaced keys) would."""
        config, run = self._run(stack, raw_config)
        summary = summarize(run.resources, config, load_catalog(), load_prices())
        names = self._account_names([*self._runs.values(), run])
        return Plan(
            account_names=names,
            stack=stack,
            config=config,
            resources=run.resources,
            exports=run.exports,
            summary=summary,
            violations=evaluate(run.resources, config, run.region_exports),
            region_exports=run.region_exports,
        )
