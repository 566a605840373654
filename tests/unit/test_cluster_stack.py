"""A tenant's Slurm cluster in the stack program (offline plan): the head node, the MUNGE key's secret and who may
read it, the tags the inventory composes the cluster roles' variables from; and bare nodes without any of it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import edit_stack
from test_components import TENANT, gpu_nodes, of_type

from gpucloud import tags as t
from gpucloud.catalog import load_catalog
from gpucloud.config import parse_stack_config
from gpucloud.errors import ConfigError
from gpucloud.plan.offline import Plan, Planner
from gpucloud.repo import Repository


@pytest.fixture(scope="module")
def tenant(sample_plans: dict[str, Plan]) -> Plan:
    return sample_plans[TENANT]


def head_node(plan: Plan) -> Any:
    (head,) = [r for r in of_type(plan, "instance:Instance") if r.inputs["tags"][t.ROLE] == "head-node"]
    return head


def by_urn(plan: Plan, urn: str) -> Any:
    return next(r for r in plan.resources if r.urn == urn)


def test_the_head_node_is_a_private_cpu_instance_beside_the_gpu_nodes(tenant: Plan) -> None:
    head = head_node(tenant)
    (template,) = of_type(tenant, "launchTemplate:LaunchTemplate")
    (key,) = [k for k in of_type(tenant, "kms/key:Key") if k.outputs["arn"] == tenant.exports["kmsKeyArn"]]
    assert head.inputs["instanceType"] == "m7i.2xlarge"
    assert head.inputs["ami"] == template.inputs["imageId"]  # the same OS release: the same Slurm
    assert head.inputs["associatePublicIpAddress"] is False
    interfaces = template.inputs["networkInterfaces"]
    assert head.inputs["subnetId"] == interfaces[0]["subnetId"]
    assert head.inputs["vpcSecurityGroupIds"] == interfaces[0]["securityGroups"]  # slurmctld <-> slurmd
    assert head.inputs["metadataOptions"]["httpTokens"] == "required"
    root = head.inputs["rootBlockDevice"]
    assert root["encrypted"] is True and root["kmsKeyId"] == key.outputs["arn"]
    nodes = gpu_nodes(tenant)
    assert head.inputs["iamInstanceProfile"] == template.inputs["iamInstanceProfile"]["name"]
    assert {n.inputs["tags"][t.SSM_BUCKET] for n in nodes} == {head.inputs["tags"][t.SSM_BUCKET]}


def test_the_munge_key_is_random_encrypted_and_readable_by_the_nodes_role_alone(
    tenant: Plan, sample_plans: dict[str, Plan]
) -> None:
    (password,) = of_type(tenant, "RandomPassword")
    assert password.inputs["length"] >= 32 and password.inputs["special"] is False  # mungekey: >= 256 bits
    (secret,) = of_type(tenant, "secretsmanager/secret:Secret")
    (key,) = [k for k in of_type(tenant, "kms/key:Key") if k.outputs["arn"] == tenant.exports["kmsKeyArn"]]
    assert secret.inputs["kmsKeyId"] == key.outputs["arn"]
    (version,) = of_type(tenant, "SecretVersion")
    assert password.urn in version.deps["secretString"]
    (policy,) = of_type(tenant, "SecretPolicy")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    node_role = next(r for r in of_type(tenant, "iam/role:Role") if r.name.endswith("-node"))
    deployer = sample_plans["account-acme"].exports["deployerRoleArn"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": sorted([node_role.outputs["arn"], deployer])}
    }
    grants = [
        s
        for r in of_type(tenant, "iam/rolePolicy:RolePolicy")
        for s in json.loads(r.inputs["policy"])["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(s)
    ]
    assert grants == [
        {
            "Sid": "ClusterMungeKey",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret.outputs["arn"],
        }
    ]


def test_every_node_of_the_cluster_is_tagged_with_the_secret_and_the_file_system(tenant: Plan) -> None:
    (secret,) = of_type(tenant, "secretsmanager/secret:Secret")
    (fs,) = of_type(tenant, "LustreFileSystem")
    for node in [*gpu_nodes(tenant), head_node(tenant)]:
        tags = node.inputs["tags"]
        assert tags[t.MUNGE_KEY_SECRET] == secret.outputs["arn"], node.urn
        assert tags[t.FSX_DNS_NAME] == fs.outputs["dnsName"], node.urn
        assert t.FSX_MOUNT_NAME in tags, node.urn
    (template,) = of_type(tenant, "launchTemplate:LaunchTemplate")
    for spec in template.inputs["tagSpecifications"]:  # a tag change must never replace the nodes
        assert t.MUNGE_KEY_SECRET not in spec["tags"]
    assert tenant.exports["scheduler"] == "slurm"
    assert tenant.exports["mungeKeySecretArn"] == secret.outputs["arn"]
    assert not tenant.violations


def bare(cfg: dict[str, Any]) -> None:
    cfg["gpucloud:cluster"] = {"scheduler": "none"}


def test_bare_nodes_get_no_head_node_secret_or_cluster_tags(repo_copy: Path) -> None:
    edit_stack(repo_copy, TENANT, bare)
    plan = Planner(Repository(repo_copy)).plan(TENANT)
    assert [r.inputs["tags"][t.ROLE] for r in of_type(plan, "instance:Instance")] == ["gpu-node"] * 2
    assert not of_type(plan, "secretsmanager/") and not of_type(plan, "RandomPassword")
    assert all(t.MUNGE_KEY_SECRET not in n.inputs["tags"] for n in gpu_nodes(plan))
    assert plan.exports["scheduler"] == "none" and "mungeKeySecretArn" not in plan.exports
    assert not plan.violations


@pytest.mark.parametrize(("scheduler", "endpoint"), [("slurm", True), ("none", False)])
def test_without_nat_a_cluster_reads_its_secret_through_an_endpoint(
    repo_copy: Path, scheduler: str, endpoint: bool
) -> None:
    def change(cfg: dict[str, Any]) -> None:
        cfg["gpucloud:egress"] = "none"
        if scheduler == "none":
            bare(cfg)

    edit_stack(repo_copy, TENANT, change)
    plan = Planner(Repository(repo_copy)).plan(TENANT)
    services = {r.inputs["serviceName"].rsplit(".", 1)[-1] for r in of_type(plan, "VpcEndpoint")}
    assert ("secretsmanager" in services) is endpoint
    assert not plan.violations


BASE = {
    "kind": "tenant",
    "tenant": "acme",
    "region": "us-east-1",
    "org": "organization",
    "cidr": "10.16.0.0/20",
    "nodePool": {
        "gpuType": "p5.48xlarge",
        "nodes": 2,
        "az": "use1-az4",
        "rootVolumeGib": 500,
        "capacityType": "reservation",
    },
    "storage": {"bucketTib": 10},
    "egress": "nat",
}


def test_a_stack_written_before_clusters_keeps_bare_nodes() -> None:
    config = parse_stack_config(TENANT, BASE)
    assert config.cluster.scheduler == "none" and config.cluster.head_node_type is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("cluster", "needle"),
    [
        ({"scheduler": "pbs"}, "gpucloud:cluster.scheduler='pbs': allowed: slurm, none"),
        ({"scheduler": "slurm"}, "gpucloud:cluster.headNodeType=None: allowed: m7i.2xlarge, m7i.4xlarge"),
        ({"scheduler": "slurm", "headNodeType": "p5.48xlarge"}, "headNodeType='p5.48xlarge': allowed"),
        ({"scheduler": "none", "headNodeType": "m7i.2xlarge"}, "only a cluster with scheduler slurm"),
        ({"scheduler": "slurm", "headNodeType": "m7i.2xlarge", "login": 2}, "cluster.login=2: unknown key"),
    ],
)
def test_a_cluster_config_is_refused_with_the_key_and_what_is_allowed(cluster: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(TENANT, {**BASE, "cluster": cluster})
    assert needle in str(refused.value)


def test_a_head_node_type_not_offered_in_the_region_is_refused() -> None:
    catalog = load_catalog()
    elsewhere = dataclasses.replace(catalog.head_node_types["m7i.2xlarge"], regions=("us-west-2",))
    catalog = dataclasses.replace(catalog, head_node_types={**catalog.head_node_types, "m7i.2xlarge": elsewhere})
    raw = {**BASE, "cluster": {"scheduler": "slurm", "headNodeType": "m7i.2xlarge"}}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(TENANT, raw, catalog=catalog)
    assert "headNodeType='m7i.2xlarge': not offered in us-east-1; offered there: m7i.4xlarge" in str(refused.value)
