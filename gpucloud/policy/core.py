"""What every rule family shares: the shape of a rule and a finding, the stack a rule sees, how resources
link, and readers of policy documents and values as the engine hands them over."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpucloud.config import AccountConfig, StackConfig, TenantConfig
from gpucloud.plan.mocks import RecordedResource

WORLD = ("0.0.0.0/0", "::/0")


# A value the engine does not know yet (during a preview, under CrossGuard). A rule that cannot judge
# it passes it; `pulumi up` runs the rules again once every value is known.
UNKNOWN = "<unknown until pulumi up>"


INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


SECURITY_GROUP_TYPES = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


INSTANCE = "aws:ec2/instance:Instance"


FSX_LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"


BUCKET = "aws:s3/bucket:Bucket"


# Properties that hold an IAM policy document, per resource type prefix.
POLICY_PROPERTIES = ("policy", "inlinePolicies", "assumeRolePolicy", "content")


PROVIDER_PREFIX = "pulumi:providers:"


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
