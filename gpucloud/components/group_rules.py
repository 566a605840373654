"""Security-group rules that let one group reach another: the ingress on the target and the egress on the source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class Group:
    """A security group and the word that names it in rule names (``nodes``, ``lustre``)."""

    id: pulumi.Input[str]
    label: str


def allow_between(
    prefix: str,
    *,
    source: Group,
    target: Group,
    protocol: str,
    ports: tuple[int, int] | None = None,
    description: str | None = None,
    suffix: str = "",
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """Allow ``source`` to reach ``target``: ``<prefix>-<target>-in-<source>`` and ``<prefix>-<source>-out-<target>``.

    A group that reaches itself is named ``self`` on the far side (``nodes-in-self``, ``nodes-out-self``).
    ``ports`` is (from, to), None for every port of ``protocol``; ``suffix`` ends both names (one rule per range).
    Returns both rules, for whatever must wait until the groups admit the traffic (FSx checks at creation).
    """
    same = source is target
    from_port, to_port = ports if ports else (None, None)
    # Every rule says why it exists (reviewers, and AWS's console, read the description).
    span = (
        "all ports"
        if ports is None
        else (f"port {from_port}" if from_port == to_port else f"ports {from_port}-{to_port}")
    )
    description = description or f"{source.label} to {target.label}, {protocol} {span}"
    ingress = aws.vpc.SecurityGroupIngressRule(
        f"{prefix}-{target.label}-in-{'self' if same else source.label}{suffix}",
        security_group_id=target.id,
        ip_protocol=protocol,
        referenced_security_group_id=source.id,
        description=description,
        tags=dict(tags),
        opts=opts,
        from_port=from_port,
        to_port=to_port,
    )
    egress = aws.vpc.SecurityGroupEgressRule(
        f"{prefix}-{source.label}-out-{'self' if same else target.label}{suffix}",
        security_group_id=source.id,
        ip_protocol=protocol,
        referenced_security_group_id=target.id,
        description=description,
        tags=dict(tags),
        opts=opts,
        from_port=from_port,
        to_port=to_port,
    )
    return [ingress, egress]
