"""What a plan adds up to: resources by type, GPUs, and an indicative hourly and monthly cost.

Priced: GPU instances (a region's capacity reservations bill whether used or not), NAT gateways,
interface endpoints, FSx for Lustre, S3 and EBS per TiB, KMS keys. Prices are list prices from
the catalog and ``data/prices.yaml`` with their dates; a SKU without a price (Capacity Blocks)
makes the total unknown (null) and is named in ``unpriced``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gpucloud import tags as t
from gpucloud.catalog import Catalog
from gpucloud.config import CapacityEntry, RegionConfig, StackConfig, TenantConfig, fsx_capacity_gib
from gpucloud.plan.mocks import RecordedResource
from gpucloud.prices import Prices

GIB_PER_TIB = 1024


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit: str
    usd_hour: float | None

    def shown_usd_hour(self) -> float | None:
        """The hourly price as the table shows it (to a hundredth of a cent)."""
        return None if self.usd_hour is None else round(self.usd_hour, 4)

    def usd_month(self, hours_per_month: int) -> float | None:
        return None if self.usd_hour is None else round(self.usd_hour * hours_per_month, 2)

    def as_json(self, hours_per_month: int) -> dict[str, Any]:
        return {
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "usd_hour": self.shown_usd_hour(),
            "usd_month": self.usd_month(hours_per_month),
        }


@dataclass(frozen=True)
class Summary:
    resource_count: int
    by_type: dict[str, int]
    gpus: int
    cost: list[CostLine]
    catalog_date: str
    price_date: str
    price_region: str
    hours_per_month: int
    unpriced: list[str] = field(default_factory=list)

    # The totals are the sums of the lines as shown, so a reader's own sum agrees with them: each monthly line in
    # cents, each hourly line to a hundredth of a cent. (The monthly total was the rounded hourly total times 730:
    # a $1.00 KMS line totalled $0.00/month.)
    @property
    def hourly_usd(self) -> float | None:
        if self.unpriced:
            return None
        return round(sum(line.shown_usd_hour() or 0.0 for line in self.cost), 4)

    @property
    def monthly_usd(self) -> float | None:
        if self.unpriced:
            return None
        return round(sum(line.usd_month(self.hours_per_month) or 0.0 for line in self.cost), 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "resource_count": self.resource_count,
            "resources_by_type": self.by_type,
            "gpus": self.gpus,
            "hourly_usd": self.hourly_usd,
            "monthly_usd": self.monthly_usd,
            "indicative": True,
            "cost": [line.as_json(self.hours_per_month) for line in self.cost],
            "unpriced": self.unpriced,
            "catalog_date": self.catalog_date,
            "price_date": self.price_date,
            "price_region": self.price_region,
        }


def _day(entry: CapacityEntry) -> str:
    return entry.capacity_block_end.strftime("%Y-%m-%d") if entry.capacity_block_end else "?"


def summarize(resources: list[RecordedResource], config: StackConfig, catalog: Catalog, prices: Prices) -> Summary:
    by_type = dict(sorted(Counter(r.type for r in resources).items()))
    gpus = 0
    cost: list[CostLine] = []
    unpriced: list[str] = []
    instances: Counter[str] = Counter()
    for res in resources:
        if res.type == "aws:ec2/instance:Instance":
            gpu_type = res.inputs.get("tags", {}).get(t.GPU_TYPE)
            if gpu_type in catalog.skus:
                instances[gpu_type] += 1
    for gpu_type, count in sorted(instances.items()):
        sku = catalog.get(gpu_type)
        gpus += count * sku.gpu_count
        price = sku.price_usd_hour
        if price is None:
            unpriced.append(f"{count} x {gpu_type} ({sku.pricing_model})")
        cost.append(CostLine(f"{gpu_type} instance", count, "instance-hour", None if price is None else price * count))
    if isinstance(config, RegionConfig):
        # What the region holds, entry by entry: each is a commitment billed whether used or not.
        for entry in config.capacity:
            sku = catalog.get(entry.gpu_type)
            gpus += entry.count * sku.gpu_count
            if entry.capacity_block_id is not None:
                unpriced.append(f"{entry.count} x {entry.gpu_type} Capacity Block {entry.capacity_block_id} (prepaid)")
                item = f"{entry.gpu_type} Capacity Block {entry.az_id} (prepaid, ends {_day(entry)})"
                cost.append(CostLine(item, entry.count, "instance-hour", None))
                continue
            price = sku.price_usd_hour
            if price is None:
                unpriced.append(f"{entry.count} x {entry.gpu_type} ({sku.pricing_model})")
            item = f"{entry.gpu_type} reservation {entry.az_id}"
            cost.append(CostLine(item, entry.count, "instance-hour", None if price is None else price * entry.count))
    nat = by_type.get("aws:ec2/natGateway:NatGateway", 0)
    if nat:
        cost.append(CostLine("NAT gateway", nat, "gateway-hour", nat * prices.nat_gateway_hour))
    endpoint_azs = sum(
        len(r.inputs.get("subnetIds", []))
        for r in resources
        if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and r.inputs.get("vpcEndpointType") == "Interface"
    )
    if endpoint_azs:
        cost.append(
            CostLine(
                "interface endpoint", endpoint_azs, "endpoint-AZ-hour", endpoint_azs * prices.interface_endpoint_az_hour
            )
        )
    keys = by_type.get("aws:kms/key:Key", 0)
    if keys:
        cost.append(CostLine("KMS key", keys, "key", prices.per_hour(keys * prices.kms_key_month)))
    if isinstance(config, TenantConfig):
        if config.storage.fsx_tib is not None:
            gb = fsx_capacity_gib(config.storage.fsx_tib)
            cost.append(CostLine("FSx for Lustre", gb, "GB", prices.per_hour(gb * prices.fsx_lustre_gb_month)))
        s3_gb = config.storage.bucket_tib * GIB_PER_TIB
        cost.append(CostLine("S3 Standard", s3_gb, "GB", prices.per_hour(s3_gb * prices.s3_standard_gb_month)))
        ebs_gb = config.node_pool.nodes * config.node_pool.root_volume_gib
        cost.append(CostLine("EBS gp3 root volumes", ebs_gb, "GB", prices.per_hour(ebs_gb * prices.ebs_gp3_gb_month)))
    return Summary(
        resource_count=len(resources),
        by_type=by_type,
        gpus=gpus,
        cost=cost,
        catalog_date=catalog.catalog_date,
        price_date=prices.price_date,
        price_region=catalog.price_region,
        hours_per_month=prices.hours_per_month,
        unpriced=unpriced,
    )
