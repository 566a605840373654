"""The rate card's terms and the ledger's sense of time: when a term ends, when a holding counts."""

from __future__ import annotations

import datetime

import pytest

from gpucloud.capacity.ledger import held_at
from gpucloud.config import CapacityEntry
from gpucloud.errors import ConfigError
from gpucloud.rates import load_rate_card

CARD = load_rate_card()
UTC = datetime.UTC


@pytest.mark.parametrize(
    ("term", "start", "ends"),
    [
        ("1-month", "2026-11-27", "2026-12-27"),
        ("1-month", "2026-01-31", "2026-02-28"),  # no 31 February: the month's last day
        ("1-month", "2028-01-31", "2028-02-29"),
        ("12-month", "2026-11-27", "2027-11-27"),
        ("12-month", "2028-02-29", "2029-02-28"),
        ("on-demand", "2026-11-27", None),
    ],
)
def test_a_term_ends_its_months_after_its_start(term: str, start: str, ends: str | None) -> None:
    got = CARD.terms[term].ends(datetime.date.fromisoformat(start))
    assert got == (None if ends is None else datetime.date.fromisoformat(ends))


def test_a_term_of_unknown_start_has_no_known_end() -> None:
    assert CARD.terms["12-month"].ends(None) is None


def test_the_rate_applies_the_terms_discount_and_names_a_sku_it_lacks() -> None:
    base = CARD.gpu_hour["p5.48xlarge"]
    assert CARD.gpu_hour_rate("p5.48xlarge", "on-demand") == base
    assert CARD.gpu_hour_rate("p5.48xlarge", "12-month") == pytest.approx(base * (1 - CARD.terms["12-month"].discount))
    with pytest.raises(ConfigError, match=r"has no rate for trn2\.48xlarge"):
        CARD.gpu_hour_rate("trn2.48xlarge", "on-demand")


def test_every_catalog_sku_has_a_rate() -> None:
    from gpucloud.catalog import load_catalog

    assert sorted(load_catalog().skus) == sorted(CARD.gpu_hour)


START = datetime.datetime(2026, 12, 10, 11, 30, tzinfo=UTC)
END = datetime.datetime(2026, 12, 24, 11, 30, tzinfo=UTC)
BLOCK = CapacityEntry(gpu_type="p5en.48xlarge", az_id="use1-az2", count=2, capacity_block_id="cr-0123456789abcdef0",
                      capacity_block_start=START, capacity_block_end=END)  # fmt: skip


@pytest.mark.parametrize(
    ("at", "held"),
    [
        (START - datetime.timedelta(seconds=1), False),
        (START, True),
        (END - datetime.timedelta(seconds=1), True),
        (END, False),  # its instances stop at the end
    ],
)
def test_a_block_counts_from_its_start_until_its_end(at: datetime.datetime, held: bool) -> None:
    assert held_at(BLOCK, at) is held


def test_a_reservation_always_counts() -> None:
    entry = CapacityEntry(gpu_type="p5.48xlarge", az_id="use1-az4", count=16)
    assert held_at(entry, datetime.datetime(2030, 1, 1, tzinfo=UTC))
