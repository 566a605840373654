"""Our rate card (``data/rate_card.yaml``): the price per GPU-hour per SKU and the discount of each term."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache

from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import CatalogError, ConfigError

TERMS = ("on-demand", "1-month", "12-month")


@dataclass(frozen=True, kw_only=True)
class Term:
    name: str
    discount: float  # off the on-demand rate, 0 to <1
    months: int | None  # None: no end (on-demand)

    def ends(self, start: datetime.date | None) -> datetime.date | None:
        """The day after the term's last day, from its start; None for on-demand or an unknown start."""
        if self.months is None or start is None:
            return None
        month = start.month - 1 + self.months
        year, month = start.year + month // 12, month % 12 + 1
        for day in range(start.day, 0, -1):  # 31 Jan + 1 month: the end of February
            try:
                return datetime.date(year, month, day)
            except ValueError:
                continue
        raise AssertionError("unreachable")


@dataclass(frozen=True, kw_only=True)
class RateCard:
    owner: str
    rate_date: str
    currency: str
    terms: dict[str, Term]
    gpu_hour: dict[str, float]  # SKU -> on-demand rate per GPU-hour

    def gpu_hour_rate(self, sku: str, term: str) -> float:
        """The rate per GPU-hour of ``sku`` on ``term``; a ConfigError naming a SKU the card does not price."""
        if sku not in self.gpu_hour:
            raise ConfigError(
                f"the rate card (gpucloud/data/rate_card.yaml, {self.rate_date}) has no rate for {sku}, which a "
                f"tenant or the capacity uses; it prices: {', '.join(sorted(self.gpu_hour))}"
            )
        return self.gpu_hour[sku] * (1 - self.terms[term].discount)


@cache
def load_rate_card() -> RateCard:
    where = "gpucloud/data/rate_card.yaml"
    doc = load_data_file("rate_card.yaml")
    terms_raw = require(doc, "terms", dict, where)
    if sorted(terms_raw) != sorted(TERMS):
        raise CatalogError(f"{where}: terms must be exactly {', '.join(TERMS)}; it has {', '.join(terms_raw)}")
    terms = {}
    for name, body in terms_raw.items():
        discount = require(body, "discount", (int, float), f"{where}: terms.{name}")
        months = body.get("months")
        if not 0 <= discount < 1 or not (months is None or (isinstance(months, int) and months > 0)):
            raise CatalogError(f"{where}: terms.{name}: want 0 <= discount < 1 and months a positive whole or null")
        terms[name] = Term(name=name, discount=float(discount), months=months)
    rates = require(doc, "gpu_hour_usd", dict, where)
    for sku, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            raise CatalogError(f"{where}: gpu_hour_usd.{sku}={rate!r} must be a positive number")
    return RateCard(
        owner=require(doc, "owner", str, where),
        rate_date=str(require(doc, "rate_date", str, where)),
        currency=require(doc, "currency", str, where),
        terms=terms,
        gpu_hour={sku: float(rate) for sku, rate in rates.items()},
    )
