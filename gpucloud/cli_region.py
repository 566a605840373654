"""``gpucloud region add``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.text import Text

from gpucloud.cli_support import CONTEXT, emit_json, heading, out, repository
from gpucloud.errors import ConfigError

if TYPE_CHECKING:
    from gpucloud.region_add import RegionAddition


@click.group(context_settings=CONTEXT)
def region() -> None:
    """Add regions: a region stack is the shared foundation and GPU capacity its tenants draw from."""


def _plan_summary(ctx: click.Context, result: RegionAddition) -> None:
    """The offline plan summary and indicative cost of the region stack a dry run would write."""
    from gpucloud.plan.offline import Planner
    from gpucloud.plan.render import render_summary
    from gpucloud.repo import config_mapping

    path, text = next((p, t) for p, t in result.files if p.name.startswith("Pulumi."))
    plan = Planner(repository(ctx), pending={result.config.stack: config_mapping(text, str(path))})
    heading(out, f"offline plan of {result.config.stack}")
    render_summary(out, plan.plan(result.config.stack))


@region.command("add", context_settings=CONTEXT)
@click.argument("region_code", metavar="R")
@click.option(
    "--capacity",
    multiple=True,
    metavar="SKU[@AZ]=N",
    help="GPU capacity to hold, e.g. p5.48xlarge=8 or p5.48xlarge@euw1-az2=8 [the region's first AZ]. Repeat.",
)
@click.option(
    "--reserve",
    multiple=True,
    metavar="SKU[@AZ]=N[@DATE]",
    help="Our internal reserve: N nodes of the held SKU that tenants can never lease, from DATE (YYYY-MM-DD) "
    "[today], e.g. p5.48xlarge=2@2027-03-01; the AZ may be left out when the SKU is held in one. Repeat for a "
    "schedule of steps.",
)
@click.option(
    "--ami",
    "amis",
    multiple=True,
    metavar="SKU=AMI:ROOT",
    help="The GPU image each SKU boots here and the root device name the AMI declares "
    "(/dev/sda1 Ubuntu, /dev/xvda Amazon Linux 2023). Repeat.",
)
@click.option("--like", metavar="STACK", help="Copy capacity (SKUs and counts), supernet size and tenant block size.")
@click.option("--supernet", metavar="CIDR", help="The region's tenant supernet [the first free block of the plan].")
@click.option("--tenant-prefix", type=int, metavar="N", help="Tenant VPC size, /16 to /24 [20, or --like's].")
@click.option(
    "--update",
    is_flag=True,
    help="For a region that has its stack: rewrite its inventory from the templates (the stack config stays).",
)
@click.option("--dry-run", is_flag=True, help="Print the files; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print {region, stack, supernet, azs, files} as JSON.")
@click.pass_context
def add(
    ctx: click.Context,
    region_code: str,
    capacity: tuple[str, ...],
    reserve: tuple[str, ...],
    amis: tuple[str, ...],
    like: str | None,
    supernet: str | None,
    tenant_prefix: int | None,
    update: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Add region R: write stacks/Pulumi.region-R.yaml and inventories/regions/R.aws_ec2.yml.

    Each SKU must be offered in R (the GPU catalog says where); the AZs are R's AZ IDs; the supernet is
    the first block of the global address plan that overlaps no region and no tenant. Then review the
    change and `pulumi up -s region-R`, or `gpucloud rollout --stacks region-R`.
    """
    from gpucloud.region_add import RegionRequest, add_region, update_region

    if update:
        if capacity or reserve or amis or like or supernet or tenant_prefix:
            raise ConfigError("--update rewrites an existing region's derived files; it takes no other option")
        updated = update_region(repository(ctx), region_code, dry_run=dry_run)
        if as_json:
            emit_json({**updated.as_json(), "dry_run": dry_run})
            return
        verb = "would write" if dry_run else "wrote"
        for path, _ in updated.files:
            out.print(f"{verb} {path}")
        if not updated.files:
            out.print(f"nothing to change: region {region_code}'s files already say this")
        return

    request = RegionRequest(
        region=region_code,
        capacity=capacity,
        reserve=reserve,
        amis=amis,
        like=like,
        supernet=supernet,
        tenant_prefix=tenant_prefix,
    )
    result = add_region(repository(ctx), request, dry_run=dry_run)
    if as_json:
        emit_json({**result.as_json(), "dry_run": dry_run})
        return
    cfg = result.config
    for path, text in result.files:
        if dry_run:
            heading(out, f"would write {path}")
            out.print(Text(text))
    if dry_run:
        _plan_summary(ctx, result)
    held = ", ".join(f"{c.gpu_type} × {c.count} in {c.az_id}" for c in cfg.capacity)
    if cfg.internal_reserve:
        held += "; ours: " + ", ".join(
            f"{s.gpu_type} × {s.nodes} in {s.az_id} from {s.start}" for s in cfg.internal_reserve
        )
    verb = "would add" if dry_run else "added"
    out.print(f"{verb} region {cfg.region}: stack {cfg.stack}, tenant supernet {cfg.tenant_supernet}, {held}")
    if not dry_run:
        for path, _ in result.files:
            out.print(f"  wrote {path}")
    if dry_run:  # nothing was written: the next steps of a real run do not apply yet
        out.print("dry run: nothing written; to write it, run the same command without --dry-run")
        return
    out.print("next:")
    out.print(f"  gpucloud plan {cfg.stack}")
    out.print("  git add -A && git commit             # review; CI runs `gpucloud validate`")
    out.print(f"  gpucloud rollout --stacks {cfg.stack}")
