"""The stack program: read the stack's config, build the region or the tenant. ``stacks/__main__.py`` calls it.

The same function runs under ``pulumi up`` and under the offline plan's mock runtime.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from gpucloud import tags as t
from gpucloud.catalog import load_catalog
from gpucloud.components.region_foundation import RegionFoundation, RegionFoundationArgs
from gpucloud.components.tenant_environment import RegionExports, TenantEnvironment, TenantEnvironmentArgs
from gpucloud.config import (
    NAMESPACE,
    STRUCTURED_KEYS,
    RegionConfig,
    StackConfig,
    TenantConfig,
    config_from_namespaced,
)


def runtime_config() -> dict[str, Any]:
    """This stack's config as Pulumi hands it to the program, namespaced keys, objects decoded from JSON text."""
    merged: dict[str, Any] = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    decoded: dict[str, Any] = {}
    for full_key, value in merged.items():
        key = full_key[len(prefix) :] if full_key.startswith(prefix) else None
        structured = key in STRUCTURED_KEYS and isinstance(value, str)
        decoded[full_key] = json.loads(value) if structured else value
    return decoded


def build(config: StackConfig) -> None:
    if isinstance(config, RegionConfig):
        _build_region(config)
    else:
        _build_tenant(config)


def _build_region(config: RegionConfig) -> None:
    foundation = RegionFoundation(config.stack, RegionFoundationArgs(config=config, tags=t.region_tags(config.region)))
    for name, value in foundation.exports.items():
        pulumi.export(name, value)


def _build_tenant(config: TenantConfig) -> None:
    region = pulumi.StackReference(config.region_stack_ref)
    env = TenantEnvironment(
        config.stack,
        TenantEnvironmentArgs(
            config=config,
            sku=load_catalog().get(config.node_pool.gpu_type),
            region=RegionExports(
                audit_bucket_arn=region.require_output("auditBucketArn"),
                capacity=region.require_output("capacity"),
                amis=region.require_output("amis"),
            ),
            tags=t.tenant_tags(config.tenant, config.region),
        ),
    )
    for name, value in env.exports.items():
        pulumi.export(name, value)


def main() -> None:
    """Entry point of ``stacks/__main__.py``."""
    build(config_from_namespaced(pulumi.get_stack(), runtime_config()))
