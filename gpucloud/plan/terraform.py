"""The offline plan as Terraform-plan JSON, so Checkov and other Terraform-plan tools read it.

pulumi-aws is bridged from the Terraform AWS provider: each type token maps to a Terraform resource type
(``data/terraform_types.yaml``) and each camelCase input to the provider's snake_case attribute. Terraform's
plan JSON writes every nested block as a list (Pulumi flattens a block of at most one item into an object)
and keeps map attributes (tags) as maps. Providers, components and the capacity carve have no Terraform
resource and are left out.

Format: Terraform's JSON output format, ``format_version`` 1.2
(https://developer.hashicorp.com/terraform/internals/json-format, recorded 2026-11-27).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from gpucloud.datafiles import load_data_file, require
from gpucloud.errors import ConfigError
from gpucloud.plan.mocks import RecordedResource
from gpucloud.plan.offline import Plan

FORMAT_VERSION = "1.2"
PROVIDER = "registry.terraform.io/hashicorp/{}"  # a Terraform type's prefix names its provider: aws, random
MAP_ATTRIBUTES = frozenset({"tags", "tagsAll"})  # Terraform maps: their keys are data, never renamed
NOT_TERRAFORM = ("pulumi:", "pulumi-python:", "gpucloud:")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


WHERE = "gpucloud/data/terraform_types.yaml"


@cache
def terraform_types() -> dict[str, str]:
    return dict(require(load_data_file("terraform_types.yaml"), "types", dict, WHERE))


@cache
def without_terraform_type() -> frozenset[str]:
    return frozenset(require(load_data_file("terraform_types.yaml"), "without_terraform_type", list, WHERE))


@cache
def renames() -> dict[str, dict[str, str]]:
    return dict(require(load_data_file("terraform_types.yaml"), "renames", dict, WHERE))


def snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def attributes(value: Any) -> Any:
    """Pulumi inputs as Terraform attribute values: snake_case names, nested blocks as lists of one."""
    if isinstance(value, dict):
        return {
            snake(k): (dict(v) if k in MAP_ATTRIBUTES and isinstance(v, dict) else _block(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [attributes(v) for v in value]
    return value


def _block(value: Any) -> Any:
    return [attributes(value)] if isinstance(value, dict) else attributes(value)


def _address_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _address(res: RecordedResource) -> str | None:
    tf_type = terraform_types().get(res.type)
    return None if tf_type is None else f"{tf_type}.{_address_name(res.name)}"


def _references(
    res: RecordedResource, by_urn: dict[str, RecordedResource]
) -> tuple[dict[str, Any], dict[str, dict[str, list[str]]]]:
    """Inputs with every value another resource of the plan computes left unknown (as in a fresh Terraform
    plan, where IDs and ARNs exist only after apply), and the configuration ``expressions`` that say which
    resource each came from: Terraform-plan tools link resources (a bucket to its policy) through these."""
    inputs = dict(res.inputs)
    expressions: dict[str, dict[str, list[str]]] = {}
    for prop, urns in sorted(res.deps.items()):
        for urn in urns:
            target = by_urn.get(urn)
            address = _address(target) if target is not None and target.custom else None
            if target is None or address is None:
                continue
            value = inputs.get(prop)
            suffix = (
                "id"
                if target.id and (value == target.id or (isinstance(value, list) and target.id in value))
                else "arn"
            )
            if value == target.id or value == target.outputs.get("arn"):
                inputs[prop] = None
            elif isinstance(value, list):
                inputs[prop] = [None if v in (target.id, target.outputs.get("arn")) else v for v in value]
            expressions.setdefault(snake(prop), {"references": []})["references"] += [f"{address}.{suffix}", address]
    return inputs, expressions


def terraform_plan(plan: Plan) -> dict[str, Any]:
    """``planned_values``, ``resource_changes`` (all creates, as for a fresh stack) and the ``configuration``
    references of ``plan``."""
    types = terraform_types()
    by_urn = {r.urn: r for r in plan.resources}
    resources: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configured: list[dict[str, Any]] = []
    for res in plan.resources:
        if not res.custom or res.type.startswith(NOT_TERRAFORM) or res.type in without_terraform_type():
            continue
        tf_type = types.get(res.type)
        if tf_type is None:
            raise ConfigError(
                f"plan {plan.stack}: {res.type} has no Terraform type in gpucloud/data/terraform_types.yaml; add it"
            )
        name = _address_name(res.name)
        inputs, expressions = _references(res, by_urn)
        values = attributes(inputs)
        for camel, tf_name in renames().get(tf_type, {}).items():  # Pulumi's plural list -> Terraform's block
            for table in (values, expressions):
                if snake(camel) in table:
                    table[tf_name] = table.pop(snake(camel))
        configured.append(
            {
                "address": f"{tf_type}.{name}",
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_config_key": tf_type.split("_")[0],
                "expressions": expressions,
            }
        )
        resources.append(
            {
                "address": f"{tf_type}.{name}",
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": PROVIDER.format(tf_type.split("_")[0]),
                "schema_version": 0,
                "values": values,
                "sensitive_values": {},
            }
        )
        changes.append(
            {
                "address": f"{tf_type}.{name}",
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": PROVIDER.format(tf_type.split("_")[0]),
                "change": {"actions": ["create"], "before": None, "after": values, "after_unknown": {}},
            }
        )
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": "1.9.0",
        "planned_values": {"root_module": {"resources": resources}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                name: {"name": name, "full_name": PROVIDER.format(name)}
                for name in sorted({"aws", *(r["provider_config_key"] for r in configured)})
            },
            "root_module": {"resources": configured},
        },
    }
