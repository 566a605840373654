from __future__ import annotations

import copy
from typing import Any

import pytest

from gpucloud.catalog import load_catalog, parse_catalog
from gpucloud.datafiles import load_data_file
from gpucloud.errors import CatalogError, ConfigError

REQUIRED = (
    "p4d.24xlarge",
    "p4de.24xlarge",
    "p5.48xlarge",
    "p5e.48xlarge",
    "p5en.48xlarge",
    "p6-b200.48xlarge",
    "g6e.48xlarge",
    "g5.48xlarge",
)


def test_catalog_holds_every_sku_the_fleet_sells() -> None:
    catalog = load_catalog()
    assert set(REQUIRED) <= set(catalog.skus)
    assert catalog.catalog_date and catalog.price_source


def test_facts_that_other_code_relies_on() -> None:
    catalog = load_catalog()
    p5 = catalog.get("p5.48xlarge")
    assert (p5.gpu_count, p5.gpu_memory_gb, p5.efa_interfaces, p5.nvlinks_per_gpu) == (8, 80, 32, 18)
    assert p5.needs_fabric_manager
    assert catalog.get("p5en.48xlarge").efa_interfaces == 16
    # PCIe SKUs: no NVLink, no fabric manager (checks a SKU cannot have are not run there).
    for pcie in ("g5.48xlarge", "g6e.48xlarge"):
        assert catalog.get(pcie).nvlinks_per_gpu == 0
        assert not catalog.get(pcie).needs_fabric_manager
    # p5e is sold through Capacity Blocks: no on-demand price.
    p5e = catalog.get("p5e.48xlarge")
    assert p5e.price_usd_hour is None and p5e.pricing_model == "capacity-block"


def test_unknown_sku_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown GPU type 'p9.48xlarge'.*p5\.48xlarge"):
        load_catalog().get("p9.48xlarge")


def _doc() -> dict[str, Any]:
    return copy.deepcopy(load_data_file("catalog.yaml"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gpu_count", 0, "gpu_count=0 must be >= 1"),
        ("gpu_count", "8", "gpu_count='8' is not a int"),
        ("nvswitch", "yes", "nvswitch='yes' is not a bool"),
        ("pricing_model", "spot", "pricing_model='spot'; allowed: on-demand, capacity-block"),
        ("price_usd_hour", -1, "price_usd_hour=-1 must be a positive number"),
        ("price_usd_hour", None, "an on-demand SKU needs price_usd_hour"),
        ("architecture", "volta", "architecture='volta'"),
        ("regions", [], "regions must be a non-empty list"),
        ("vendor", "x", "unknown keys ['vendor']"),
    ],
)
def test_a_bad_catalog_entry_fails_at_load(field: str, value: Any, message: str) -> None:
    doc = _doc()
    doc["instance_types"]["p5.48xlarge"][field] = value
    with pytest.raises(CatalogError, match=r"p5\.48xlarge") as err:
        parse_catalog(doc)
    assert message in str(err.value)


def test_a_missing_field_is_named() -> None:
    doc = _doc()
    del doc["instance_types"]["g5.48xlarge"]["efa_interfaces"]
    with pytest.raises(CatalogError, match=r"g5\.48xlarge: missing key 'efa_interfaces'"):
        parse_catalog(doc)
