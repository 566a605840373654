"""Compute rules: how GPU nodes are launched."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gpucloud.policy.core import INSTANCE, LAUNCH_TEMPLATE, Finding, Stack, _whole

MAX_IMDS_HOPS = 2


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
