"""The stack program: read the stack's config, build the org, an account, a region or a tenant.
``stacks/__main__.py`` calls it.

The same function runs under ``pulumi up`` and under the offline plan's mock runtime. Stacks read what
they build on through StackReferences: an account and a region read the org stack, a tenant reads its
region and its account.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.catalog import load_catalog
from gpucloud.components.account_identity import AccountIdentity, AccountIdentityArgs
from gpucloud.components.organization_foundation import OrganizationFoundation, OrganizationFoundationArgs
from gpucloud.components.region_foundation import RegionFoundation, RegionFoundationArgs
from gpucloud.components.tenant_account import OrgExports, TenantAccount, TenantAccountArgs, account_provider
from gpucloud.components.tenant_environment import RegionExports, TenantEnvironment, TenantEnvironmentArgs
from gpucloud.config import (
    NAMESPACE,
    STRUCTURED_KEYS,
    AccountConfig,
    OrgConfig,
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
    if isinstance(config, OrgConfig):
        exports = _build_org(config)
    elif isinstance(config, AccountConfig):
        exports = _build_account(config)
    elif isinstance(config, RegionConfig):
        exports = _build_region(config)
    else:
        exports = _build_tenant(config)
    for name, value in exports.items():
        pulumi.export(name, value)


def _build_org(config: OrgConfig) -> dict[str, pulumi.Input[object]]:
    org = OrganizationFoundation(config.stack, OrganizationFoundationArgs(config=config, tags=t.org_tags()))
    return org.exports


def _build_account(config: AccountConfig) -> dict[str, pulumi.Input[object]]:
    org = pulumi.StackReference(config.org_stack_ref)
    tags = t.account_tags(config.tenant)
    account = TenantAccount(
        config.stack,
        TenantAccountArgs(
            config=config,
            org=OrgExports(
                management_account_id=aws.get_caller_identity_output().account_id,
                tenant_ou_id=org.require_output("tenantOuId"),
                access_role_name=org.require_output("accessRoleName"),
                operations_role_arn=org.require_output("operationsRoleArn"),
                guardrail_policy_ids=org.require_output("guardrailPolicyIds"),
                quarantine_ou_id=org.require_output("quarantineOuId"),
                quarantine_policy_id=org.require_output("quarantinePolicyId"),
            ),
            tags=tags,
        ),
    )
    identity = AccountIdentity(
        f"{config.stack}-identity",
        AccountIdentityArgs(
            tenant=config.tenant,
            admin_principals=config.admin_principals,
            organization_account_ids=aws.organizations.get_organization_output().accounts.apply(
                lambda accounts: [a.id for a in accounts]
            ),
            operations_role_arn=org.require_output("operationsRoleArn"),
            data_operations_role_arn=org.require_output("dataOperationsRoleArn"),
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(providers=[account.provider]),
    )
    exports: dict[str, pulumi.Input[object]] = {
        "tenant": config.tenant,
        "displayName": config.display_name,
        "accountId": account.account_id,
        "accessRoleArn": account.access_role_arn,
        "deployerRoleArn": account.deployer_role_arn,
        "configRoleArn": account.config_role_arn,
        "operatorRoleArn": identity.operator_role_arn,
        "dataOperatorRoleArn": identity.data_operator_role_arn,
    }
    if identity.admin_role_arn is not None:
        exports["adminRoleArn"] = identity.admin_role_arn
    return exports


def _build_region(config: RegionConfig) -> dict[str, pulumi.Input[object]]:
    org = pulumi.StackReference(config.org_stack_ref)
    # Our capacity account (the org stack's): the package mirror, the reservations and Capacity Blocks.
    capacity = account_provider(
        f"{config.stack}-capacity",
        account_id=org.require_output("capacityAccountId"),
        role_arn=org.require_output("capacityRoleArn"),
        region=config.region,
        session_name=f"gpucloud-{config.stack}-capacity",
    )
    foundation = RegionFoundation(
        config.stack,
        RegionFoundationArgs(
            config=config,
            organization_id=org.require_output("organizationId"),
            capacity_provider=capacity,
            capacity_account_id=org.require_output("capacityAccountId"),
            capacity_role_arn=org.require_output("capacityRoleArn"),
            log_archive_account_id=org.require_output("logArchiveAccountId"),
            log_archive_role_arn=org.require_output("logArchiveRoleArn"),
            audit_retention_days=org.require_output("auditRetentionDays"),
            tags=t.region_tags(config.region),
        ),
    )
    return foundation.exports


def _build_tenant(config: TenantConfig) -> dict[str, pulumi.Input[object]]:
    region = pulumi.StackReference(config.region_stack_ref)
    account = pulumi.StackReference(config.account_stack_ref)
    account_id = account.require_output("accountId")
    provider = account_provider(
        f"{config.stack}-account",
        account_id=account_id,
        role_arn=account.require_output("deployerRoleArn"),
        region=config.region,
        session_name=f"gpucloud-{config.tenant}-{config.region}",
    )
    # Our capacity account, where the region's capacity is carved and shared with the tenant's account.
    capacity_provider = account_provider(
        f"{config.stack}-capacity",
        account_id=region.require_output("capacityAccountId"),
        role_arn=region.require_output("capacityRoleArn"),
        region=config.region,
        session_name=f"gpucloud-capacity-{config.tenant}-{config.region}",
    )
    # Our log-archive account, where the tenant account's audit record of this region lands.
    log_archive_provider = account_provider(
        f"{config.stack}-log-archive",
        account_id=region.require_output("logArchiveAccountId"),
        role_arn=region.require_output("logArchiveRoleArn"),
        region=config.region,
        session_name=f"gpucloud-log-archive-{config.tenant}-{config.region}",
    )
    env = TenantEnvironment(
        config.stack,
        TenantEnvironmentArgs(
            config=config,
            sku=load_catalog().get(config.node_pool.gpu_type),
            region=RegionExports(
                audit_retention_days=region.require_output("auditRetentionDays"),
                mirror_bucket_arn=region.require_output("mirrorBucketArn"),
                mirror_key_arn=region.require_output("mirrorKeyArn"),
                capacity=region.require_output("capacity"),
                capacity_role_arn=region.require_output("capacityRoleArn"),
                amis=region.require_output("amis"),
            ),
            account_id=account_id,
            account_provider=provider,
            capacity_provider=capacity_provider,
            log_archive_provider=log_archive_provider,
            config_role_arn=account.require_output("configRoleArn"),
            deployer_role_arn=account.require_output("deployerRoleArn"),
            tags=t.tenant_tags(config.tenant, config.region),
        ),
    )
    return env.exports


def main() -> None:
    """Entry point of ``stacks/__main__.py``."""
    build(config_from_namespaced(pulumi.get_stack(), runtime_config()))
