"""Offline plan wall time of a tenant stack with 1, 8 and 32 nodes, beside the raw cost of the Pulumi SDK
mock runtime registering the same number of bare resources, measured in the same run.

    .venv/bin/python bench/plan_scaling.py [--repeat 5]

Prints figures; asserts nothing. Target (issue 2): toolkit overhead <= 1.25x the raw SDK cost per resource.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import yaml
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpucloud import program  # noqa: E402
from gpucloud.plan.mocks import PlanMocks  # noqa: E402
from gpucloud.plan.offline import Planner  # noqa: E402
from gpucloud.repo import Repository  # noqa: E402

TENANT = "tenant-acme-us-east-1"


class BareMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def raw_sdk_seconds(count: int) -> float:
    """Register ``count`` bare AWS resources under the SDK's own mock runtime; wall seconds."""
    start = time.perf_counter()
    settings.reset_options(project="bench", stack="bench", preview=False)
    pulumi.runtime.set_mocks(BareMocks(), project="bench", stack="bench", preview=False)

    def body() -> None:
        for i in range(count):
            aws.ec2.SecurityGroup(f"bare-{i}")

    _sync_await(run_pulumi_func(body))
    return time.perf_counter() - start


def program_under_sdk_mocks_seconds(repo: Repository, referenced: dict[str, dict[str, Any]]) -> float:
    """The same tenant program under the SDK's plain MockMonitor: no recording, policy or summary."""
    config = repo.load(TENANT)
    start = time.perf_counter()
    mocks = PlanMocks(stack=TENANT, region=config.region, stack_outputs=referenced)
    settings.reset_options(project="gpucloud", stack=TENANT, preview=False)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in repo.raw_config(TENANT).items()}, []
    )
    pulumi.runtime.set_mocks(mocks, project="gpucloud", stack=TENANT, preview=False)
    _sync_await(run_pulumi_func(lambda: program.build(config)))
    return time.perf_counter() - start


def repo_with_nodes(base: Path, nodes: int) -> Repository:
    dest = base / f"nodes-{nodes}"
    dest.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", dest)
    shutil.copytree(ROOT / "stacks", dest / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    path = dest / "stacks" / f"Pulumi.{TENANT}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["gpucloud:nodePool"]["nodes"] = nodes
    path.write_text(yaml.safe_dump(doc))
    return Repository(dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is kept")
    args = parser.parse_args()
    print("plan: `gpucloud plan` of the tenant (its region plan cached); program: the same program under the SDK's")
    print("plain MockMonitor (no recording, policy, summary); bare: the SDK registering as many input-less resources.")
    header = ("nodes", "resources", "plan s", "program s", "bare s", "plan/program", "plan/bare")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 9, 7, 9, 7, 12, 9), strict=True)))
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in (1, 8, 32):
            repo = repo_with_nodes(Path(tmp), nodes)
            best_plan, count = float("inf"), 0
            referenced: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):
                planner = Planner(repo)
                # cached: time the tenant alone; its StackReferences read these
                referenced = {
                    "organization/gpucloud/region-us-east-1": planner.plan("region-us-east-1").exports,
                    "organization/gpucloud/account-acme": planner.plan("account-acme").exports,
                }
                start = time.perf_counter()
                plan = planner.plan(TENANT)
                best_plan = min(best_plan, time.perf_counter() - start)
                count = len(plan.resources)
            best_program = min(program_under_sdk_mocks_seconds(repo, referenced) for _ in range(args.repeat))
            best_raw = min(raw_sdk_seconds(count) for _ in range(args.repeat))
            print(
                f"{nodes:>5} {count:>9} {best_plan:>7.3f} {best_program:>9.3f} {best_raw:>7.3f} "
                f"{best_plan / best_program:>12.2f} {best_plan / best_raw:>9.2f}"
            )


if __name__ == "__main__":
    main()
