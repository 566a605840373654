"""The rules of ``gpucloud.policy`` as a Pulumi CrossGuard policy pack (``policy/`` runs it).

Each rule becomes one stack-validation policy, so ``pulumi preview --policy-pack policy/`` reports the
same rule names, URNs and messages as ``gpucloud policy check``. The pack reads the stack's own config
(Pulumi hands it to the pack as to the program), so tenant rules know the tenant's CIDR and egress.

During a preview some values are not known yet (an ARN AWS has not assigned). They reach the rules as
``UNKNOWN``; a rule that cannot judge an unknown value passes it, and ``pulumi up`` runs the rules again
with every value known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from gpucloud.config import StackConfig, config_from_namespaced
from gpucloud.errors import GpucloudError
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy import RULES, UNKNOWN, Rule, Stack
from gpucloud.program import runtime_config

PACK_NAME = "gpucloud"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def plain(value: Any) -> Any:
    """The engine's properties as plain Python, each value a rule cannot know yet replaced by ``UNKNOWN``."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def stack_from_engine(resources: Sequence[Any], config: StackConfig) -> Stack:
    """The rules' view of the engine's resources (``pulumi_policy.PolicyResource``)."""
    recorded: list[RecordedResource] = []
    region_exports: dict[str, Any] = {}
    for res in resources:
        props = plain(res.props)
        if res.resource_type == STACK_REFERENCE:
            outputs = props.get("outputs")
            region_exports.update(outputs if isinstance(outputs, dict) else {})
            continue
        if res.resource_type == "pulumi:pulumi:Stack" or _is_default_provider(res):
            continue
        recorded.append(
            RecordedResource(
                type=res.resource_type,
                name=res.name,
                urn=res.urn,
                id=str(props.get("id") or ""),
                parent=res.parent.urn if res.parent is not None else None,
                custom=getattr(res, "provider", None) is not None,  # components go through no provider
                inputs=props,  # the engine's state: inputs as given, plus what the provider computed
                outputs=props,
                deps={k: tuple(d.urn for d in v) for k, v in res.property_dependencies.items()},
                provider=_explicit_provider(res),
                dependencies=tuple(sorted(d.urn for d in res.dependencies)),
            )
        )
    return Stack(resources=recorded, config=config, region_exports=region_exports)


def _is_default_provider(res: Any) -> bool:
    """The engine's default providers (our account's credentials) carry names starting with ``default``."""
    return bool(res.resource_type.startswith("pulumi:providers:") and str(res.name).startswith("default"))


def _explicit_provider(res: Any) -> str | None:
    """The URN of the explicit provider a resource goes through; None for a default provider."""
    provider = getattr(res, "provider", None)
    if provider is None or str(provider.name).startswith("default"):
        return None
    return str(provider.urn)


def stack_config() -> StackConfig:
    """This stack's gpucloud config, read from what Pulumi hands the pack."""
    return config_from_namespaced(pulumi.get_stack(), runtime_config())


def _validator(
    rule: Rule, read_config: Callable[[], StackConfig]
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        try:
            config = read_config()
        except GpucloudError as err:
            report(f"cannot read the stack's gpucloud config, so cannot check it: {err}", None)
            return
        stack = stack_from_engine(args.resources, config)
        if not rule.applies_to(config):
            args.not_applicable(f"not a rule for a {type(config).__name__}")
        for urn, message in rule.check(stack):
            report(message, urn)

    return validate


def policies(read_config: Callable[[], StackConfig] = stack_config) -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validator(rule, read_config),
            enforcement_level=EnforcementLevel.MANDATORY,
        )
        for rule in RULES
    ]
