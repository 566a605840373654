"""Isolation and security rules over what a stack program registers (the offline plan's resources).

Each rule is a function from the plan's resources (and the stack's config) to violations; a rule
names itself, the URN it found and what is wrong. ``gpucloud plan`` lists them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gpucloud import tags as t
from gpucloud.config import StackConfig, TenantConfig
from gpucloud.plan.mocks import RecordedResource

WORLD = ("0.0.0.0/0", "::/0")
MAX_IMDS_HOPS = 2
# Types this toolkit creates that accept tags (aws provider schema); each must carry the tenant tag.
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
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/instance:Instance",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:ec2/placementGroup:PlacementGroup",
        "aws:ec2/capacityReservation:CapacityReservation",
    }
)
CROSS_VPC_TYPES = ("aws:ec2/vpcPeeringConnection:", "aws:ec2transitgateway/", "aws:ec2/vpcPeeringConnectionAccepter:")


@dataclass(frozen=True)
class Violation:
    rule: str
    urn: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "urn": self.urn, "message": self.message}


Rule = Callable[[list[RecordedResource], StackConfig], Iterator[Violation]]


def _of_type(resources: list[RecordedResource], type_: str) -> Iterator[RecordedResource]:
    return (r for r in resources if r.type == type_)


def _by_input(resources: list[RecordedResource], type_: str, key: str) -> dict[str, list[RecordedResource]]:
    found: dict[str, list[RecordedResource]] = {}
    for res in _of_type(resources, type_):
        found.setdefault(str(res.inputs.get(key)), []).append(res)
    return found


def no_world_ingress(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in _of_type(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        cidr = res.inputs.get("cidrIpv4") or res.inputs.get("cidrIpv6")
        if cidr in WORLD:
            yield Violation("no-world-ingress", res.urn, f"ingress from {cidr}")
    for res in _of_type(resources, "aws:ec2/securityGroup:SecurityGroup"):
        for rule in res.inputs.get("ingress", []):
            for cidr in [*rule.get("cidrBlocks", []), *rule.get("ipv6CidrBlocks", [])]:
                if cidr in WORLD:
                    yield Violation("no-world-ingress", res.urn, f"inline ingress from {cidr}")


def imdsv2_required(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in _of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate"):
        meta = res.inputs.get("metadataOptions", {})
        if meta.get("httpTokens") != "required":
            yield Violation(
                "imdsv2-required", res.urn, f"metadataOptions.httpTokens={meta.get('httpTokens')!r}, want 'required'"
            )
        hops = meta.get("httpPutResponseHopLimit")
        if hops is None or int(hops) > MAX_IMDS_HOPS:
            yield Violation("imdsv2-required", res.urn, f"httpPutResponseHopLimit={hops!r}, want <= {MAX_IMDS_HOPS}")
    for res in _of_type(resources, "aws:ec2/instance:Instance"):
        if "launchTemplate" not in res.inputs and res.inputs.get("metadataOptions", {}).get("httpTokens") != "required":
            yield Violation("imdsv2-required", res.urn, "instance without a launch template does not require IMDSv2")


def ebs_encrypted_with_cmk(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in _of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate"):
        for mapping in res.inputs.get("blockDeviceMappings", []):
            ebs = mapping.get("ebs", {})
            if str(ebs.get("encrypted")).lower() != "true" or not ebs.get("kmsKeyId"):
                yield Violation(
                    "ebs-encrypted-cmk",
                    res.urn,
                    f"volume {mapping.get('deviceName')} not encrypted with a customer-managed key",
                )
    for res in _of_type(resources, "aws:ec2/instance:Instance"):
        root = res.inputs.get("rootBlockDevice")
        if root is not None and (not root.get("encrypted") or not root.get("kmsKeyId")):
            yield Violation("ebs-encrypted-cmk", res.urn, "root volume not encrypted with a customer-managed key")


def kms_rotation(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in _of_type(resources, "aws:kms/key:Key"):
        if res.inputs.get("enableKeyRotation") is not True:
            yield Violation("kms-rotation", res.urn, "key rotation is off")


def fsx_encrypted_with_cmk(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in _of_type(resources, "aws:fsx/lustreFileSystem:LustreFileSystem"):
        if not res.inputs.get("kmsKeyId"):
            yield Violation("fsx-encrypted-cmk", res.urn, "file system not encrypted with a customer-managed key")


def bucket_hardening(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    sse = _by_input(
        resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "bucket"
    )
    blocks = _by_input(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "bucket")
    policies = _by_input(resources, "aws:s3/bucketPolicy:BucketPolicy", "bucket")
    versioning = _by_input(resources, "aws:s3/bucketVersioning:BucketVersioning", "bucket")
    for bucket in _of_type(resources, "aws:s3/bucket:Bucket"):
        rules = [rule for cfg in sse.get(bucket.id, []) for rule in cfg.inputs.get("rules", [])]
        if not any(
            r.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm") == "aws:kms"
            and r.get("applyServerSideEncryptionByDefault", {}).get("kmsMasterKeyId")
            for r in rules
        ):
            yield Violation("s3-encrypted-cmk", bucket.urn, "no default encryption with a customer-managed key")
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(b.inputs.get(f) is True for f in flags) for b in blocks.get(bucket.id, [])):
            yield Violation("s3-public-access-blocked", bucket.urn, "public access is not blocked on all four settings")
        if not any(_denies_insecure_transport(p.inputs.get("policy")) for p in policies.get(bucket.id, [])):
            yield Violation("s3-tls-only", bucket.urn, "no bucket policy denying requests without TLS")
        if not any(
            v.inputs.get("versioningConfiguration", {}).get("status") == "Enabled"
            for v in versioning.get(bucket.id, [])
        ):
            yield Violation("s3-versioning", bucket.urn, "versioning is not enabled")


def _statements(policy: Any) -> list[dict[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, dict):
        return []
    statements = policy.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _denies_insecure_transport(policy: Any) -> bool:
    return any(
        s.get("Effect") == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        for s in _statements(policy)
    )


def flow_logs_on_every_vpc(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    logged = _by_input(resources, "aws:ec2/flowLog:FlowLog", "vpcId")
    for vpc in _of_type(resources, "aws:ec2/vpc:Vpc"):
        if vpc.id not in logged:
            yield Violation("vpc-flow-logs", vpc.urn, "no flow log on this VPC")


def no_public_ips(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in _of_type(resources, "aws:ec2/subnet:Subnet"):
        if res.inputs.get("mapPublicIpOnLaunch") is True:
            yield Violation("no-public-ip", res.urn, "subnet maps public IPs on launch")
    for res in _of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate"):
        for nic in res.inputs.get("networkInterfaces", []):
            if str(nic.get("associatePublicIpAddress")).lower() == "true":
                yield Violation(
                    "no-public-ip", res.urn, f"interface on card {nic.get('networkCardIndex')} gets a public IP"
                )
    for res in _of_type(resources, "aws:ec2/instance:Instance"):
        if res.inputs.get("associatePublicIpAddress") is True:
            yield Violation("no-public-ip", res.urn, "instance gets a public IP")


def no_admin_wildcard(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    for res in resources:
        if not res.type.startswith("aws:iam/"):
            continue
        for key in ("policy", "inlinePolicies"):
            for statement in _statements(res.inputs.get(key)):
                actions = statement.get("Action", [])
                targets = statement.get("Resource", [])
                actions = [actions] if isinstance(actions, str) else actions
                targets = [targets] if isinstance(targets, str) else targets
                if statement.get("Effect") == "Allow" and "*" in actions and "*" in targets:
                    yield Violation("no-admin-wildcard", res.urn, "a statement allows * on *")


def tenant_tag_everywhere(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    if not isinstance(config, TenantConfig):
        return
    for res in resources:
        if res.type in TAGGABLE and res.inputs.get("tags", {}).get(t.TENANT) != config.tenant:
            yield Violation("tenant-tag", res.urn, f"tag {t.TENANT}={config.tenant} missing")


def tenant_isolation(resources: list[RecordedResource], config: StackConfig) -> Iterator[Violation]:
    if not isinstance(config, TenantConfig):
        return
    for res in resources:
        if res.type.startswith(CROSS_VPC_TYPES):
            yield Violation("tenant-isolation", res.urn, f"{res.type} connects the tenant to another network")
    for res in _of_type(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        cidr = res.inputs.get("cidrIpv4")
        if cidr and not ipaddress.IPv4Network(cidr, strict=False).subnet_of(config.cidr):
            yield Violation("tenant-isolation", res.urn, f"ingress from {cidr}, outside the tenant's {config.cidr}")


RULES: tuple[Rule, ...] = (
    no_world_ingress,
    imdsv2_required,
    ebs_encrypted_with_cmk,
    kms_rotation,
    fsx_encrypted_with_cmk,
    bucket_hardening,
    flow_logs_on_every_vpc,
    no_public_ips,
    no_admin_wildcard,
    tenant_tag_everywhere,
    tenant_isolation,
)


def evaluate(resources: list[RecordedResource], config: StackConfig) -> list[Violation]:
    return [v for rule in RULES for v in rule(resources, config)]


__all__ = ["RULES", "Violation", "evaluate"]
