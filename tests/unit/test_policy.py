"""Each rule: a resource that breaks it is reported; the same resource made right is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy import evaluate
from gpucloud.repo import Repository

TENANT_TAGS = {"gpucloud:tenant": "acme", "gpucloud:region": "us-east-1", "gpucloud:role": "test"}
TLS = json.dumps({"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def res(type_: str, inputs: dict[str, Any], rid: str = "r-1") -> RecordedResource:
    return RecordedResource(
        type=type_,
        name=rid,
        urn=f"urn:pulumi:s::gpucloud::{type_}::{rid}",
        id=rid,
        parent=None,
        custom=True,
        inputs={"tags": TENANT_TAGS, **inputs},
    )


def bucket_set(**overrides: Any) -> list[RecordedResource]:
    parts = {
        "sse": res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {
                "bucket": "b",
                "rules": [
                    {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:k"}}
                ],
            },
            "sse",
        ),
        "pab": res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {
                "bucket": "b",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            "pab",
        ),
        "policy": res("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": TLS}, "pol"),
        "versioning": res(
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}},
            "ver",
        ),
    }
    parts.update(overrides)
    return [res("aws:s3/bucket:Bucket", {}, "b"), *[p for p in parts.values() if p is not None]]


LT_OK = {
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
    "blockDeviceMappings": [{"deviceName": "/dev/sda1", "ebs": {"encrypted": "true", "kmsKeyId": "arn:k"}}],
    "networkInterfaces": [{"networkCardIndex": 0, "associatePublicIpAddress": "false"}],
}
LT = "aws:ec2/launchTemplate:LaunchTemplate"
CASES: list[tuple[str, list[RecordedResource], list[RecordedResource]]] = [
    (
        "no-world-ingress",
        [res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "0.0.0.0/0"})],
        [res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"referencedSecurityGroupId": "sg-1"})],
    ),
    (
        "no-world-ingress",
        [res("aws:ec2/securityGroup:SecurityGroup", {"ingress": [{"ipv6CidrBlocks": ["::/0"]}]})],
        [res("aws:ec2/securityGroup:SecurityGroup", {"ingress": []})],
    ),
    (
        "imdsv2-required",
        [res(LT, {**LT_OK, "metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1}})],
        [res(LT, LT_OK)],
    ),
    (
        "imdsv2-required",
        [res(LT, {**LT_OK, "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 3}})],
        [res(LT, LT_OK)],
    ),
    (
        "ebs-encrypted-cmk",
        [res(LT, {**LT_OK, "blockDeviceMappings": [{"ebs": {"encrypted": "true"}}]})],
        [res(LT, LT_OK)],
    ),
    (
        "no-public-ip",
        [res(LT, {**LT_OK, "networkInterfaces": [{"associatePublicIpAddress": "true"}]})],
        [res(LT, LT_OK)],
    ),
    (
        "no-public-ip",
        [res("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True})],
        [res("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": False})],
    ),
    (
        "kms-rotation",
        [res("aws:kms/key:Key", {"enableKeyRotation": False})],
        [res("aws:kms/key:Key", {"enableKeyRotation": True})],
    ),
    (
        "fsx-encrypted-cmk",
        [res("aws:fsx/lustreFileSystem:LustreFileSystem", {})],
        [res("aws:fsx/lustreFileSystem:LustreFileSystem", {"kmsKeyId": "arn:k"})],
    ),
    ("s3-encrypted-cmk", bucket_set(sse=None), bucket_set()),
    ("s3-public-access-blocked", bucket_set(pab=None), bucket_set()),
    (
        "s3-tls-only",
        bucket_set(policy=res("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": "{}"}, "p")),
        bucket_set(),
    ),
    ("s3-versioning", bucket_set(versioning=None), bucket_set()),
    (
        "vpc-flow-logs",
        [res("aws:ec2/vpc:Vpc", {}, "vpc-1")],
        [res("aws:ec2/vpc:Vpc", {}, "vpc-1"), res("aws:ec2/flowLog:FlowLog", {"vpcId": "vpc-1"}, "fl")],
    ),
    (
        "no-admin-wildcard",
        [
            res(
                "aws:iam/policy:Policy",
                {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})},
            )
        ],
        [
            res(
                "aws:iam/policy:Policy",
                {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})},
            )
        ],
    ),
    (
        "tenant-tag",
        [
            res("aws:ec2/vpc:Vpc", {"tags": {"gpucloud:tenant": "other"}}, "vpc-1"),
            res("aws:ec2/flowLog:FlowLog", {"vpcId": "vpc-1"}, "fl"),
        ],
        [res("aws:ec2/vpc:Vpc", {}, "vpc-1"), res("aws:ec2/flowLog:FlowLog", {"vpcId": "vpc-1"}, "fl")],
    ),
    ("tenant-isolation", [res("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", {})], []),
    (
        "tenant-isolation",
        [res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "10.16.16.0/20"})],
        [res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "10.16.1.0/24"})],
    ),
]


@pytest.mark.parametrize(("rule", "breaking", "passing"), CASES, ids=[c[0] for c in CASES])
def test_rule_catches_the_breaking_resource_and_passes_the_fixed_one(
    repo_root: Path, rule: str, breaking: list[RecordedResource], passing: list[RecordedResource]
) -> None:
    config = Repository(repo_root).load("tenant-acme-us-east-1")
    found = evaluate(breaking, config)
    assert rule in {v.rule for v in found}, found
    assert all(v.urn.startswith("urn:pulumi:") and v.message for v in found)
    assert rule not in {v.rule for v in evaluate(passing, config)}
