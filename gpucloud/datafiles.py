"""Reading the YAML data files shipped inside the package (catalog, prices, regions)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from gpucloud.errors import CatalogError

# libyaml's safe loader when PyYAML was built with it (the wheels are): the same YAML, about 10x faster,
# which is most of the cost of reading a registry of a thousand stack configs.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` (safe: plain data only, no Python objects), through libyaml when available."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def load_data_file(name: str) -> dict[str, Any]:
    """The parsed mapping of ``gpucloud/data/<name>``; a CatalogError when it is not a mapping."""
    text = resources.files("gpucloud").joinpath("data", name).read_text(encoding="utf-8")
    doc = load_yaml(text)
    if not isinstance(doc, dict):
        raise CatalogError(f"gpucloud/data/{name}: want a mapping at the top level")
    return doc


def require(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``doc[key]`` checked against ``kind``; a CatalogError naming the file, key and value otherwise."""
    if key not in doc:
        raise CatalogError(f"{where}: missing key {key!r}")
    value = doc[key]
    # bool is an int in Python; a number field must not accept `true`.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise CatalogError(f"{where}: {key}={value!r} is not a {_kind_name(kind)}")
    if not isinstance(value, kind):
        raise CatalogError(f"{where}: {key}={value!r} is not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)
