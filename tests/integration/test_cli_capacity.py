"""`gpucloud capacity` (and the capacity warnings of `validate`) as a user runs them, on a copy of the sample
stacks, after onboardings and offboardings: the figures add up, --at moves through time, the rate card applies
per term, refusals are one line, and the page, the textfile and the JSON are what their readers parse."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import edit_stack, snapshot
from html_page import Page
from prometheus_client.parser import text_string_to_metric_families

from gpucloud.catalog import load_catalog
from gpucloud.cli import main
from gpucloud.rates import load_rate_card

pytestmark = pytest.mark.integration
GPUCLOUD = [sys.executable, "-m", "gpucloud"]
BLOCK = "cr-0123456789abcdef0"
NOW = datetime.datetime.now(datetime.UTC)


def gpucloud(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUCLOUD, "--root", str(root), *args], capture_output=True, text=True, timeout=300)


def ledger(root: Path, *args: str) -> dict[str, Any]:
    result = gpucloud(root, "capacity", "--json", *args)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def lines(doc: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["region"], ln["sku"], ln["az"]): ln for r in doc["regions"] for ln in r["lines"]}


def onboard(root: Path, name: str, region: str, sku: str, nodes: int, *extra: str) -> None:
    args = ["tenant", "onboard", name, "--region", region, "--gpu-type", sku, "--nodes", str(nodes)]
    result = gpucloud(root, *args, "--new-account", *extra)
    assert result.returncode == 0, result.stderr


def assert_adds_up(doc: dict[str, Any], tenants: list[dict[str, Any]]) -> None:
    gpus = {sku: s.gpu_count for sku, s in load_catalog().skus.items()}
    for (region, sku, az), line in lines(doc).items():
        assert line["held_gpus"] == line["carved_gpus"] + line["free_gpus"], (region, sku, az)
        assert line["carved_gpus"] == sum(c["gpus"] for c in line["carved"])
        live = [t for t in tenants if (t["region"], t["gpu_type"], t["az"]) == (region, sku, az)]
        assert sorted(c["tenant"] for c in line["carved"] if c["term"]) == sorted(t["name"] for t in live)
        assert sum(c["gpus"] for c in line["carved"] if c["term"]) == sum(t["nodes"] * gpus[sku] for t in live)


def test_the_figures_add_up_through_onboardings_and_offboardings(repo_copy: Path) -> None:
    onboard(repo_copy, "beta", "us-east-1", "p5.48xlarge", 4)
    onboard(repo_copy, "gamma", "us-east-1", "g6e.48xlarge", 1, "--term", "1-month")
    onboard(repo_copy, "delta", "eu-north-1", "p5.48xlarge", 3, "--term", "12-month")
    tenants = json.loads(gpucloud(repo_copy, "tenant", "list", "--json").stdout)
    doc = ledger(repo_copy)
    assert_adds_up(doc, tenants)
    p5 = lines(doc)[("us-east-1", "p5.48xlarge", "use1-az4")]
    assert (p5["held_gpus"], p5["carved_gpus"], p5["free_gpus"]) == (128, 48, 80)  # acme 2 + beta 4 nodes
    assert doc["indicative"] is True and doc["catalog_date"] == load_catalog().catalog_date
    assert doc["rate_card_date"] == load_rate_card().rate_date
    # Offboarding: a tenant leaving still holds its nodes; destroyed, its carve stays retired (earning nothing).
    for step in ((), ("--destroyed",)):
        result = gpucloud(repo_copy, "tenant", "offboard", "beta", "--region", "us-east-1", "--yes", *step)
        assert result.returncode == 0, result.stderr
    tenants = json.loads(gpucloud(repo_copy, "tenant", "list", "--json").stdout)
    doc = ledger(repo_copy)
    assert_adds_up(doc, tenants)
    p5 = lines(doc)[("us-east-1", "p5.48xlarge", "use1-az4")]
    (retired,) = [c for c in p5["carved"] if c["term"] is None]
    assert retired["gpus"] == 32 and retired["hourly_revenue_usd"] == 0 and "retired until" in retired["tenant"]


def test_each_tenant_earns_the_rate_card_rate_of_its_term(repo_copy: Path) -> None:
    onboard(repo_copy, "beta", "us-east-1", "p5.48xlarge", 1, "--term", "1-month")
    onboard(repo_copy, "gamma", "us-east-1", "p5.48xlarge", 1)  # on-demand
    card = load_rate_card()
    carves = {c["tenant"]: c for c in lines(ledger(repo_copy))[("us-east-1", "p5.48xlarge", "use1-az4")]["carved"]}
    rate = card.gpu_hour["p5.48xlarge"]
    assert carves["gamma"]["hourly_revenue_usd"] == pytest.approx(8 * rate)
    assert carves["beta"]["hourly_revenue_usd"] == pytest.approx(8 * rate * (1 - card.terms["1-month"].discount))
    assert carves["acme"]["hourly_revenue_usd"] == pytest.approx(16 * rate * (1 - card.terms["12-month"].discount))
    region = next(r for r in ledger(repo_copy)["regions"] if r["region"] == "us-east-1")
    cost = sum(ln["hourly_cost_usd"] for ln in region["lines"])
    assert region["hourly_cost_usd"] == pytest.approx(cost)
    assert region["hourly_margin_usd"] == pytest.approx(region["hourly_revenue_usd"] - cost)
    price = {
        r["name"]: r["monthly_price_usd"] for r in json.loads(gpucloud(repo_copy, "tenant", "list", "--json").stdout)
    }
    assert price["gamma"] == pytest.approx(8 * rate * 730, abs=0.01)  # tenant list: the same rate, a month


def with_block(start: datetime.datetime, end: datetime.datetime) -> Any:
    def change(cfg: dict[str, Any]) -> None:
        cfg["gpucloud:capacity"].append(
            {"gpuType": "p5en.48xlarge", "az": "use1-az2", "count": 2, "capacityBlockId": BLOCK,
             "capacityBlockStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "capacityBlockEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )  # fmt: skip

    return change


def test_at_counts_a_block_from_its_start_and_drops_it_after_its_end(repo_copy: Path) -> None:
    start = (NOW + datetime.timedelta(days=10)).replace(hour=11, minute=30, second=0, microsecond=0)
    end = start + datetime.timedelta(days=14)
    edit_stack(repo_copy, "region-us-east-1", with_block(start, end))
    key = ("us-east-1", "p5en.48xlarge", "use1-az2")
    assert key not in lines(ledger(repo_copy))  # bought ahead, not yet held
    during = ledger(repo_copy, "--at", (start + datetime.timedelta(days=1)).date().isoformat())
    block = lines(during)[key]
    assert block["kind"] == "capacity-block" and block["held_gpus"] == 16 and block["hourly_cost_usd"] is None
    ending = [e for e in during["ending"] if e["kind"] == "capacity-block"]
    assert [e["ends"] for e in ending] == [end.date().isoformat()]  # flagged: ends within 30 days
    page_path = repo_copy / "capacity.html"
    ledger(repo_copy, "--at", (start + datetime.timedelta(days=1)).date().isoformat(), "--html", str(page_path))
    parser = Page()
    parser.feed(page_path.read_text())
    assert len([a for t, a in parser.tags if t == "svg" and a.get("class") == "timeline-chart"]) == 1
    marks = [a for t, a in parser.tags if t == "g" and a.get("class") == "mark"]
    assert [(m["data-kind"], m["data-days"]) for m in marks] == [("capacity-block", str(ending[0]["days"]))]
    assert key not in lines(ledger(repo_copy, "--at", (end + datetime.timedelta(days=1)).isoformat()))
    text = gpucloud(repo_copy, "capacity", "--region", "us-east-1", "--at", start.date().isoformat()).stdout
    assert "capacity at " in text and "indicative" in text and "Capacity Blocks not priced" not in text


def test_a_term_ending_within_30_days_is_flagged_and_within_7_warned_by_validate(repo_copy: Path) -> None:
    started = (NOW - datetime.timedelta(days=26)).date()  # a 1-month term that ends in about 4 days
    edit_stack(
        repo_copy, "tenant-acme-us-east-1",
        lambda cfg: cfg.__setitem__("gpucloud:term", {"plan": "1-month", "start": started.isoformat()}),
    )  # fmt: skip
    doc = ledger(repo_copy)
    (term,) = [e for e in doc["ending"] if e["kind"] == "term"]
    assert "acme" in term["what"] and 0 <= term["days"] <= 7
    result = gpucloud(repo_copy, "validate")
    assert result.returncode == 0 and "warning: term-ending tenant-acme-us-east-1" in result.stderr


def test_validate_warns_when_a_regions_free_capacity_of_a_sku_is_under_10_percent(repo_copy: Path) -> None:
    assert "capacity-low" not in gpucloud(repo_copy, "validate").stderr
    onboard(repo_copy, "beta", "us-east-1", "p5.48xlarge", 13)  # 15 of 16 p5 nodes carved: 8 of 128 GPUs free
    result = gpucloud(repo_copy, "validate")
    assert result.returncode == 0, result.stdout
    assert "warning: capacity-low region-us-east-1: 8 of 128 p5.48xlarge GPUs free (6%" in result.stderr


def test_over_committed_capacity_is_a_problem_not_also_a_low_capacity_warning(repo_copy: Path) -> None:
    edit_stack(repo_copy, "tenant-acme-us-east-1", lambda c: c["gpucloud:nodePool"].update(nodes=42))  # 16 held
    result = gpucloud(repo_copy, "validate")
    assert result.returncode == 1 and "capacity" in result.stdout + result.stderr
    assert "capacity-low" not in result.stderr and "GPUs free (-" not in result.stderr  # was "-208 of 128 ... free"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ("--region", "mars-1"),
            "--region='mars-1': no region stack for it; regions with a stack: us-east-1, eu-north",
        ),
        (("--at", "next tuesday"), "--at='next tuesday': not a date"),
        (("--at", "2026-13-01"), "--at='2026-13-01': not a date"),
        (("--fit", "p5=16"), "--fit='p5=16': want SKU=NODES, a SKU of the catalog"),
        (("--fit", "p5.48xlarge=0"), "--fit='p5.48xlarge=0': want SKU=NODES"),
        (("--textfile", "capacity.txt"), "--textfile=capacity.txt: node_exporter's textfile collector reads only"),
        (("--html", "nowhere/capacity.html"), "--html=nowhere/capacity.html: the directory nowhere does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(repo_copy: Path, args: tuple[str, ...], needle: str) -> None:
    before = snapshot(repo_copy)
    result = subprocess.run([*GPUCLOUD, "--root", str(repo_copy), "capacity", *args], capture_output=True,
                            text=True, cwd=repo_copy, timeout=120)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr, result.stderr
    assert snapshot(repo_copy) == before


def test_a_sku_in_use_without_a_rate_is_refused_naming_it(
    repo_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    card = load_rate_card()
    rates = {k: v for k, v in card.gpu_hour.items() if k != "p5.48xlarge"}
    without = dataclasses.replace(card, gpu_hour=rates)
    import gpucloud.capacity.ledger as ledger_module
    import gpucloud.tenants.pricing as pricing

    monkeypatch.setattr(pricing, "load_rate_card", lambda: without)
    monkeypatch.setattr(ledger_module, "load_rate_card", lambda: without)
    assert main(["--root", str(repo_copy), "capacity"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "has no rate for p5.48xlarge, which a tenant or the capacity uses" in line



def test_the_page_holds_a_chart_per_region_and_needs_nothing_from_the_network(repo_copy: Path, tmp_path: Path) -> None:
    onboard(repo_copy, "beta", "us-east-1", "g6e.48xlarge", 2)
    page_path, prom = tmp_path / "capacity.html", tmp_path / "capacity.prom"
    doc = ledger(repo_copy, "--html", str(page_path), "--textfile", str(prom))
    said = gpucloud(repo_copy, "capacity", "--html", str(page_path)).stderr
    assert f"wrote {page_path}" in said  # the path it wrote, on stderr (stdout stays the table or the JSON)
    parser = Page()
    parser.feed(page_path.read_text())
    charts = [a for t, a in parser.tags if t == "svg" and a.get("class") == "chart"]
    assert len(charts) == len(doc["regions"]) == 2
    assert not [t for t, _ in parser.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for _, a in parser.tags for v in a.values() if v and v.startswith(("http:", "https:", "//"))
                and "w3.org/2000/svg" not in v]  # fmt: skip
    bars = {a["data-sku"]: a for t, a in parser.tags if t == "g" and a.get("class") == "sku"}
    g6e = bars["g6e.48xlarge"]
    assert (g6e["data-held"], g6e["data-carved"], g6e["data-leasable"]) == ("32", "16", "16")
    assert not list(tmp_path.glob(".capacity.*"))  # written through a temporary file, renamed over
    # One scale for every region (issue 22.13): a GPU is as wide in eu-north-1 as in us-east-1.
    drawn: list[list[float]] = []  # per SKU bar, in page order: [GPUs held, then the widths of its rectangles]
    for tag, attrs in parser.tags:
        if tag == "g" and attrs.get("class") == "sku":
            drawn.append([float(attrs["data-held"] or 0)])
        elif tag == "rect" and drawn:
            drawn[-1].append(float(attrs["width"] or 0))
    per_gpu = {round(sum(bar[1:]) / bar[0], 3) for bar in drawn}
    assert len(per_gpu) == 1 and len(drawn) > 2, per_gpu

    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    samples = families["gpucloud_capacity_gpus"].samples
    held = {
        (s.labels["region"], s.labels["sku"], s.labels["az"]): s.value for s in samples if s.labels["state"] == "held"
    }
    assert held == {(r, sku, az): ln["held_gpus"] for (r, sku, az), ln in lines(doc).items()}
    revenue = {s.labels["region"]: s.value for s in families["gpucloud_capacity_revenue_usd_per_hour"].samples}
    assert revenue["us-east-1"] == pytest.approx(next(r for r in doc["regions"] if r["region"] == "us-east-1")
                                                ["hourly_revenue_usd"], abs=1e-3)  # fmt: skip


def test_a_browser_renders_the_page(repo_copy: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing under CI: `make test` installs it (make deps)")
        pytest.skip("Debian's chromium is not installed here (make deps installs it)")
    page_path = tmp_path / "capacity.html"
    ledger(repo_copy, "--html", str(page_path))
    shot = tmp_path / "capacity.png"
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*argv, "--dump-dom", page_path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="chart"') == 2 and "us-east-1" in dom.stdout
    subprocess.run([*argv, f"--screenshot={shot}", "--window-size=1000,900", page_path.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_fit_answers_whether_a_new_tenant_fits_next_month_and_what_it_earns(repo_copy: Path) -> None:
    month = (NOW + datetime.timedelta(days=30)).date().isoformat()
    args = ("--region", "us-east-1", "--at", month, "--term", "12-month")
    (big,) = ledger(repo_copy, *args, "--fit", "p5.48xlarge=16")["fit"]
    rate = load_rate_card().gpu_hour["p5.48xlarge"] * (1 - load_rate_card().terms["12-month"].discount)
    assert (big["fits"], big["free_nodes"], big["az"]) == (False, 14, "use1-az4")  # acme holds 2 of 16
    assert big["hourly_revenue_usd"] == pytest.approx(16 * 8 * rate)
    (smaller,) = ledger(repo_copy, *args, "--fit", "p5.48xlarge=14")["fit"]
    assert smaller["fits"] is True
    text = gpucloud(repo_copy, "capacity", *args, "--fit", "p5.48xlarge=16").stdout
    assert "a 16-node p5.48xlarge tenant in us-east-1: does not fit (14 nodes leasable at most, in use1-az4)" in text
    assert "; on a 12-month term it would earn $" in text
    on_demand = gpucloud(repo_copy, "capacity", "--region", "us-east-1", "--fit", "p5.48xlarge=1").stdout
    assert "; on demand it would earn $" in on_demand and "on on-demand" not in on_demand
    onboard(repo_copy, "beta", "us-east-1", "p5.48xlarge", 14)  # onboarding agrees: 14 fit, then none is left
    (after,) = ledger(repo_copy, *args, "--fit", "p5.48xlarge=1")["fit"]
    assert (after["fits"], after["free_nodes"]) == (False, 0)


def test_the_page_draws_an_offboarded_tenants_holding_as_its_own_kind(repo_copy: Path, tmp_path: Path) -> None:
    """Issue 22.13: capacity an offboarded tenant still holds (its grace period) was drawn as carved."""
    for step in ((), ("--destroyed",)):
        assert (
            gpucloud(repo_copy, "tenant", "offboard", "acme", "--region", "us-east-1", "--yes", *step).returncode == 0
        )
    page_path = tmp_path / "capacity.html"
    ledger(repo_copy, "--html", str(page_path))
    parser = Page()
    parser.feed(page_path.read_text())
    (p5,) = [
        a for t, a in parser.tags if t == "g" and a.get("data-sku") == "p5.48xlarge" and a.get("data-held") == "128"
    ]
    assert (p5["data-carved"], p5["data-retired"]) == ("16", "16")  # acme's 2 nodes: retired, not carved for anyone
    assert [a for t, a in parser.tags if t == "rect" and a.get("class") == "retired" and float(a["width"] or 0) > 0]
