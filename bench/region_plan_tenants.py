"""How a region's offline plan grows with its tenants: it reads every tenant's account stack (issue 21: the audit
bucket admits each tenant account's flow logs and AWS Config history alone), so it plans those too.

Prints, for regions of 0 to 70 tenants (copies of the sample tenant, each with an account of its own), the
best time of a cold region plan (its org and account plans included, as `gpucloud plan region-...` runs them),
of the region's own plan once the org and account plans are made, and the audit bucket policy's statement count
and size (S3 allows a bucket policy of 20 KB: S3 User Guide, "Bucket policies", recorded 2026-12-07).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from gpucloud.plan.offline import Planner
from gpucloud.repo import Repository

ROOT = Path(__file__).resolve().parents[1]
REGION = "region-us-east-1"
S3_POLICY_MAX_BYTES = 20 * 1024


def repo_with_tenants(base: Path, tenants: int) -> Repository:
    """The sample repository with ``tenants`` tenants in us-east-1 (acme's stacks copied, one /20 each)."""
    dest = base / f"tenants-{tenants}"
    dest.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", dest)
    shutil.copytree(ROOT / "stacks", dest / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    stacks = dest / "stacks"
    for name in ("account-acme", "tenant-acme-us-east-1"):
        (stacks / f"Pulumi.{name}.yaml").unlink()
    account = yaml.safe_load((ROOT / "stacks" / "Pulumi.account-acme.yaml").read_text())
    tenant = yaml.safe_load((ROOT / "stacks" / "Pulumi.tenant-acme-us-east-1.yaml").read_text())
    for i in range(tenants):
        name = f"t{i:03d}"
        account["config"].update({"gpucloud:tenant": name, "gpucloud:email": f"aws-accounts+{name}@example.com"})
        tenant["config"].update({"gpucloud:tenant": name, "gpucloud:cidr": f"10.{16 + i // 16}.{(i % 16) * 16}.0/20"})
        (stacks / f"Pulumi.account-{name}.yaml").write_text(yaml.safe_dump(account))
        (stacks / f"Pulumi.tenant-{name}-us-east-1.yaml").write_text(yaml.safe_dump(tenant))
    return Repository(dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    args = parser.parse_args()
    header = ("tenants", "cold s", "region s", "statements", "policy bytes", "of S3's 20 KB")
    print(" ".join(f"{h:>13}" for h in header))
    with tempfile.TemporaryDirectory() as tmp:
        for tenants in (0, 10, 40, 60, 70):
            repo = repo_with_tenants(Path(tmp), tenants)
            cold = alone = float("inf")
            policy = ""
            for _ in range(args.repeat):
                start = time.perf_counter()
                plan = Planner(repo).plan(REGION)
                cold = min(cold, time.perf_counter() - start)
                planner = Planner(repo)
                for stack in ("org", *(s for s in repo.stacks() if s.startswith("account-"))):
                    planner.plan(stack)
                start = time.perf_counter()
                planner.plan(REGION)
                alone = min(alone, time.perf_counter() - start)
                (audit,) = [r for r in plan.resources if r.type.endswith("BucketPolicy") and "audit" in r.name]
                policy = audit.inputs["policy"]  # the text the stack submits, which rule bucket-policy-size measures
            count = len(json.loads(policy)["Statement"])
            share = len(policy) / S3_POLICY_MAX_BYTES
            print(f"{tenants:>13} {cold:>13.3f} {alone:>13.3f} {count:>13} {len(policy):>13} {share:>13.0%}")


if __name__ == "__main__":
    main()
