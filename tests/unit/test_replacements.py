"""A launch-template change, as a preview's engine events report it, becomes node replacements a batch at a time."""

from __future__ import annotations

from pulumi.automation.events import EngineEvent, OpType, ResourcePreEvent, StepEventMetadata

from gpucloud.rollout.replacements import INSTANCE, LAUNCH_TEMPLATE, from_preview_events

STACK = "urn:pulumi:tenant-acme-us-east-1::gpucloud::"


def step(op: OpType, type_: str, name: str) -> EngineEvent:
    meta = StepEventMetadata(op=op, urn=f"{STACK}{type_}::{name}", type=type_, provider="")
    return EngineEvent(sequence=0, timestamp=0, resource_pre_event=ResourcePreEvent(metadata=meta))


def test_a_template_change_replaces_nodes_one_at_a_time_after_the_template() -> None:
    events = [
        step(OpType.UPDATE, LAUNCH_TEMPLATE, "nodes-template"),
        *(step(OpType.REPLACE, INSTANCE, f"nodes-{i}") for i in (2, 0, 1)),
        step(OpType.SAME, "aws:ec2/vpc:Vpc", "vpc"),
        EngineEvent(sequence=1, timestamp=0),  # events of other kinds carry no step
    ]
    plan = from_preview_events(events)
    assert [t.rsplit("::", 1)[1] for t in plan.templates] == ["nodes-template"]
    assert [[u.rsplit("::", 1)[1] for u in targets] for targets in plan.steps()] == [
        ["nodes-template"],
        ["nodes-0"],
        ["nodes-1"],
        ["nodes-2"],
    ]
    assert len(plan.steps(batch=2)) == 3  # the template, then two batches of nodes


def test_no_replacement_means_one_plain_up() -> None:
    events = [step(OpType.UPDATE, LAUNCH_TEMPLATE, "t"), step(OpType.UPDATE, INSTANCE, "nodes-0")]
    assert from_preview_events(events).steps() == []  # an in-place update is no replacement
