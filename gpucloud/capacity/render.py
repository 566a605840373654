"""The capacity ledger for people (a table per region), a browser (one self-contained HTML page: inline SVG,
no script, nothing fetched) and Prometheus (gauges in the text exposition format)."""

from __future__ import annotations

import html

from rich.console import Console
from rich.table import Column, Table

from gpucloud.capacity.ledger import ENDING_WITHIN_DAYS, Ending, Fit, Ledger, RegionLedger
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
            "sku", "az", "held as", Column("held", justify="right"), Column("ours", justify="right"),
            Column("carved", justify="right"), Column("leasable", justify="right"), Column("used", justify="right"),
            "tenants", Column("$/h", justify="right"),
            title=f"{region.region} (GPUs)", show_edge=False, title_justify="left",
        )  # fmt: skip
        for line in region.lines:
            held_as = line.kind if line.end is None else f"block to {line.end:%Y-%m-%d}"
            tenants = ", ".join(f"{c.tenant} {c.gpus}" for c in line.carves) or "-"
            cost = "block" if line.hourly_cost_usd is None else f"{line.hourly_cost_usd:,.2f}"
            table.add_row(line.gpu_type, line.az, held_as, str(line.held), str(line.reserved), str(line.carved),
                          str(line.leasable), f"{line.utilisation:.0%}", tenants, cost)  # fmt: skip
        console.print(table)
        console.print(f"  {_money(region)}")
        for line in region.lines:
            step = line.next_step()
            if step is not None:
                console.print(f"  {line.gpu_type} in {line.az}: {line.leasable} GPUs leasable until {step[0]}, "
                              f"{step[1]} from then (internal reserve)")  # fmt: skip
    if ledger.ending:
        console.print(f"ending within {ENDING_WITHIN_DAYS} days:")
        for end in ledger.ending:
            console.print(f"  {end.ends} (in {end.days} d) {end.region}: {end.what}")
    else:
        console.print(f"nothing ends within {ENDING_WITHIN_DAYS} days")
    for change in ledger.reserve_steps:
        console.print(f"  {change.ends} (in {change.days} d) {change.region}: {change.what}")
    for collision in ledger.collisions:
        console.print(f"reserve short: {collision.region}: {collision.message()}")


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
        "# HELP gpucloud_capacity_gpus GPUs per region, SKU and AZ: held by us, reserved for our own work, carved to "
        "tenants, free (not carved), leasable (held - reserved - carved).",
        "# TYPE gpucloud_capacity_gpus gauge",
    ]
    for region in ledger.regions:
        for line in region.lines:
            states = (("held", line.held), ("reserved", line.reserved), ("carved", line.carved), ("free", line.free),
                      ("leasable", line.leasable))  # fmt: skip
            for state, value in states:
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
COLOURS = {"reserved": "#6b46c1", "carved": "#2b6cb0", "retired": "#a0aec0", "leasable": "#a0c4e8"}


def _region_chart(region: RegionLedger, most: int) -> str:
    """Bars for each SKU of a region, on one scale for every region of the page (``most`` GPUs = the full width):
    32 GPUs in one region are not drawn as wide as 128 in another."""
    skus = region.by_sku()
    retired_gpus = region.retired_by_sku()
    rows = []
    for i, (sku, (held, reserved, carved, leasable)) in enumerate(sorted(skus.items())):
        y = 10 + i * (BAR_H + 12)
        retired = retired_gpus.get(sku, 0)  # an offboarded tenant's, in its grace period: held, earning nothing
        active = carved - retired
        name = html.escape(sku)
        said = f"{reserved} ours, {active} carved, " + (f"{retired} retired, " if retired else "")
        said += f"{leasable} leasable of {held}" if leasable >= 0 else f"{-leasable} short of {held}"
        bands = (
            ("reserved", reserved, f"{reserved} of {held} GPUs reserved for our own work"),
            ("carved", active, f"{active} of {held} GPUs carved for tenants"),
            ("retired", retired, f"{retired} of {held} GPUs held by offboarded tenants in their grace period"),
            ("leasable", max(leasable, 0), f"{max(leasable, 0)} of {held} GPUs leasable"),
        )
        x = float(LABEL_W)
        rects = ""
        for kind, gpus, title in bands:
            width = BAR_W * gpus / most
            rects += (f'<rect class="{kind}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_H}" '
                      f'fill="{COLOURS[kind]}"><title>{name}: {title}</title></rect>')  # fmt: skip
            x += width
        rows.append(
            f'<g class="sku" data-sku="{name}" data-held="{held}" data-reserved="{reserved}" data-carved="{carved}" '
            f'data-retired="{retired}" data-leasable="{leasable}"><text x="0" y="{y + 16}">{name}</text>{rects}'
            f'<text x="{LABEL_W + BAR_W + 8}" y="{y + 16}">{said}</text></g>'
        )
    height = 20 + len(skus) * (BAR_H + 12)
    return (
        f'<svg class="chart" role="img" aria-label="GPUs held, carved and free in {html.escape(region.region)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + BAR_W + 300}" height="{height}">{"".join(rows)}</svg>'
    )


MARK_COLOURS = {"capacity-block": "#c53030", "term": "#dd6b20", "reserve-step": COLOURS["reserved"]}


def _events(ledger: Ledger) -> list[Ending]:
    """What ends, and where the internal reserve changes, in the next ENDING_WITHIN_DAYS days, by date."""
    return sorted([*ledger.ending, *ledger.reserve_steps], key=lambda e: (e.ends, e.region, e.what))


def _timeline_chart(ledger: Ledger) -> str:
    """The next ENDING_WITHIN_DAYS days as an axis, a marker on the day each block or term ends."""
    width, left, row = BAR_W + LABEL_W, 24, 20
    scale = (width - 2 * left) / ENDING_WITHIN_DAYS
    ticks = "".join(
        f'<line x1="{left + d * scale:.1f}" y1="18" x2="{left + d * scale:.1f}" y2="24" stroke="#718096"/>'
        f'<text x="{left + d * scale:.1f}" y="14" text-anchor="middle">{f"+{d} d" if d else "today"}</text>'
        for d in range(0, ENDING_WITHIN_DAYS + 1, 5)
    )
    events = _events(ledger)
    marks = "".join(
        f'<g class="mark" data-kind="{e.kind}" data-days="{e.days}">'
        f'<circle cx="{left + e.days * scale:.1f}" cy="{40 + i * row}" r="5" fill="{MARK_COLOURS[e.kind]}"/>'
        f'<text x="{left + e.days * scale + 10:.1f}" y="{44 + i * row}">{e.ends} {html.escape(e.region)}: '
        f"{html.escape(e.what)}</text></g>"
        for i, e in enumerate(events)
    )
    height = 50 + len(events) * row
    return (
        f'<svg class="timeline-chart" role="img" aria-label="what ends in the next {ENDING_WITHIN_DAYS} days" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width + 260}" height="{height}">'
        f'<line x1="{left}" y1="24" x2="{width - left}" y2="24" stroke="#718096"/>{ticks}{marks}</svg>'
    )


def page(ledger: Ledger) -> str:
    """One self-contained page: no script, no stylesheet or font fetched, nothing but this file."""
    sections = []
    most = max((max(t.held, t.reserved + t.carved) for region in ledger.regions for t in region.by_sku().values()),
               default=1) or 1  # fmt: skip
    for region in ledger.regions:
        sections.append(
            f'<section class="region" id="{html.escape(region.region)}"><h2>{html.escape(region.region)}</h2>'
            f"{_region_chart(region, most)}<p>{html.escape(_money(region))}</p></section>"
        )
    if _events(ledger):
        items = "".join(
            f'<li class="ending" data-kind="{e.kind}"><time datetime="{e.ends}">{e.ends}</time> '
            f"(in {e.days} days) {html.escape(e.region)}: {html.escape(e.what)}</li>"
            for e in _events(ledger)
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
        where = f"{f.free_nodes} nodes leasable at most, in {f.az}"
        if not f.az:
            where = f"{f.region} holds no {f.sku} reservation"
        verdict = "fits" if f.fits else "does not fit"
        console.print(
            f"a {f.nodes}-node {f.sku} tenant in {f.region}: {verdict} ({where}); {_on_term(f.term)} it would earn "
            f"${f.hourly_revenue_usd:,.2f}/h, ${f.hourly_revenue_usd * months_hours:,.0f} a month ({months_hours} h)"
        )
