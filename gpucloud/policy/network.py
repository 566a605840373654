"""Network rules: who can reach a node, and what a tenant's network joins."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from gpucloud.config import TenantConfig
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy.core import (
    EGRESS_RULE,
    INGRESS_RULE,
    INSTANCE,
    LAUNCH_TEMPLATE,
    SECURITY_GROUP_TYPES,
    WORLD,
    Finding,
    Stack,
    _as_list,
    _linked,
    _network,
    _statements,
    links,
)


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
