"""Tenancy rules: a tenant's resources carry its tag, stay in its account, and name nothing of another's."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from gpucloud import tags as t
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy.core import (
    BUCKET,
    EGRESS_RULE,
    INGRESS_RULE,
    INSTANCE,
    LAUNCH_TEMPLATE,
    PROVIDER_PREFIX,
    UNKNOWN,
    Finding,
    Stack,
    _as_list,
    _linked,
    _policy_documents,
    _statements,
)

# Types this toolkit creates that accept tags (a fast path: `accepts_tags` asks the provider SDK for others).
TAGGABLE = frozenset(
    {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        LAUNCH_TEMPLATE,
        INSTANCE,
        INGRESS_RULE,
        EGRESS_RULE,
        "aws:kms/key:Key",
        BUCKET,
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:ec2/placementGroup:PlacementGroup",
        "aws:ec2/capacityReservation:CapacityReservation",
    }
)


@cache
def accepts_tags(type_: str) -> bool:
    """Whether AWS resources of this type take tags: the known list, else the provider SDK's own Args class."""
    if type_ in TAGGABLE:
        return True
    provider, module_path, name = ([*type_.split(":"), "", ""])[:3]
    if provider != "aws" or not name:
        return False
    module = module_path.split("/")[0]
    try:
        sdk = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
        args = getattr(sdk, f"{name}Args")
    except (ImportError, AttributeError):
        return False
    return isinstance(getattr(args, "tags", None), property)


def _tenant_tag_everywhere(stack: Stack) -> Iterator[Finding]:
    assert stack.tenant is not None
    for res in stack.resources:
        if accepts_tags(res.type) and (res.inputs.get("tags") or {}).get(t.TENANT) != stack.tenant.tenant:
            yield res.urn, f"tag {t.TENANT}={stack.tenant.tenant} missing"


def _string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _string_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _string_values(item)


def _data_arn(arn: str) -> str | None:
    """The bucket or key an ARN names (S3 object paths cut off); None for other services."""
    if arn.startswith("arn:aws:s3:::"):
        return arn.split("/", 1)[0]
    if arn.startswith("arn:aws:kms:"):
        return arn
    return None


def _no_foreign_data(stack: Stack) -> Iterator[Finding]:
    """No key or bucket in a policy but the stack's own and its region's exports: never another tenant's."""
    own = {str(r.outputs.get("arn")) for r in stack.resources if r.outputs.get("arn")}
    own |= set(_string_values(stack.region_exports))
    for res in stack.resources:
        for document in _policy_documents(res):
            for statement in _statements(document):
                if statement.get("Effect") != "Allow":
                    continue  # a Deny can never grant another tenant's data
                for arn in _as_list(statement.get("Resource")):
                    named = _data_arn(str(arn))
                    if named is None:
                        continue
                    if "*" in named or "?" in named:
                        yield res.urn, f"{named} is a pattern that can match another tenant's key or bucket"
                    elif named not in own:
                        yield res.urn, f"{named} is not this tenant's key or bucket, nor its region's"
                actions = [str(a) for a in _as_list(statement.get("Action"))]
                data_actions = [a for a in actions if a.startswith(("s3:", "kms:")) or a == "*"]
                if (
                    data_actions
                    and "*" in _as_list(statement.get("Resource"))
                    and res.type != "aws:kms/key:Key"  # a key policy's "*" means the key itself
                    and not statement.get("Condition")
                ):
                    yield res.urn, f"{data_actions[0]} on every key or bucket, another tenant's included"


# What a tenant stack (and an account stack) creates outside the tenant's account. In the management account,
# through the default provider: the account itself and its guardrail attachments (Organizations calls). In our
# capacity account, through the capacity provider (the region's capacityAccountId): the capacity share, and the
# carve behind it (a dynamic resource: it assumes the capacity account's role itself). Everything else lands in
# the tenant's account.
IN_MANAGEMENT_ACCOUNT = frozenset(
    {"aws:organizations/account:Account", "aws:organizations/policyAttachment:PolicyAttachment"}
)
IN_CAPACITY_ACCOUNT = frozenset(
    {
        "aws:ram/resourceShare:ResourceShare",
        "aws:ram/resourceAssociation:ResourceAssociation",
        "aws:ram/principalAssociation:PrincipalAssociation",
    }
)
DYNAMIC = "pulumi-python:dynamic:Resource"


def provider_account(provider: RecordedResource) -> str | None:
    """The one account an explicit AWS provider may act in (its allowedAccountIds), if it names one."""
    allowed = provider.inputs.get("allowedAccountIds")
    if isinstance(allowed, str):
        try:
            allowed = json.loads(allowed)  # provider config reaches the engine as JSON text
        except ValueError:
            return None
    if isinstance(allowed, list) and len(allowed) == 1:
        return str(allowed[0])
    return None


# Providers whose resources live in no cloud account (values the engine makes, such as a cluster's MUNGE key).
ACCOUNTLESS_PROVIDERS = ("random:",)


def _through_tenant_provider(stack: Stack) -> Iterator[Finding]:
    providers = {r.urn: r for r in stack.resources if r.type.startswith(PROVIDER_PREFIX)}
    for res in stack.resources:
        if not res.custom or res.type.startswith((PROVIDER_PREFIX, "pulumi:pulumi:", *ACCOUNTLESS_PROVIDERS)):
            continue
        provider = providers.get(res.provider) if res.provider else None
        capacity = str(stack.region_exports.get("capacityAccountId") or "")
        if res.type in IN_MANAGEMENT_ACCOUNT:
            if provider is not None:
                yield res.urn, f"{res.type} is an Organizations call, but goes through provider {res.provider}"
            continue
        if res.type == DYNAMIC:
            role = str(res.inputs.get("role_arn") or "")
            if capacity and not role.startswith(f"arn:aws:iam::{capacity}:role/"):
                yield (
                    res.urn,
                    f"the carve acts as {role or 'the stack credentials'}, not in our capacity account {capacity}",
                )
            continue
        if provider is None:
            yield res.urn, "created in the management account (default provider), not in the tenant's account"
            continue
        pinned = provider_account(provider)
        if pinned is None:
            yield res.urn, f"provider {provider.urn} does not pin the one account it may act in (allowedAccountIds)"
        elif res.type in IN_CAPACITY_ACCOUNT and capacity and pinned != capacity:
            yield res.urn, f"{res.type} belongs in our capacity account {capacity}, but acts in account {pinned}"
        elif res.type not in IN_CAPACITY_ACCOUNT and capacity and pinned == capacity:
            yield res.urn, f"{res.type} is the tenant's, but acts in our capacity account {capacity}"


def _shares_stay_with_one_account(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type("aws:ram/resourceShare:ResourceShare"):
        if res.inputs.get("allowExternalPrincipals") is not False:
            yield res.urn, "allowExternalPrincipals is not false: accounts outside the organization could join"
        principals = _linked(stack, "aws:ram/principalAssociation:PrincipalAssociation", "resourceShareArn", res)
        if len(principals) > 1:
            yield res.urn, f"shared with {len(principals)} principals: a shared reservation is usable in full by each"
    for res in stack.of_type("aws:ram/principalAssociation:PrincipalAssociation"):
        principal = str(res.inputs.get("principal", ""))
        if principal != UNKNOWN and not (principal.isdigit() and len(principal) == 12):
            yield res.urn, f"principal {principal}: share with the tenant's account id, never an OU or organization"


def _region_capacity_never_shared(stack: Stack) -> Iterator[Finding]:
    """A tenant shares its own carve (or its Capacity Block), never the region's reservation itself."""
    held = stack.region_exports.get("capacity") or {}
    whole = {
        str(entry.get("reservationArn"))
        for entry in (held.values() if isinstance(held, Mapping) else [])
        if isinstance(entry, Mapping) and entry.get("marketType") == "reserved"
    }
    seen: dict[str, str] = {}
    for res in stack.of_type("aws:ram/resourceAssociation:ResourceAssociation"):
        arn = str(res.inputs.get("resourceArn", ""))
        if arn in whole:
            yield res.urn, f"shares the region's whole reservation {arn}; share the tenant's carve of it"
        if ":capacity-reservation/" in arn:
            if arn in seen:
                yield res.urn, f"{arn} is shared twice in this stack (also by {seen[arn]})"
            seen[arn] = res.urn
