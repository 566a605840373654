"""List prices other than GPU instances (NAT, endpoints, storage), from ``data/prices.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from gpucloud.datafiles import load_data_file, require


@dataclass(frozen=True, kw_only=True)
class Prices:
    price_date: str
    hours_per_month: int
    nat_gateway_hour: float
    interface_endpoint_az_hour: float
    fsx_lustre_gb_month: float
    s3_standard_gb_month: float
    ebs_gp3_gb_month: float
    kms_key_month: float

    def per_hour(self, per_month: float) -> float:
        return per_month / self.hours_per_month


@cache
def load_prices() -> Prices:
    doc = load_data_file("prices.yaml")
    number = (int, float)
    return Prices(
        price_date=str(require(doc, "price_date", str, "prices.yaml")),
        hours_per_month=require(doc, "hours_per_month", int, "prices.yaml"),
        **{
            key: float(require(doc, key, number, "prices.yaml"))
            for key in (
                "nat_gateway_hour",
                "interface_endpoint_az_hour",
                "fsx_lustre_gb_month",
                "s3_standard_gb_month",
                "ebs_gp3_gb_month",
                "kms_key_month",
            )
        },
    )
