"""Wall time of an offline rollout (`gpucloud rollout --plan-only`) of 1 region and 50 tenants,
with --parallel 1 against --parallel 2, measured in the same run (this machine has 2 cores).

    .venv/bin/python bench/rollout_parallel.py [--tenants 50] [--repeat 3]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import yaml  # noqa: E402
from onboarding_scaling import region_config  # noqa: E402  (a region with room for thousands of tenants)

from gpucloud.repo import Repository  # noqa: E402
from gpucloud.tenants.onboard import OnboardRequest, onboard  # noqa: E402


def make_repo(dest: Path, tenants: int) -> None:
    dest.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", dest / "Pulumi.yaml")
    shutil.copytree(ROOT / "templates", dest / "templates")
    (dest / "stacks").mkdir()
    shutil.copy(ROOT / "stacks" / "Pulumi.org.yaml", dest / "stacks" / "Pulumi.org.yaml")
    region = dest / "stacks" / "Pulumi.region-us-east-1.yaml"
    region.write_text(yaml.safe_dump(region_config(), sort_keys=False))
    for i in range(tenants):
        request = OnboardRequest(
            name=f"t{i:03d}",
            region="us-east-1",
            gpu_type="p5.48xlarge",
            nodes=1,
            new_account=True,
        )
        onboard(Repository(dest), request)


def timed(root: Path, parallel: int) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "gpucloud", "--root", str(root), "rollout", "--plan-only", "--json",
         "--parallel", str(parallel)],
        capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"rollout failed: {result.stderr[-400:]}")
    return wall, len(json.loads(result.stdout)["done"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        make_repo(root, args.tenants)
        stacks = len(list((root / "stacks").glob("Pulumi.*.yaml")))
        results = {}
        for parallel in (1, 2):
            runs = [timed(root, parallel) for _ in range(args.repeat)]
            results[parallel] = min(w for w, _ in runs)
            print(f"--parallel {parallel}: best of {args.repeat}: {results[parallel]:.2f} s ({runs[0][1]} stacks)")
        print(f"{stacks} stacks; speed-up with 2 workers: {results[1] / results[2]:.2f}x")


if __name__ == "__main__":
    main()
