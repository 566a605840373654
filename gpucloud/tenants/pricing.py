"""What a tenant pays a month on our rate card (indicative: its contract says what it pays)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpucloud.catalog import load_catalog
from gpucloud.prices import load_prices
from gpucloud.rates import load_rate_card

if TYPE_CHECKING:
    from gpucloud.registry import TenantEntry


def hourly_price(tenant: TenantEntry) -> float:
    """The tenant's GPUs times the rate card's rate per GPU-hour for its SKU and term (a ConfigError when the card
    has no rate for its SKU)."""
    gpus = tenant.nodes * load_catalog().get(tenant.gpu_type).gpu_count
    return gpus * load_rate_card().gpu_hour_rate(tenant.gpu_type, tenant.term)


def monthly_price(tenant: TenantEntry) -> float:
    return round(hourly_price(tenant) * load_prices().hours_per_month, 2)
