"""Node replacements a ``pulumi up`` would make, rolled a batch at a time instead of all at once.

Each node pins a concrete launch-template version, so a template change shows in ``pulumi preview`` as a
planned replacement of every node. A rollout reads those steps from the preview's engine events and
applies them in order: the launch templates first (``pulumi up --target``), then the replaced nodes
``NODE_BATCH`` at a time, then everything else. A failed batch stops the stack with the other nodes
untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
REPLACING = frozenset({"replace", "create-replacement", "delete-replaced"})
CHANGING = REPLACING | {"update", "create"}
NODE_BATCH = 1  # nodes replaced per `pulumi up`: one at a time, so a tenant never loses its cluster at once


@dataclass(frozen=True)
class ReplacementPlan:
    templates: list[str] = field(default_factory=list)  # launch templates the preview changes
    nodes: list[str] = field(default_factory=list)  # instances the preview replaces

    def steps(self, batch: int = NODE_BATCH) -> list[list[str]]:
        """The ``--target`` lists to run before the final untargeted ``pulumi up``: templates, then nodes."""
        if not self.nodes:
            return []
        head = [list(self.templates)] if self.templates else []
        return head + [self.nodes[i : i + batch] for i in range(0, len(self.nodes), batch)]


def from_preview_events(events: Iterable[Any]) -> ReplacementPlan:
    """The launch templates changed and the instances replaced, from the preview's engine events."""
    templates: dict[str, None] = {}
    nodes: dict[str, None] = {}
    for event in events:
        pre = getattr(event, "resource_pre_event", None)
        meta = getattr(pre, "metadata", None)
        if meta is None:
            continue
        op = getattr(meta.op, "value", meta.op)
        if meta.type == INSTANCE and op in REPLACING:
            nodes[meta.urn] = None
        elif meta.type == LAUNCH_TEMPLATE and op in CHANGING:
            templates[meta.urn] = None
    return ReplacementPlan(templates=list(templates), nodes=sorted(nodes))
