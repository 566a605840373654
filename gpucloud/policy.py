"""Isolation and security rules over what a stack program registers.

One module, two users:

- ``gpucloud plan`` and ``gpucloud policy check`` run the rules over the offline plan's resources;
- the CrossGuard pack in ``policy/`` runs the very same rules inside ``pulumi preview`` / ``pulumi up``
  (``gpucloud.crossguard`` turns the engine's resources into the same ``RecordedResource`` shape).

A rule sees each resource's type, URN, properties (Pulumi's camelCase names) and which resources each
property was computed from (``deps``: property dependencies, as the engine records them). Resources are
linked through those dependencies, or through an ID when one is known, never through resource names.

Rules a usual suite has (encryption, IMDSv2, public access) apply to every stack; the tenant rules
(tag, isolation, security-group scope, foreign ARNs) to tenant stacks, whose config says which CIDR and
tenant are theirs.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gpucloud import tags as t
from gpucloud.config import AccountConfig, StackConfig, TenantConfig
from gpucloud.plan.mocks import RecordedResource

WORLD = ("0.0.0.0/0", "::/0")
# A value the engine does not know yet (during a preview, under CrossGuard). A rule that cannot judge
# it passes it; `pulumi up` runs the rules again once every value is known.
UNKNOWN = "<unknown until pulumi up>"
MAX_IMDS_HOPS = 2
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP_TYPES = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
FSX_LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
BUCKET = "aws:s3/bucket:Bucket"
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
# Resources that join a VPC to another network.
CROSS_NETWORK_TYPES = (
    "aws:ec2/vpcPeeringConnection:",
    "aws:ec2/vpcPeeringConnectionAccepter:",
    "aws:ec2/peeringConnectionOptions:",
    "aws:ec2transitgateway/",
    "aws:ec2/vpnGateway:",
    "aws:ec2/vpnConnection:",
    "aws:ec2/customerGateway:",
    "aws:ec2/vpnGatewayAttachment:",
)
CROSS_NETWORK_ROUTE_TARGETS = ("vpcPeeringConnectionId", "transitGatewayId", "vpnGatewayId", "coreNetworkArn")
# Properties that hold an IAM policy document, per resource type prefix.
POLICY_PROPERTIES = ("policy", "inlinePolicies", "assumeRolePolicy", "content")
PROVIDER_PREFIX = "pulumi:providers:"
# What a tenant stack (and an account stack) creates in our account, through the default provider: the capacity
# share (with the carve behind it) and the account itself with its guardrail attachments. Everything else
# lands in the tenant's account.
IN_OUR_ACCOUNT = frozenset(
    {
        "aws:ram/resourceShare:ResourceShare",
        "aws:ram/resourceAssociation:ResourceAssociation",
        "aws:ram/principalAssociation:PrincipalAssociation",
        "pulumi-python:dynamic:Resource",
        "aws:organizations/account:Account",
        "aws:organizations/policyAttachment:PolicyAttachment",
    }
)
SESSION_ACTIONS = ("ssm:ResumeSession", "ssm:TerminateSession")
AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"
# parliament findings that are advice, not faults: our own rules judge wildcard resources (no-admin-wildcard,
# tenant-foreign-data, session-scope) with the tenant in mind.
IAM_LINT_ADVICE = frozenset({"RESOURCE_STAR", "RESOURCE_EFFECTIVELY_STAR"})
# Global condition keys AWS documents that parliament 1.6.4's key list predates (IAM User Guide, "AWS global
# condition context keys", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html,
# recorded 2026-11-27). Any other unknown condition fails the plan.
IAM_LINT_KNOWN_GLOBAL_KEYS = frozenset({"aws:sourceorgid"})
TRUST_POLICY_HAS_NO_RESOURCE = "Statement contains neither Resource nor NotResource"


@dataclass(frozen=True)
class Violation:
    rule: str
    urn: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class Stack:
    """What a rule sees: the stack's resources, its config, and its region's exports (tenant stacks)."""

    resources: list[RecordedResource]
    config: StackConfig
    region_exports: Mapping[str, Any] = field(default_factory=dict)

    def of_type(self, *types: str) -> Iterator[RecordedResource]:
        return (r for r in self.resources if r.type in types)

    @property
    def tenant(self) -> TenantConfig | None:
        return self.config if isinstance(self.config, TenantConfig) else None


Finding = tuple[str, str]  # (urn, message)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[Stack], Iterable[Finding]]
    tenant_only: bool = False  # tenant (region) stacks only
    tenant_or_account: bool = False  # tenant stacks and account stacks: what is built in a tenant's account

    def applies_to(self, config: StackConfig) -> bool:
        if self.tenant_only:
            return isinstance(config, TenantConfig)
        if self.tenant_or_account:
            return isinstance(config, TenantConfig | AccountConfig)
        return True


def links(source: RecordedResource, prop: str, target: RecordedResource) -> bool:
    """Whether ``source``'s property ``prop`` refers to ``target`` (a property dependency, or its ID)."""
    if target.urn in source.deps.get(prop, ()):
        return True
    value = source.inputs.get(prop)
    if isinstance(value, list):  # e.g. securityGroupIds
        return bool(target.id) and target.id in value
    return bool(target.id) and value == target.id


def _linked(stack: Stack, type_: str, prop: str, target: RecordedResource) -> list[RecordedResource]:
    return [r for r in stack.of_type(type_) if links(r, prop, target)]


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
    except ValueError:
        return None  # unknown during preview, or not a CIDR: nothing to judge


def _statements(policy: Any) -> list[dict[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, dict):
        return []
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return [s for s in statements if isinstance(s, dict)]


def _whole(value: Any) -> int | None:
    """A whole number however it arrives: 2 from the SDK, 2.0 from the engine's protobuf, "2" from config."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _policy_documents(res: RecordedResource) -> Iterator[Any]:
    for key in POLICY_PROPERTIES:
        value = res.inputs.get(key)
        if key == "inlinePolicies" and isinstance(value, list):
            yield from (item.get("policy") for item in value if isinstance(item, dict))
        elif value is not None:
            yield value


# --- rules every stack gets -------------------------------------------------------------------------


def _no_world_ingress(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type(INGRESS_RULE):
        cidr = res.inputs.get("cidrIpv4") or res.inputs.get("cidrIpv6")
        if cidr in WORLD:
            yield res.urn, f"ingress from {cidr}"
    for res in stack.of_type(*SECURITY_GROUP_TYPES):
        for rule in res.inputs.get("ingress") or []:
            for cidr in [*rule.get("cidrBlocks", []), *rule.get("ipv6CidrBlocks", [])]:
                if cidr in WORLD:
                    yield res.urn, f"inline ingress from {cidr}"


def _imdsv2_required(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type(LAUNCH_TEMPLATE):
        meta = res.inputs.get("metadataOptions") or {}
        if meta.get("httpTokens") != "required":
            yield res.urn, f"metadataOptions.httpTokens={meta.get('httpTokens')!r}, want 'required'"
        hops = _whole(meta.get("httpPutResponseHopLimit"))
        if hops is None or not 1 <= hops <= MAX_IMDS_HOPS:
            yield res.urn, f"httpPutResponseHopLimit={hops!r}, want 1 or {MAX_IMDS_HOPS}"
    for res in stack.of_type(INSTANCE):
        meta = res.inputs.get("metadataOptions") or {}
        if "launchTemplate" not in res.inputs and meta.get("httpTokens") != "required":
            yield res.urn, "instance without a launch template does not require IMDSv2"


def _ebs_encrypted_with_cmk(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type(LAUNCH_TEMPLATE):
        for mapping in res.inputs.get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs") or {}
            if str(ebs.get("encrypted")).lower() != "true" or not ebs.get("kmsKeyId"):
                yield res.urn, f"volume {mapping.get('deviceName')} not encrypted with a customer-managed key"
    for res in stack.of_type(INSTANCE):
        root = res.inputs.get("rootBlockDevice")
        if root is not None and (not root.get("encrypted") or not root.get("kmsKeyId")):
            yield res.urn, "root volume not encrypted with a customer-managed key"
    for res in stack.of_type("aws:ebs/volume:Volume"):
        if res.inputs.get("encrypted") is not True or not res.inputs.get("kmsKeyId"):
            yield res.urn, "volume not encrypted with a customer-managed key"


def _kms_rotation(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type("aws:kms/key:Key"):
        if res.inputs.get("enableKeyRotation") is not True:
            yield res.urn, "key rotation is off"


def _fsx_encrypted_with_cmk(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type("aws:fsx/lustreFileSystem:LustreFileSystem"):
        if not res.inputs.get("kmsKeyId"):
            yield res.urn, "file system not encrypted with a customer-managed key"


def _bucket_rule(
    type_: str, ok: Callable[[RecordedResource], bool], message: str
) -> Callable[[Stack], Iterator[Finding]]:
    """A rule that every bucket needs a resource of ``type_`` attached to it for which ``ok`` holds."""

    def check(stack: Stack) -> Iterator[Finding]:
        for bucket in stack.of_type(BUCKET):
            if not any(ok(r) for r in _linked(stack, type_, "bucket", bucket)):
                yield bucket.urn, message

    return check


def _sse_with_cmk(res: RecordedResource) -> bool:
    return any(
        (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") == "aws:kms"
        and (rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
        for rule in res.inputs.get("rules") or []
    )


def _blocks_public(res: RecordedResource) -> bool:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return all(res.inputs.get(f) is True for f in flags)


def _denies_insecure_transport(res: RecordedResource) -> bool:
    if res.inputs.get("policy") == UNKNOWN:
        return True  # judged at `pulumi up`
    return any(
        s.get("Effect") == "Deny"
        and ((s.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport") in ("false", False)
        for s in _statements(res.inputs.get("policy"))
    )


def _versioned(res: RecordedResource) -> bool:
    return (res.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"


def _flow_logs_on_every_vpc(stack: Stack) -> Iterator[Finding]:
    for vpc in stack.of_type("aws:ec2/vpc:Vpc"):
        if not _linked(stack, "aws:ec2/flowLog:FlowLog", "vpcId", vpc):
            yield vpc.urn, "no flow log on this VPC"


def _no_public_ips(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type("aws:ec2/subnet:Subnet"):
        if res.inputs.get("mapPublicIpOnLaunch") is True:
            yield res.urn, "subnet maps public IPs on launch"
    for res in stack.of_type(LAUNCH_TEMPLATE):
        for nic in res.inputs.get("networkInterfaces") or []:
            if str(nic.get("associatePublicIpAddress")).lower() == "true":
                yield res.urn, f"interface on card {nic.get('networkCardIndex')} gets a public IP"
    for res in stack.of_type(INSTANCE):
        if res.inputs.get("associatePublicIpAddress") is True:
            yield res.urn, "instance gets a public IP"


def _no_admin_wildcard(stack: Stack) -> Iterator[Finding]:
    for res in stack.resources:
        for document in _policy_documents(res):
            for statement in _statements(document):
                actions = _as_list(statement.get("Action"))
                targets = _as_list(statement.get("Resource"))
                if statement.get("Effect") == "Allow" and "*" in actions and "*" in targets:
                    yield res.urn, "a statement allows * on *"


# --- tenant rules -----------------------------------------------------------------------------------


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


def _no_cross_network(stack: Stack) -> Iterator[Finding]:
    for res in stack.resources:
        if res.type.startswith(CROSS_NETWORK_TYPES):
            yield res.urn, f"{res.type} connects the tenant to another network"
    for res in stack.of_type("aws:ec2/route:Route"):
        for target in CROSS_NETWORK_ROUTE_TARGETS:
            if res.inputs.get(target):
                yield res.urn, f"route through {target}={res.inputs[target]} leaves the tenant's network"
    for res in stack.of_type("aws:ec2/routeTable:RouteTable"):
        for route in res.inputs.get("routes") or []:
            for target in CROSS_NETWORK_ROUTE_TARGETS:
                if route.get(target):
                    yield res.urn, f"inline route through {target} leaves the tenant's network"


def _own(stack: Stack, res: RecordedResource, prop: str, types: tuple[str, ...]) -> bool:
    """Whether ``res.prop`` refers to a resource of ``types`` registered by this very stack."""
    return any(links(res, prop, other) for other in stack.of_type(*types))


def _outside_tenant(cidr: Any, *, egress: bool, tenant: TenantConfig) -> bool:
    """Whether a security-group rule naming ``cidr`` reaches outside the tenant's VPC.

    Egress to the whole internet is the exception where the tenant has NAT egress (DESIGN.md, Egress);
    a value that is not a CIDR (unknown during a preview) cannot be judged and passes."""
    net = _network(cidr)
    if net is None or (egress and tenant.egress == "nat" and str(net) in WORLD):
        return False
    return not (isinstance(net, ipaddress.IPv4Network) and net.subnet_of(tenant.cidr))


def _security_group_scope(stack: Stack) -> Iterator[Finding]:
    tenant = stack.tenant
    assert tenant is not None
    for res in stack.of_type(INGRESS_RULE, EGRESS_RULE):
        egress = res.type == EGRESS_RULE
        direction = "egress to" if egress else "ingress from"
        for prop in ("cidrIpv4", "cidrIpv6"):
            value = res.inputs.get(prop)
            if _outside_tenant(value, egress=egress, tenant=tenant):
                yield res.urn, f"{direction} {value}, outside the tenant's {tenant.cidr}"
        group = res.inputs.get("referencedSecurityGroupId")
        if group and not _own(stack, res, "referencedSecurityGroupId", SECURITY_GROUP_TYPES):
            yield res.urn, f"{direction} security group {group}, which this tenant stack does not own"
        prefix_list = res.inputs.get("prefixListId")
        if prefix_list and not _own(stack, res, "prefixListId", ("aws:ec2/vpcEndpoint:VpcEndpoint",)):
            yield res.urn, f"{direction} prefix list {prefix_list}, not one of this stack's VPC endpoints"
    for res in stack.of_type(*SECURITY_GROUP_TYPES):
        for key in ("ingress", "egress"):
            for rule in res.inputs.get(key) or []:
                for cidr in [*rule.get("cidrBlocks", []), *rule.get("ipv6CidrBlocks", [])]:
                    if _outside_tenant(cidr, egress=key == "egress", tenant=tenant):
                        yield res.urn, f"inline {key} names {cidr}, outside the tenant's {tenant.cidr}"


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


# --- accounts, shares, sessions, IAM -----------------------------------------------------------------


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
        if res.type in IN_OUR_ACCOUNT:
            if provider is not None:
                yield res.urn, f"{res.type} belongs in our account, but goes through provider {res.provider}"
            continue
        if provider is None:
            yield res.urn, "created in our account (default provider), not in the tenant's account"
        elif provider_account(provider) is None:
            yield res.urn, f"provider {provider.urn} does not pin the one account it may act in (allowedAccountIds)"


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


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    service = action.split(":", 1)[0]
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    return statement.get("Effect") == "Allow" and any(a in (action, f"{service}:*", "*") for a in actions)


def _sessions_scoped(stack: Stack) -> Iterator[Finding]:
    for res in stack.resources:
        for document in _policy_documents(res):
            for statement in _statements(document):
                for action in SESSION_ACTIONS:
                    if _allows(statement, action) and "*" in _as_list(statement.get("Resource")):
                        yield res.urn, f"{action} on *: resumes or ends anyone's session; scope it to the caller's own"


def _trusts_ec2(role: RecordedResource) -> bool:
    for statement in _statements(role.inputs.get("assumeRolePolicy")):
        principal = statement.get("Principal") or {}
        services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        if "ec2.amazonaws.com" in services:
            return True
    return False


def _no_managed_policy_on_nodes(stack: Stack) -> Iterator[Finding]:
    for role in stack.of_type("aws:iam/role:Role"):
        if not _trusts_ec2(role):
            continue
        for arn in _as_list(role.inputs.get("managedPolicyArns")):
            if str(arn).startswith(AWS_MANAGED_POLICY):
                yield role.urn, f"node role carries the AWS managed policy {arn}"
        for attachment in _linked(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role", role):
            arn = str(attachment.inputs.get("policyArn", ""))
            if arn.startswith(AWS_MANAGED_POLICY):
                yield attachment.urn, f"node role carries the AWS managed policy {arn}"


def _gateway_endpoints_carry_a_policy(stack: Stack) -> Iterator[Finding]:
    """A gateway endpoint's default policy admits every bucket in the region, an attacker's included."""
    for res in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        if res.inputs.get("vpcEndpointType") != "Gateway":
            continue
        policy = res.inputs.get("policy")
        if not policy:
            yield res.urn, "a gateway endpoint without a policy admits every bucket in the region"
            continue
        for statement in _statements(policy):
            if (
                statement.get("Effect") == "Allow"
                and "*" in _as_list(statement.get("Resource"))
                and not statement.get("Condition")
            ):
                yield res.urn, "its policy allows every resource with no condition: any bucket, anyone's"


LOG_SERVICES = ("delivery.logs.amazonaws.com", "cloudtrail.amazonaws.com")
SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid")


def _log_services_name_their_source(stack: Stack) -> Iterator[Finding]:
    """Log delivery into our buckets and keys only on behalf of our own trail, accounts or organization
    (the confused-deputy guard AWS documents for service principals)."""
    for res in stack.resources:
        if res.type not in ("aws:s3/bucketPolicy:BucketPolicy", "aws:kms/key:Key"):
            continue
        for statement in _statements(res.inputs.get("policy")):
            principal = statement.get("Principal")
            services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
            service = next((s for s in services if s in LOG_SERVICES), None)
            if statement.get("Effect") != "Allow" or service is None:
                continue
            keys = {k.lower() for cond in (statement.get("Condition") or {}).values() for k in cond}
            if not keys & set(SOURCE_KEYS):
                yield res.urn, f"{service} is admitted without aws:SourceArn, aws:SourceAccount or aws:SourceOrgID"


def _no_placement_group_with_a_block(stack: Stack) -> Iterator[Finding]:
    """Capacity Blocks are co-located already; a placement group beside one is refused (ParallelCluster) or
    moot, and a cluster group in the template can keep the block's instances from launching."""
    for res in stack.of_type(LAUNCH_TEMPLATE):
        market = (res.inputs.get("instanceMarketOptions") or {}).get("marketType")
        placement = res.inputs.get("placement") or {}
        if market == "capacity-block" and (placement.get("groupId") or placement.get("groupName")):
            yield res.urn, "a Capacity Block's launch template names a placement group"


FLOATING_VERSIONS = ("$Default", "$Latest")


def _instances_pin_a_template_version(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type(INSTANCE):
        template = res.inputs.get("launchTemplate")
        if isinstance(template, Mapping) and str(template.get("version", "$Default")) in FLOATING_VERSIONS:
            version = template.get("version", "$Default (unset)")
            yield res.urn, f"launch template version {version}: a template change would replace it unannounced"


def _fsx_waits_for_its_rules(stack: Stack) -> Iterator[Finding]:
    """FSx checks at creation that its groups admit LNet: it must wait for every rule of its groups."""
    rules = list(stack.of_type(INGRESS_RULE, EGRESS_RULE))
    for fs in stack.of_type(FSX_LUSTRE):
        groups = [g for g in stack.of_type(*SECURITY_GROUP_TYPES) if links(fs, "securityGroupIds", g)]
        waits = set(fs.dependencies)
        for rule in rules:
            if any(links(rule, "securityGroupId", g) for g in groups) and rule.urn not in waits:
                yield fs.urn, f"created without waiting for {rule.urn}: FSx may find LNet (TCP 988) not yet allowed"


def _iam_lint(stack: Stack) -> Iterator[Finding]:
    """Every IAM document, as parliament reads it: unknown actions, conditions and malformed ARNs fail."""
    for res in stack.resources:
        trust = res.inputs.get("assumeRolePolicy")
        for document in _policy_documents(res):
            text = document if isinstance(document, str) else json.dumps(document)
            if UNKNOWN in text:
                continue  # judged once `pulumi up` knows every value
            for issue, detail in lint_policy(text):
                if document is trust and detail == TRUST_POLICY_HAS_NO_RESOURCE:
                    continue  # a role's trust policy names who may assume it, never a Resource (IAM User Guide)
                yield res.urn, f"{issue}: {detail}"


@cache
def lint_policy(text: str) -> tuple[tuple[str, str], ...]:
    """parliament's findings on one policy document, less advice (wildcards, which our rules judge) and the
    documented global condition keys parliament does not know yet."""
    from parliament import analyze_policy_string  # slow to import: only when a plan holds IAM documents

    findings = []
    for finding in analyze_policy_string(text).findings:
        if finding.issue in IAM_LINT_ADVICE:
            continue
        detail = str(finding.detail)
        if finding.issue == "UNKNOWN_CONDITION_FOR_ACTION" and any(
            key in detail.lower() for key in IAM_LINT_KNOWN_GLOBAL_KEYS
        ):
            continue
        findings.append((finding.issue, detail))
    return tuple(findings)


RULES: tuple[Rule, ...] = (
    Rule("no-world-ingress", "No security-group ingress from 0.0.0.0/0 or ::/0.", _no_world_ingress),
    Rule("imdsv2-required", f"IMDSv2 required, hop limit at most {MAX_IMDS_HOPS}.", _imdsv2_required),
    Rule("ebs-encrypted-cmk", "EBS volumes encrypted with a customer-managed KMS key.", _ebs_encrypted_with_cmk),
    Rule("kms-rotation", "Customer-managed KMS keys rotate.", _kms_rotation),
    Rule("fsx-encrypted-cmk", "FSx for Lustre encrypted with a customer-managed KMS key.", _fsx_encrypted_with_cmk),
    Rule(
        "s3-encrypted-cmk",
        "S3 buckets encrypt by default with a customer-managed KMS key.",
        _bucket_rule(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            _sse_with_cmk,
            "no default encryption with a customer-managed key",
        ),
    ),
    Rule(
        "s3-public-access-blocked",
        "S3 buckets block public access on all four settings.",
        _bucket_rule(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            _blocks_public,
            "public access is not blocked on all four settings",
        ),
    ),
    Rule(
        "s3-tls-only",
        "S3 bucket policies deny requests without TLS.",
        _bucket_rule(
            "aws:s3/bucketPolicy:BucketPolicy",
            _denies_insecure_transport,
            "no bucket policy denying requests without TLS",
        ),
    ),
    Rule(
        "s3-versioning",
        "S3 buckets keep versions.",
        _bucket_rule("aws:s3/bucketVersioning:BucketVersioning", _versioned, "versioning is not enabled"),
    ),
    Rule("vpc-flow-logs", "Every VPC has a flow log.", _flow_logs_on_every_vpc),
    Rule("no-public-ip", "No public IP on GPU nodes; no subnet maps public IPs.", _no_public_ips),
    Rule("no-admin-wildcard", "No IAM statement allows * actions on * resources.", _no_admin_wildcard),
    Rule(
        "tenant-tag",
        f"Every taggable resource of a tenant stack carries {t.TENANT}.",
        _tenant_tag_everywhere,
        tenant_only=True,
    ),
    Rule(
        "tenant-isolation",
        "No peering, transit gateway, VPN or route that joins a tenant to another network.",
        _no_cross_network,
        tenant_only=True,
    ),
    Rule(
        "tenant-sg-scope",
        "Security-group rules name only the tenant's own CIDR, groups and endpoints (egress to 0.0.0.0/0 with NAT).",
        _security_group_scope,
        tenant_only=True,
    ),
    Rule(
        "tenant-foreign-data",
        "Policies name no key or bucket but the tenant's own and its region's.",
        _no_foreign_data,
        tenant_only=True,
    ),
    Rule(
        "tenant-account-provider",
        "Everything of a tenant is created in its own account (a provider pinned to it), but the capacity share.",
        _through_tenant_provider,
        tenant_or_account=True,
    ),
    Rule(
        "share-one-account",
        "RAM shares admit no external principal and name one account id, never an OU or the organization.",
        _shares_stay_with_one_account,
    ),
    Rule(
        "share-carve-only",
        "A tenant shares its own carve or block, never the region's reservation; no reservation is shared twice.",
        _region_capacity_never_shared,
        tenant_only=True,
    ),
    Rule(
        "session-scope",
        "No IAM statement allows ssm:ResumeSession or ssm:TerminateSession on *.",
        _sessions_scoped,
    ),
    Rule(
        "node-role-no-managed-policy",
        "No AWS managed policy on a role EC2 instances assume.",
        _no_managed_policy_on_nodes,
    ),
    Rule(
        "fsx-waits-for-rules",
        "An FSx for Lustre file system depends on every rule of its security groups (FSx checks LNet at creation).",
        _fsx_waits_for_its_rules,
    ),
    Rule(
        "gateway-endpoint-policy",
        "Gateway endpoints carry a policy that names what they admit (no bare * on *).",
        _gateway_endpoints_carry_a_policy,
    ),
    Rule(
        "log-delivery-source",
        "Bucket and key policies admit log services only with aws:SourceArn, aws:SourceAccount or aws:SourceOrgID.",
        _log_services_name_their_source,
    ),
    Rule(
        "block-without-placement-group",
        "A launch template for a Capacity Block names no placement group.",
        _no_placement_group_with_a_block,
    ),
    Rule(
        "template-version-pinned",
        "Instances name a concrete launch-template version, never $Default or $Latest.",
        _instances_pin_a_template_version,
    ),
    Rule(
        "iam-lint",
        "Every IAM document passes parliament: known actions, conditions and resource formats.",
        _iam_lint,
    ),
)


def rules_for(config: StackConfig) -> list[Rule]:
    """The rules that apply to a stack of this kind (tenant rules only to tenant stacks)."""
    return [rule for rule in RULES if rule.applies_to(config)]


def evaluate(
    resources: list[RecordedResource], config: StackConfig, region_exports: Mapping[str, Any] | None = None
) -> list[Violation]:
    stack = Stack(resources=resources, config=config, region_exports=region_exports or {})
    return [Violation(rule.name, urn, message) for rule in rules_for(config) for urn, message in rule.check(stack)]


__all__ = ["RULES", "Rule", "Stack", "Violation", "evaluate", "links", "provider_account", "rules_for"]
