"""Wall time of `gpucloud capacity --json` beside `gpucloud tenant list --json` on the same generated registry:
every region of data/regions.yaml where the catalog offers a GPU type (8 of its 9 today: me-central-1 has none),
one capacity reservation each, and 1,000 tenants spread over them with their account stacks.

    .venv/bin/python bench/capacity_ledger.py [--tenants 1000] [--repeat 5]

Both run as a user runs them (a new process each), cold (no registry cache, the first command after a clone)
and warm (the cache is there). Prints the best of --repeat runs and the ratio; asserts nothing.
Target (issue 14): capacity within 1.5x of tenant list.

Then every region gets an internal reserve of --reserve-steps monthly steps (issue 27: the ledger works out each
line's reserve, when leasable changes next, and the collisions of every tenant with every step) and `capacity
--json` and `validate` run again beside the same commands without it, in the same run.
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
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

from gpucloud.catalog import load_catalog  # noqa: E402
from gpucloud.regions import load_regions  # noqa: E402


def regions() -> list[tuple[str, str, str]]:
    """(region, SKU, AZ ID) for each region of regions.yaml where the catalog offers some SKU."""
    catalog = load_catalog()
    out = []
    for code, region in sorted(load_regions().regions.items()):
        offered = catalog.offered_in(code)
        if offered:
            out.append((code, offered[0], region.az_ids[0]))
    return out


def write(path: Path, config: dict[str, object]) -> None:
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))


def make_repo(dest: Path, tenants: int) -> int:
    places = regions()
    stacks = new_repository(dest, served=[code for code, _, _ in places])
    plan = list(ipaddress.IPv4Network("10.0.0.0/8").subnets(new_prefix=12))
    for k, (code, sku, az) in enumerate(places):
        write(stacks / f"Pulumi.region-{code}.yaml", {
            "aws:region": code, "gpucloud:kind": "region", "gpucloud:region": code, "gpucloud:org": "organization",
            "gpucloud:tenantSupernet": str(plan[k + 1]), "gpucloud:tenantCidrPrefix": 22,
            "gpucloud:capacity": [{"gpuType": sku, "az": az, "count": tenants}],
            "gpucloud:amis": {sku: {"id": "ami-0a1b2c3d4e5f60001", "rootDevice": "/dev/sda1"}},
        })  # fmt: skip
    blocks = {code: plan[k + 1].subnets(new_prefix=22) for k, (code, _, _) in enumerate(places)}
    for i in range(tenants):
        code, sku, az = places[i % len(places)]
        name = f"t{i:04d}"
        write(stacks / f"Pulumi.tenant-{name}-{code}.yaml", {
            "aws:region": code, "gpucloud:kind": "tenant", "gpucloud:tenant": name, "gpucloud:region": code,
            "gpucloud:org": "organization", "gpucloud:cidr": str(next(blocks[code])),
            "gpucloud:nodePool": {"gpuType": sku, "nodes": 1, "az": az, "rootVolumeGib": 500,
                                  "capacityType": "reservation"},
            "gpucloud:storage": {"bucketTib": 10}, "gpucloud:egress": "none",
            "gpucloud:cluster": {"scheduler": "none"},
            "gpucloud:term": {"plan": ("on-demand", "1-month", "12-month")[i % 3], "start": "2026-11-01"},
        })  # fmt: skip
        write(stacks / f"Pulumi.account-{name}.yaml", {
            "aws:region": "us-east-1", "gpucloud:kind": "account", "gpucloud:tenant": name,
            "gpucloud:displayName": f"Tenant {i}", "gpucloud:region": "us-east-1", "gpucloud:org": "organization",
            "gpucloud:email": f"aws-accounts+{name}@example.com", "gpucloud:adminPrincipals": [],
        })  # fmt: skip
    return len(places)


def add_reserve(root: Path, steps: int) -> None:
    """A monthly schedule of ``steps`` steps (1 node more each month) on each region's capacity."""
    for path in sorted((root / "stacks").glob("Pulumi.region-*.yaml")):
        doc = yaml.safe_load(path.read_text())
        entry = doc["config"]["gpucloud:capacity"][0]
        doc["config"]["gpucloud:internalReserve"] = [
            {"gpuType": entry["gpuType"], "az": entry["az"], "nodes": k + 1,
             "from": f"{2027 + k // 12}-{k % 12 + 1:02d}-01"} for k in range(steps)
        ]  # fmt: skip
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def best(root: Path, args: list[str], *, warm: bool, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        if not warm:
            shutil.rmtree(root / ".gpucloud", ignore_errors=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "gpucloud", "--root", str(root), *args], capture_output=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {result.stderr.decode()[-500:]}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reserve-steps", type=int, default=12)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpucloud-bench-") as tmp:
        root = Path(tmp) / "repo"
        count = make_repo(root, options.tenants)
        print(f"{count} regions, {options.tenants} tenants (best of {options.repeat}, a new process each)")
        print(f"{'':6}  {'tenant list --json':>18}  {'capacity --json':>15}  ratio")
        for warm in (False, True):
            listed = best(root, ["tenant", "list", "--json"], warm=warm, repeat=options.repeat)
            ledger = best(root, ["capacity", "--json"], warm=warm, repeat=options.repeat)
            print(f"{'warm' if warm else 'cold':6}  {listed:>16.3f} s  {ledger:>13.3f} s  {ledger / listed:.2f}x")
        commands = (["capacity", "--json"], ["validate"])
        without = {" ".join(c): best(root, c, warm=True, repeat=options.repeat) for c in commands}
        add_reserve(root, options.reserve_steps)
        best(root, ["validate"], warm=False, repeat=1)  # the cache again, for the changed region stacks
        print(f"warm, with a {options.reserve_steps}-step internal reserve in every region, against none:")
        for command in commands:
            name = " ".join(command)
            took = best(root, command, warm=True, repeat=options.repeat)
            print(f"  {name:16}  {without[name]:.3f} s -> {took:.3f} s  {took / without[name]:.2f}x")


if __name__ == "__main__":
    main()
