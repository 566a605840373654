"""How a region's offline plan, and its tenants' audit buckets, grow with the region's tenants.

Issue 21 first gave the region one audit bucket whose policy listed every tenant account: the region plan then
read (and planned) every tenant's account stack, and the policy reached S3's 20 KB at about 22 tenants (a
statement per account) or 60 (lists). Each tenant stack now makes its own audit bucket in the log-archive account.
Prints, for regions of 0 to 70 tenants (copies of the sample tenant, each with an account of its own), the best
time of a cold region plan (its org plan included, as `gpucloud plan region-...` runs it), the number of stacks
it planned, and the size of one tenant's audit bucket policy (S3 allows 20 KB: S3 User Guide, "Bucket policies",
recorded 2026-12-07), which should not move.
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
    header = ("tenants", "cold s", "stacks planned", "policy bytes", "of S3's 20 KB")
    print(" ".join(f"{h:>14}" for h in header))
    with tempfile.TemporaryDirectory() as tmp:
        for tenants in (0, 10, 40, 70):
            repo = repo_with_tenants(Path(tmp), tenants)
            cold = float("inf")
            planned = 0
            for _ in range(args.repeat):
                planner = Planner(repo)
                start = time.perf_counter()
                planner.plan(REGION)
                cold = min(cold, time.perf_counter() - start)
                planned = len(planner._runs)
            policy = ""
            if tenants:
                tenant = Planner(repo).plan("tenant-t000-us-east-1")
                (audit,) = [r for r in tenant.resources if r.type.endswith("BucketPolicy") and "TenantAudit" in r.urn]
                policy = audit.inputs["policy"]  # the text the stack submits, which rule bucket-policy-size measures
                json.loads(policy)
            share = f"{len(policy) / S3_POLICY_MAX_BYTES:.0%}" if policy else "-"
            print(f"{tenants:>14} {cold:>14.3f} {planned:>14} {len(policy) or '-':>14} {share:>14}")


if __name__ == "__main__":
    main()
