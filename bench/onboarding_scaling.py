"""Wall time of onboarding the next tenant into a region that already has 1, 100 and 1,000 tenants.

    .venv/bin/python bench/onboarding_scaling.py [--repeat 5] [--sizes 1,100,1000]

Each size gets a generated temporary repository (one region stack with a /10 tenant supernet carved in
/22 blocks, and N tenant stacks). Each measurement copies it afresh and times the real CLI in a new
process, as a user runs it, `gpucloud tenant onboard next ... --json`:

- cold: the first command after a clone (no registry cache in .gpucloud/: every tenant file is parsed
  and checked in full);
- warm: the registry cache is there (every later command).

Also times the same onboarding in-process (no interpreter start-up) for the warm case.
Prints figures and the ratio to the 1-tenant repository, measured in the same run; asserts nothing.
Target (issue 3): under 1.5 s and no more than 1.2x the 1-tenant time.
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generated_repo import new_repository  # noqa: E402

from gpucloud.repo import Repository  # noqa: E402
from gpucloud.tenants.onboard import OnboardRequest, onboard  # noqa: E402

SUPERNET = ipaddress.IPv4Network("10.64.0.0/10")
PREFIX = 22  # 4,096 tenant blocks


def region_config() -> dict[str, object]:
    return {
        "config": {
            "aws:region": "us-east-1",
            "gpucloud:kind": "region",
            "gpucloud:region": "us-east-1",
            "gpucloud:org": "organization",
            "gpucloud:tenantSupernet": str(SUPERNET),
            "gpucloud:tenantCidrPrefix": PREFIX,
            "gpucloud:capacity": [{"gpuType": "p5.48xlarge", "az": "use1-az4", "count": 5000}],
            "gpucloud:amis": {"p5.48xlarge": {"id": "ami-0a1b2c3d4e5f60001", "rootDevice": "/dev/sda1"}},
        }
    }


def tenant_config(i: int, cidr: ipaddress.IPv4Network) -> dict[str, object]:
    return {
        "config": {
            "aws:region": "us-east-1",
            "gpucloud:kind": "tenant",
            "gpucloud:tenant": f"t{i:04d}",
            "gpucloud:region": "us-east-1",
            "gpucloud:org": "organization",
            "gpucloud:cidr": str(cidr),
            "gpucloud:nodePool": {
                "gpuType": "p5.48xlarge",
                "nodes": 1,
                "az": "use1-az4",
                "rootVolumeGib": 500,
                "capacityType": "reservation",
            },
            "gpucloud:storage": {"bucketTib": 10},
            "gpucloud:egress": "none",
        }
    }


def account_config(i: int) -> dict[str, object]:
    return {
        "config": {
            "aws:region": "us-east-1",
            "gpucloud:kind": "account",
            "gpucloud:tenant": f"t{i:04d}",
            "gpucloud:displayName": f"Tenant {i}",
            "gpucloud:region": "us-east-1",
            "gpucloud:org": "organization",
            "gpucloud:email": f"aws-accounts+t{i:04d}@example.com",
            "gpucloud:adminPrincipals": [],
        }
    }


def make_repo(dest: Path, tenants: int) -> Path:
    stacks = new_repository(dest)
    (stacks / "Pulumi.region-us-east-1.yaml").write_text(yaml.safe_dump(region_config(), sort_keys=False))
    blocks = SUPERNET.subnets(new_prefix=PREFIX)
    for i in range(tenants):
        doc = tenant_config(i, next(blocks))
        (stacks / f"Pulumi.tenant-t{i:04d}-us-east-1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        account = account_config(i)
        (stacks / f"Pulumi.account-t{i:04d}.yaml").write_text(yaml.safe_dump(account, sort_keys=False))
    return dest


ARGS = [
    "tenant", "onboard", "next", "--region", "us-east-1", "--gpu-type", "p5.48xlarge", "--nodes", "1",
    "--new-account", "--json",
]  # fmt: skip


def time_cli(template: Path, work: Path, *, warm: bool, repeat: int) -> float:
    times = []
    for i in range(repeat):
        copy = work / f"run-{'warm' if warm else 'cold'}-{i}"
        shutil.copytree(template, copy, symlinks=True)
        if not warm:
            shutil.rmtree(copy / ".gpucloud", ignore_errors=True)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "gpucloud", "--root", str(copy), *ARGS], capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"onboarding failed: {result.stderr}")
        shutil.rmtree(copy)
    return min(times)


def time_in_process(template: Path, work: Path, repeat: int) -> float:
    times = []
    for i in range(repeat):
        copy = work / f"run-inproc-{i}"
        shutil.copytree(template, copy)
        request = OnboardRequest(name="next", region="us-east-1", gpu_type="p5.48xlarge", nodes=1, new_account=True)
        start = time.perf_counter()
        onboard(Repository(copy), request)
        times.append(time.perf_counter() - start)
        shutil.rmtree(copy)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="1,100,1000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in sizes:
            template = make_repo(work / f"repo-{n}", n)
            # warm the registry cache once, as any earlier command (list, validate) would
            subprocess.run(
                [sys.executable, "-m", "gpucloud", "--root", str(template), "tenant", "list", "--json"],
                capture_output=True,
                check=True,
            )
            cold = time_cli(template, work, warm=False, repeat=args.repeat)
            warm = time_cli(template, work, warm=True, repeat=args.repeat)
            inproc = time_in_process(template, work, args.repeat)
            rows.append((n, cold, warm, inproc))
    base = rows[0]
    print(f"onboarding the next tenant (best of {args.repeat}; python {sys.version.split()[0]})")
    header = ("tenants", "cold CLI s", "ratio", "warm CLI s", "ratio", "in-process s", "ratio")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (8, 11, 6, 11, 6, 13, 6), strict=True)))
    for n, cold, warm, inproc in rows:
        print(
            f"{n:>8} {cold:>11.3f} {cold / base[1]:>6.2f} {warm:>11.3f} {warm / base[2]:>6.2f} "
            f"{inproc:>13.4f} {inproc / base[3]:>6.2f}"
        )
    print(
        f"median warm CLI: {statistics.median(r[2] for r in rows):.3f} s; target: < 1.5 s and <= 1.2x the 1-tenant time"
    )


if __name__ == "__main__":
    main()
