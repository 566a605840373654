"""The CrossGuard pack in policy/, driven over gRPC exactly as the Pulumi engine drives it.

The Pulumi CLI cannot be installed here, so the test plays the engine's part: it starts the pack
(`python policy/__main__.py`, which prints its port), and sends AnalyzeStack with the resources of the
offline plan. The pack runs the rules of gpucloud.policy on them, reading the stack's config from
PULUMI_CONFIG as it would under `pulumi preview --policy-pack policy/`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from gpucloud.plan.offline import Plan
from gpucloud.plan.runner import _as_pulumi_config
from gpucloud.policy import RULES
from gpucloud.repo import Repository

pytestmark = pytest.mark.integration
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's marker for a value unknown in preview
TENANT = "tenant-acme-us-east-1"


@pytest.fixture(scope="module")
def pack(repo_root: Path) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    raw = Repository(repo_root).raw_config(TENANT)
    env = {
        **os.environ,
        "PULUMI_CONFIG": json.dumps(_as_pulumi_config(raw)),
        "PULUMI_PROJECT": "gpucloud",
        "PULUMI_STACK": TENANT,
        "PULUMI_DRY_RUN": "true",
    }
    proc = subprocess.Popen(
        [sys.executable, str(repo_root / "policy" / "__main__.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=repo_root / "policy",
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.kill()
        proc.wait()


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def engine_resources(plan: Plan) -> list[analyzer_pb2.AnalyzerResource]:
    """The plan's resources as the engine sends them: state properties, parents, property dependencies."""
    resources = [
        analyzer_pb2.AnalyzerResource(
            type="pulumi:pulumi:StackReference",
            urn=f"urn:pulumi:{plan.stack}::gpucloud::pulumi:pulumi:StackReference::region",
            name="region",
            properties=_struct({"name": "region", "outputs": json.loads(json.dumps(plan.region_exports))}),
        )
    ]
    by_urn = {r.urn: r for r in plan.resources}
    for res in plan.resources:
        resources.append(
            analyzer_pb2.AnalyzerResource(
                type=res.type,
                urn=res.urn,
                name=res.name,
                parent=res.parent or "",
                properties=_struct({**res.outputs, **res.inputs}),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v)) for k, v in res.deps.items()
                },
                dependencies=list(res.dependencies),
                # the engine names a provider for every custom resource, none for a component
                provider=_provider(plan.stack, by_urn.get(res.provider) if res.provider else None)
                if res.custom
                else None,
            )
        )
    return resources


def _provider(stack: str, explicit: Any) -> analyzer_pb2.AnalyzerProviderResource:
    """The provider the engine names for a resource: the explicit one, or its default provider for AWS."""
    if explicit is None:
        default = "default_7_51_1"
        return analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:aws",
            urn=f"urn:pulumi:{stack}::gpucloud::pulumi:providers:aws::{default}",
            name=default,
        )
    return analyzer_pb2.AnalyzerProviderResource(
        type=explicit.type, urn=explicit.urn, name=explicit.name, properties=_struct(explicit.inputs)
    )


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, resources: list[analyzer_pb2.AnalyzerResource]) -> list[Any]:
    response = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=60)
    return list(response.diagnostics)


def test_the_pack_passes_the_sample_tenant(pack: analyzer_pb2_grpc.AnalyzerStub, sample_plans: dict[str, Plan]) -> None:
    diagnostics = analyze(pack, engine_resources(sample_plans[TENANT]))
    assert diagnostics == []


def test_the_pack_reports_what_policy_check_reports(
    pack: analyzer_pb2_grpc.AnalyzerStub, sample_plans: dict[str, Plan]
) -> None:
    resources = engine_resources(sample_plans[TENANT])
    peering = "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"
    resources.append(
        analyzer_pb2.AnalyzerResource(
            type=peering,
            urn=f"urn:pulumi:{TENANT}::gpucloud::{peering}::to-beta",
            name="to-beta",
            properties=_struct({"vpcId": "vpc-1", "peerVpcId": "vpc-2", "tags": {"gpucloud:tenant": "acme"}}),
        )
    )
    ingress = next(r for r in resources if r.type.endswith("SecurityGroupIngressRule"))
    props = json_format.MessageToDict(ingress.properties)
    props.pop("referencedSecurityGroupId", None)
    ingress.properties.CopyFrom(_struct({**props, "cidrIpv4": "0.0.0.0/0"}))
    found = {(d.policyName, d.urn) for d in analyze(pack, resources)}
    assert ("tenant-isolation", f"urn:pulumi:{TENANT}::gpucloud::{peering}::to-beta") in found
    assert ("no-world-ingress", ingress.urn) in found
    assert ("tenant-sg-scope", ingress.urn) in found


def test_the_pack_sees_a_tenant_resource_made_in_our_account(
    pack: analyzer_pb2_grpc.AnalyzerStub, sample_plans: dict[str, Plan]
) -> None:
    resources = engine_resources(sample_plans[TENANT])
    vpc = next(r for r in resources if r.type == "aws:ec2/vpc:Vpc")
    vpc.provider.CopyFrom(_provider(TENANT, None))  # as if the program forgot the tenant's provider
    found = {(d.policyName, d.urn) for d in analyze(pack, resources)}
    assert found == {("tenant-account-provider", vpc.urn), ("management-account-bare", vpc.urn)}


def test_the_pack_sees_a_file_system_that_does_not_wait_for_its_rules(
    pack: analyzer_pb2_grpc.AnalyzerStub, sample_plans: dict[str, Plan]
) -> None:
    resources = engine_resources(sample_plans[TENANT])
    fs = next(r for r in resources if r.type.endswith("LustreFileSystem"))
    del fs.dependencies[:]  # as the program was before FSx waited for its rules
    found = {d.policyName for d in analyze(pack, resources) if d.urn == fs.urn}
    assert found == {"fsx-waits-for-rules"}


def test_unknown_values_of_a_preview_do_not_break_the_rules(
    pack: analyzer_pb2_grpc.AnalyzerStub, sample_plans: dict[str, Plan]
) -> None:
    resources = engine_resources(sample_plans[TENANT])
    for res in resources:
        props = json_format.MessageToDict(res.properties)
        for key in ("arn", "id", "policy", "vpcId", "bucket"):
            if key in props:
                props[key] = UNKNOWN_STRING
        res.properties.CopyFrom(_struct(props))
    diagnostics = analyze(pack, resources)
    assert [d.message for d in diagnostics] == []


def test_every_rule_is_a_policy_of_the_pack() -> None:
    from gpucloud.crossguard import policies

    assert [p.name for p in policies()] == [r.name for r in RULES]
