"""TenantNetwork: a tenant's own VPC, private subnets only, reachable through SSM, never from the internet.

No peering, no transit gateway, no route to another tenant. The node security group allows all
traffic only inside itself (EFA and NCCL need it); nothing enters from 0.0.0.0/0 or ::/0. With
``egress="nat"`` a NAT gateway (in a subnet that never maps public IPs) gives nodes a way out. With
``egress="none"`` the nodes reach AWS through interface endpoints (data/egress.yaml), S3 through a gateway
endpoint whose policy admits the tenant's own buckets and our package mirror only, and DNS answers AWS
names only (Route 53 Resolver DNS Firewall), so neither S3 nor DNS is a way to carry data out.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.components.group_rules import Group, allow_between
from gpucloud.egress import load_egress, s3_endpoint_policy

HTTPS = 443


@dataclass(frozen=True, kw_only=True)
class TenantNetworkArgs:
    region: str
    cidr: ipaddress.IPv4Network
    az_id: str
    egress: str  # "nat" or "none"
    flow_log_destination: pulumi.Input[str]  # the tenant's audit bucket of the region (in our log-archive account)
    account_id: pulumi.Input[str]  # the tenant's account: the only owner of buckets the S3 endpoint admits
    mirror_bucket_arn: pulumi.Input[str]  # our package mirror, which the S3 endpoint admits read-only
    tags: Mapping[str, str]
    cluster: bool = False  # a Slurm cluster: its nodes also call Secrets Manager (the MUNGE key)


def subnet_plan(cidr: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """(private nodes subnet, NAT subnet): the lower half for nodes, the last /28 for the NAT gateway."""
    private = next(cidr.subnets(prefixlen_diff=1))
    nat = list(cidr.subnets(new_prefix=28))[-1]
    return private, nat


class TenantNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_id: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: TenantNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:TenantNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = t.with_role(args.tags, "network")
        private_cidr, nat_cidr = subnet_plan(args.cidr)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**tags, "Name": name},
            opts=child,
        )
        # The default security group of a VPC allows all traffic between its members: empty it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags=tags, opts=child)
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="s3",
            log_destination=args.flow_log_destination,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
        private = aws.ec2.Subnet(
            f"{name}-private",
            vpc_id=vpc.id,
            cidr_block=str(private_cidr),
            availability_zone_id=args.az_id,
            map_public_ip_on_launch=False,
            tags={**tags, "Name": f"{name}-private"},
            opts=child,
        )
        private_routes = aws.ec2.RouteTable(f"{name}-private-routes", vpc_id=vpc.id, tags=tags, opts=child)
        aws.ec2.RouteTableAssociation(
            f"{name}-private-routes", subnet_id=private.id, route_table_id=private_routes.id, opts=child
        )
        if args.egress == "nat":
            self._nat_egress(name, vpc, private_routes, nat_cidr, args.az_id, tags)

        nodes = aws.ec2.SecurityGroup(
            f"{name}-nodes",
            vpc_id=vpc.id,
            description="GPU nodes: all traffic only among themselves (EFA, NCCL)",
            tags={**tags, "Name": f"{name}-nodes"},
            opts=child,
        )
        node_group = Group(id=nodes.id, label="nodes")
        allow_between(
            name,
            source=node_group,
            target=node_group,
            protocol="-1",
            description="EFA and NCCL among nodes",
            tags=tags,
            opts=child,
        )
        endpoints = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="SSM interface endpoints: HTTPS from the nodes only",
            tags={**tags, "Name": f"{name}-endpoints"},
            opts=child,
        )
        allow_between(
            name,
            source=node_group,
            target=Group(id=endpoints.id, label="endpoints"),
            protocol="tcp",
            ports=(HTTPS, HTTPS),
            tags=tags,
            opts=child,
        )
        if args.egress == "nat":
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-nodes-out-internet",
                security_group_id=nodes.id,
                ip_protocol="-1",
                cidr_ipv4="0.0.0.0/0",
                description="egress through the tenant's NAT gateway",
                tags=tags,
                opts=child,
            )
        facts = load_egress()
        for service in facts.interface_endpoints(args.egress, cluster=args.cluster):
            aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[private.id],
                security_group_ids=[endpoints.id],
                tags=tags,
                opts=child,
            )
        # S3 through a gateway endpoint (free): the tenant's own buckets and the region's package mirror, and no
        # other bucket (the default endpoint policy would admit any, an attacker's included).
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[private_routes.id],
            policy=pulumi.Output.all(args.account_id, args.mirror_bucket_arn).apply(
                lambda v: json.dumps(s3_endpoint_policy(v[0], v[1]), sort_keys=True)
            ),
            tags=tags,
            opts=child,
        )
        s3_prefix_list = aws.ec2.get_prefix_list_output(
            prefix_list_id=s3_endpoint.prefix_list_id, opts=pulumi.InvokeOutputOptions(parent=self)
        ).id
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-nodes-out-s3",
            security_group_id=nodes.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            prefix_list_id=s3_prefix_list,
            description="S3 through the gateway endpoint",
            tags=tags,
            opts=child,
        )

        if args.egress == "none":
            self._dns_firewall(name, vpc, tags)

        self.vpc_id = vpc.id
        self.private_subnet_id = private.id
        self.node_security_group_id = nodes.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_id": self.private_subnet_id,
                "node_security_group_id": self.node_security_group_id,
            }
        )

    def _dns_firewall(self, name: str, vpc: aws.ec2.Vpc, tags: Mapping[str, str]) -> None:
        """With no NAT, DNS is the last way out: answer AWS service names only, NXDOMAIN to everything else."""
        child = pulumi.ResourceOptions(parent=self)
        facts = load_egress()
        group = aws.route53.ResolverFirewallRuleGroup(f"{name}-dns", name=f"{name}-dns", tags=dict(tags), opts=child)
        for priority, (kind, domains, action) in enumerate(
            (("aws", facts.dns_allowed_domains, "ALLOW"), ("all", facts.dns_blocked_domains, "BLOCK")), start=1
        ):
            listed = aws.route53.ResolverFirewallDomainList(
                f"{name}-dns-{kind}", name=f"{name}-dns-{kind}", domains=list(domains), tags=dict(tags), opts=child
            )
            aws.route53.ResolverFirewallRule(
                f"{name}-dns-{kind}",
                name=f"{name}-dns-{kind}",
                action=action,
                block_response="NXDOMAIN" if action == "BLOCK" else None,
                firewall_domain_list_id=listed.id,
                firewall_rule_group_id=group.id,
                priority=priority * 100,
                opts=child,
            )
        aws.route53.ResolverFirewallRuleGroupAssociation(
            f"{name}-dns",
            name=f"{name}-dns",
            firewall_rule_group_id=group.id,
            vpc_id=vpc.id,
            priority=facts.dns_association_priority,
            mutation_protection="ENABLED",
            tags=dict(tags),
            opts=child,
        )
        aws.route53.ResolverFirewallConfig(
            f"{name}-dns", resource_id=vpc.id, firewall_fail_open=facts.dns_fail_open, opts=child
        )

    def _nat_egress(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        private_routes: aws.ec2.RouteTable,
        nat_cidr: ipaddress.IPv4Network,
        az_id: str,
        tags: Mapping[str, str],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=dict(tags), opts=child)
        # The NAT subnet holds only the NAT gateway; it never hands out public IPs itself.
        nat_subnet = aws.ec2.Subnet(
            f"{name}-nat",
            vpc_id=vpc.id,
            cidr_block=str(nat_cidr),
            availability_zone_id=az_id,
            map_public_ip_on_launch=False,
            tags={**tags, "Name": f"{name}-nat"},
            opts=child,
        )
        nat_routes = aws.ec2.RouteTable(f"{name}-nat-routes", vpc_id=vpc.id, tags=dict(tags), opts=child)
        aws.ec2.Route(
            f"{name}-nat-default",
            route_table_id=nat_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-nat-routes", subnet_id=nat_subnet.id, route_table_id=nat_routes.id, opts=child
        )
        address = aws.ec2.Eip(f"{name}-nat-ip", domain="vpc", tags=dict(tags), opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            subnet_id=nat_subnet.id,
            allocation_id=address.id,
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        aws.ec2.Route(
            f"{name}-private-default",
            route_table_id=private_routes.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=child,
        )
