"""Offline plan wall time of a tenant stack with 1, 8 and 32 nodes, beside the raw cost of the Pulumi SDK
mock runtime registering the same number of bare resources, measured in the same run.

    .venv/bin/python bench/plan_scaling.py [--repeat 5]

Prints figures; asserts nothing. Target (issue 2): toolkit overhead <= 1.25x the raw SDK cost per resource.
"""

from __future__ import annotations

import argparse
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
    print(
        f"{'nodes':>5} {'resources':>9} {'plan s':>8} {'raw SDK s':>9} {'plan ms/res':>11} "
        f"{'raw ms/res':>10} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in (1, 8, 32):
            repo = repo_with_nodes(Path(tmp), nodes)
            best_plan, count = float("inf"), 0
            for _ in range(args.repeat):
                planner = Planner(repo)
                planner.plan("region-us-east-1")  # the region run is cached: time the tenant alone
                start = time.perf_counter()
                plan = planner.plan(TENANT)
                best_plan = min(best_plan, time.perf_counter() - start)
                count = len(plan.resources)
            best_raw = min(raw_sdk_seconds(count) for _ in range(args.repeat))
            print(
                f"{nodes:>5} {count:>9} {best_plan:>8.3f} {best_raw:>9.3f} {1000 * best_plan / count:>11.2f} "
                f"{1000 * best_raw / count:>10.2f} {best_plan / best_raw:>6.2f}"
            )


if __name__ == "__main__":
    main()
