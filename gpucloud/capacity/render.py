"""The capacity ledger for people (a table per region), a browser (one self-contained HTML page: inline SVG,
no script, nothing fetched) and Prometheus (gauges in the text exposition format)."""

from __future__ import annotations

import html

from rich.console import Console
from rich.table import Column, Table

from gpucloud.capacity.ledger import ENDING_WITHIN_DAYS, Fit, Ledger, RegionLedger
from gpucloud.exposition import label
from gpucloud.registry import iso


def caveat(ledger: Ledger) -> str:
    return (
        f"indicative: AWS list prices ({ledger.price_region}) of the catalog of {ledger.catalog_date}, our rate "
        f"card of {ledger.rate_date}"
    )


def render_text(console: Console, ledger: Ledger) -> None:
    console.print(f"capacity at {iso(ledger.at)} ({caveat(ledger)})")
    for region in ledger.regions:
        table = Table(
            "sku", "az", "held as", Column("held", justify="right"), Column("carved", justify="right"),
            Column("free", justify="right"), Column("used", justify="right"), "tenants", Column("$/h", justify="right"),
            title=f"{region.region} (GPUs)", show_edge=False, title_justify="left",
        )  # fmt: skip
        for line in region.lines:
            held_as = line.kind if line.end is None else f"block to {line.end:%Y-%m-%d}"
            tenants = ", ".join(f"{c.tenant} {c.gpus}" for c in line.carves) or "-"
            cost = "block" if line.hourly_cost_usd is None else f"{line.hourly_cost_usd:,.2f}"
            table.add_row(line.gpu_type, line.az, held_as, str(line.held), str(line.carved), str(line.free),
                          f"{line.utilisation:.0%}", tenants, cost)  # fmt: skip
        console.print(table)
        console.print(f"  {_money(region)}")
    if ledger.ending:
        console.print(f"ending within {ENDING_WITHIN_DAYS} days:")
        for end in ledger.ending:
            console.print(f"  {end.ends} (in {end.days} d) {end.region}: {end.what}")
    else:
        console.print(f"nothing ends within {ENDING_WITHIN_DAYS} days")


def _money(region: RegionLedger) -> str:
    cost, revenue = region.hourly_cost_usd, region.hourly_revenue_usd
    margin = revenue - cost
    sign = "-" if margin < 0 else ""
    text = f"holding costs ${cost:,.2f}/h, carved capacity earns ${revenue:,.2f}/h, margin {sign}${abs(margin):,.2f}/h"
    if region.unpriced:
        text += f" (Capacity Blocks not priced: {', '.join(region.unpriced)})"
    return text


def textfile(ledger: Ledger) -> str:
    lines = [
        "# HELP gpucloud_capacity_gpus GPUs per region, SKU and AZ: held by us, carved to tenants, free.",
        "# TYPE gpucloud_capacity_gpus gauge",
    ]
    for region in ledger.regions:
        for line in region.lines:
            for state, value in (("held", line.held), ("carved", line.carved), ("free", line.free)):
                lines.append(
                    f'gpucloud_capacity_gpus{{region="{label(region.region)}",sku="{label(line.gpu_type)}",'
                    f'az="{label(line.az)}",state="{state}"}} {value}'
                )
    money = (
        ("cost", "What the held capacity costs an hour at AWS list prices (Capacity Blocks left out).",
         {r.region: r.hourly_cost_usd for r in ledger.regions}),
        ("revenue", "What the carved capacity earns an hour at our rate card.",
         {r.region: r.hourly_revenue_usd for r in ledger.regions}),
    )  # fmt: skip
    for name, what, values in money:
        metric = f"gpucloud_capacity_{name}_usd_per_hour"
        lines += [f"# HELP {metric} {what} Indicative.", f"# TYPE {metric} gauge"]
        lines += [f'{metric}{{region="{label(region)}"}} {value:.4f}' for region, value in values.items()]
    return "\n".join(lines) + "\n"


BAR_W, BAR_H, LABEL_W = 520, 22, 150
COLOURS = {"carved": "#2b6cb0", "retired": "#a0aec0", "free": "#a0c4e8"}


def _region_chart(region: RegionLedger, most: int) -> str:
    """Bars for each SKU of a region, on one scale for every region of the page (``most`` GPUs = the full width):
    32 GPUs in one region are not drawn as wide as 128 in another."""
    skus = region.by_sku()
    retired_gpus = region.retired_by_sku()
    rows = []
    for i, (sku, (held, carved, free)) in enumerate(sorted(skus.items())):
        y = 10 + i * (BAR_H + 12)
        retired = retired_gpus.get(sku, 0)  # an offboarded tenant's, in its grace period: held, earning nothing
        active = carved - retired
        active_w, retired_w, free_w = (BAR_W * n / most for n in (active, retired, free))
        name = html.escape(sku)
        said = f"{carved} carved, {free} free of {held}"
        if retired:
            said = f"{active} carved, {retired} retired, {free} free of {held}"
        rows.append(
            f'<g class="sku" data-sku="{name}" data-held="{held}" data-carved="{carved}" data-retired="{retired}" '
            f'data-free="{free}"><text x="0" y="{y + 16}">{name}</text>'
            f'<rect class="carved" x="{LABEL_W}" y="{y}" width="{active_w:.1f}" height="{BAR_H}" '
            f'fill="{COLOURS["carved"]}"><title>{name}: {active} of {held} GPUs carved for tenants</title></rect>'
            f'<rect class="retired" x="{LABEL_W + active_w:.1f}" y="{y}" width="{retired_w:.1f}" height="{BAR_H}" '
            f'fill="{COLOURS["retired"]}"><title>{name}: {retired} of {held} GPUs held by offboarded tenants in '
            "their grace period</title></rect>"
            f'<rect class="free" x="{LABEL_W + active_w + retired_w:.1f}" y="{y}" width="{free_w:.1f}" '
            f'height="{BAR_H}" fill="{COLOURS["free"]}"><title>{name}: {free} of {held} GPUs free</title></rect>'
            f'<text x="{LABEL_W + BAR_W + 8}" y="{y + 16}">{said}</text></g>'
        )
    height = 20 + len(skus) * (BAR_H + 12)
    return (
        f'<svg class="chart" role="img" aria-label="GPUs held, carved and free in {html.escape(region.region)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + BAR_W + 300}" height="{height}">{"".join(rows)}</svg>'
    )


def _timeline_chart(ledger: Ledger) -> str:
    """The next ENDING_WITHIN_DAYS days as an axis, a marker on the day each block or term ends."""
    width, left, row = BAR_W + LABEL_W, 24, 20
    scale = (width - 2 * left) / ENDING_WITHIN_DAYS
    ticks = "".join(
        f'<line x1="{left + d * scale:.1f}" y1="18" x2="{left + d * scale:.1f}" y2="24" stroke="#718096"/>'
        f'<text x="{left + d * scale:.1f}" y="14" text-anchor="middle">{f"+{d} d" if d else "today"}</text>'
        for d in range(0, ENDING_WITHIN_DAYS + 1, 5)
    )
    marks = "".join(
        f'<g class="mark" data-kind="{e.kind}" data-days="{e.days}">'
        f'<circle cx="{left + e.days * scale:.1f}" cy="{40 + i * row}" r="5" '
        f'fill="{"#c53030" if e.kind == "capacity-block" else "#dd6b20"}"/>'
        f'<text x="{left + e.days * scale + 10:.1f}" y="{44 + i * row}">{e.ends} {html.escape(e.region)}: '
        f"{html.escape(e.what)}</text></g>"
        for i, e in enumerate(ledger.ending)
    )
    height = 50 + len(ledger.ending) * row
    return (
        f'<svg class="timeline-chart" role="img" aria-label="what ends in the next {ENDING_WITHIN_DAYS} days" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width + 260}" height="{height}">'
        f'<line x1="{left}" y1="24" x2="{width - left}" y2="24" stroke="#718096"/>{ticks}{marks}</svg>'
    )


def page(ledger: Ledger) -> str:
    """One self-contained page: no script, no stylesheet or font fetched, nothing but this file."""
    sections = []
    most = max((held for region in ledger.regions for held, _, _ in region.by_sku().values()), default=1) or 1
    for region in ledger.regions:
        sections.append(
            f'<section class="region" id="{html.escape(region.region)}"><h2>{html.escape(region.region)}</h2>'
            f"{_region_chart(region, most)}<p>{html.escape(_money(region))}</p></section>"
        )
    if ledger.ending:
        items = "".join(
            f'<li class="ending" data-kind="{e.kind}"><time datetime="{e.ends}">{e.ends}</time> '
            f"(in {e.days} days) {html.escape(e.region)}: {html.escape(e.what)}</li>"
            for e in ledger.ending
        )
        timeline = _timeline_chart(ledger) + f'<ol class="timeline">{items}</ol>'
    else:
        timeline = f"<p>Nothing ends within {ENDING_WITHIN_DAYS} days.</p>"
    legend = " ".join(
        f'<span style="display:inline-block;width:12px;height:12px;background:{c}"></span> {n}'
        for n, c in COLOURS.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gpucloud capacity at {iso(ledger.at)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;color:#1a202c}svg text{font-size:13px}"
        "section{margin-bottom:2em}</style></head><body>"
        f"<h1>GPU capacity at {iso(ledger.at)}</h1><p>{html.escape(caveat(ledger))}. {legend}</p>"
        f"{''.join(sections)}<h2>Ending within {ENDING_WITHIN_DAYS} days</h2>{timeline}</body></html>\n"
    )


def _on_term(term: str) -> str:
    """``on a 12-month term``, ``on demand`` (not "on on-demand")."""
    return "on demand" if term == "on-demand" else f"on a {term} term"


def render_fit(console: Console, fits: list[Fit], months_hours: int) -> None:
    for f in fits:
        where = f"{f.free_nodes} nodes free at most, in {f.az}" if f.az else f"{f.region} holds no {f.sku} reservation"
        verdict = "fits" if f.fits else "does not fit"
        console.print(
            f"a {f.nodes}-node {f.sku} tenant in {f.region}: {verdict} ({where}); {_on_term(f.term)} it would earn "
            f"${f.hourly_revenue_usd:,.2f}/h, ${f.hourly_revenue_usd * months_hours:,.0f} a month ({months_hours} h)"
        )
