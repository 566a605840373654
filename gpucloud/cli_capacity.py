"""``gpucloud capacity``: what we hold, what each tenant has, what is free, and what it costs and earns."""

from __future__ import annotations

import datetime
from pathlib import Path

import click

from gpucloud.cli_support import CONTEXT, emit_json, err, out, repository
from gpucloud.errors import ConfigError
from gpucloud.rates import TERMS


def _moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--at={value!r}: not a date; want YYYY-MM-DD (midnight UTC) or an ISO 8601 time") from None
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)


@click.command(context_settings=CONTEXT)
@click.option("--region", "regions", multiple=True, metavar="R", help="Only this region (repeat for more).")
@click.option("--at", callback=_moment, metavar="DATE", help="The state at this date or time (UTC) [now].")
@click.option(
    "--fit",
    metavar="SKU=NODES",
    help="Also say whether a new tenant of NODES x SKU fits in each region shown (the nodes leasable in one AZ on "
    "every day of --term, our internal reserve's steps included), and what it would earn on --term.",
)
@click.option(
    "--term",
    type=click.Choice(TERMS),
    default="on-demand",
    show_default=True,
    help="The term --fit prices the new tenant on.",
)
@click.option("--json", "as_json", is_flag=True, help='Print the ledger as JSON (with --fit: its answer as "fit").')
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write one self-contained page (charts per region, what ends soon), atomically.",
)
@click.option(
    "--textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write the figures as Prometheus gauges (a *.prom file for node_exporter), atomically.",
)
@click.pass_context
def capacity(
    ctx: click.Context,
    regions: tuple[str, ...],
    at: datetime.datetime | None,
    fit: str | None,
    term: str,
    as_json: bool,
    html_file: Path | None,
    textfile: Path | None,
) -> None:
    """Per region, SKU and AZ: GPUs held (reservations, Capacity Blocks with their end), ours (the region's
    internal reserve that day), carved per tenant, leasable (held - ours - carved) and used, and when leasable
    changes next; what holding them costs an hour (AWS list prices) against what the carved part earns (our rate
    card), and the margin; Capacity Blocks and tenant terms that end, and reserve steps, within 30 days; where
    tenants' terms collide with a reserve step.

    \b
    Does a 16-node p5 tenant fit in us-east-1 next month, and what would it earn on a 12-month term?
      gpucloud capacity --region us-east-1 --at 2026-12-27 --fit p5.48xlarge=16 --term 12-month
    --at shows a future date: Capacity Blocks counted from their start and dropped after their end, the reserve
    of that day, today's tenants as they are. Every figure is indicative, labelled with the dates of the catalog
    and the rate card.
    """
    from gpucloud.capacity.ledger import build
    from gpucloud.capacity.ledger import fit as fit_in
    from gpucloud.capacity.render import page, render_fit, render_text
    from gpucloud.capacity.render import textfile as prometheus_text
    from gpucloud.catalog import load_catalog
    from gpucloud.exposition import check_output_path, check_textfile_path, write_atomically
    from gpucloud.prices import load_prices
    from gpucloud.registry import load_registry
    from gpucloud.transaction import repository_lock

    asked = _fit(fit, load_catalog().names()) if fit is not None else None
    if textfile is not None:
        check_textfile_path(textfile)
    if html_file is not None:
        check_output_path(html_file, "--html", ".html", "want a file name ending in .html")
    repo = repository(ctx)
    with repository_lock(repo.root):
        registry = load_registry(repo)
    if registry.problems:
        raise ConfigError(
            f"the registry has {len(registry.problems)} stack(s) that do not load; fix them first "
            f"(gpucloud validate): {next(iter(registry.problems.values()))}"
        )
    for region in regions:
        registry.require_region(region)
    ledger = build(registry, at or datetime.datetime.now(datetime.UTC), regions or None)
    if html_file is not None:
        write_atomically(html_file, page(ledger))
        err.print(f"wrote {html_file}")  # on stderr: stdout stays the table or the JSON
    if textfile is not None:
        write_atomically(textfile, prometheus_text(ledger))
        err.print(f"wrote {textfile}")
    fits = [fit_in(registry, region, *asked, term, ledger.at) for region in ledger.regions] if asked is not None else []
    if as_json:
        emit_json({**ledger.as_json(), **({"fit": [f.as_json() for f in fits]} if asked is not None else {})})
    else:
        render_text(out, ledger)
        render_fit(out, fits, load_prices().hours_per_month)


def _fit(value: str, skus: list[str]) -> tuple[str, int]:
    sku, _, nodes = value.partition("=")
    if sku not in skus or not nodes.isdigit() or int(nodes) < 1:
        raise ConfigError(f"--fit={value!r}: want SKU=NODES, a SKU of the catalog ({', '.join(skus)}) and NODES >= 1")
    return sku, int(nodes)
