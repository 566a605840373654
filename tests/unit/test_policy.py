"""Each rule: a resource that breaks it is reported; the same resource made right is not."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gpucloud.config import TenantConfig
from gpucloud.organization.guardrails import quarantine_policy, service_control_policies
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy import RULES, evaluate, rules_for
from gpucloud.repo import Repository

TENANT_TAGS = {"gpucloud:tenant": "acme", "gpucloud:region": "us-east-1", "gpucloud:role": "test"}
TLS = json.dumps({"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def res(
    type_: str,
    inputs: dict[str, Any],
    rid: str = "r-1",
    *,
    deps: dict[str, tuple[str, ...]] | None = None,
    outputs: dict[str, Any] | None = None,
) -> RecordedResource:
    return RecordedResource(
        type=type_,
        name=rid,
        urn=urn(type_, rid),
        id=rid,
        parent=None,
        custom=True,
        inputs={"tags": TENANT_TAGS, **inputs},
        outputs=outputs or {},
        deps=deps or {},
    )


def urn(type_: str, rid: str) -> str:
    return f"urn:pulumi:s::gpucloud::{type_}::{rid}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
OWN_BUCKET = res("aws:s3/bucket:Bucket", {}, "mine", outputs={"arn": "arn:aws:s3:::acme-data"})
OWN_KEY = res("aws:kms/key:Key", {"enableKeyRotation": True}, "key", outputs={"arn": "arn:aws:kms:us-east-1:1:key/k"})


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
    (
        "vpc-flow-logs",  # linked through a property dependency, as under CrossGuard where IDs are unknown
        [res("aws:ec2/vpc:Vpc", {}, "v"), res("aws:ec2/flowLog:FlowLog", {"vpcId": "<unknown>"}, "fl")],
        [
            res("aws:ec2/vpc:Vpc", {}, "v"),
            res(
                "aws:ec2/flowLog:FlowLog", {"vpcId": "<unknown>"}, "fl", deps={"vpcId": (urn("aws:ec2/vpc:Vpc", "v"),)}
            ),
        ],
    ),
    (
        "tenant-tag",  # a type outside the known list: the provider SDK says it takes tags
        [res("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", {"tags": {}})],
        [res("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", {})],
    ),
    ("tenant-isolation", [res("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", {})], []),
    ("tenant-isolation", [res("aws:ec2transitgateway/vpcAttachment:VpcAttachment", {})], []),
    (
        "tenant-isolation",
        [res("aws:ec2/route:Route", {"transitGatewayId": "tgw-1", "destinationCidrBlock": "10.32.0.0/20"})],
        [res("aws:ec2/route:Route", {"natGatewayId": "nat-1", "destinationCidrBlock": "0.0.0.0/0"})],
    ),
    (
        "tenant-isolation",
        [res("aws:ec2/routeTable:RouteTable", {"routes": [{"vpcPeeringConnectionId": "pcx-1"}]})],
        [res("aws:ec2/routeTable:RouteTable", {"routes": []})],
    ),
    (
        "tenant-sg-scope",  # acme's VPC is 10.16.0.0/20: the next tenant's block is outside it
        [res(INGRESS, {"cidrIpv4": "10.16.16.0/20"})],
        [res(INGRESS, {"cidrIpv4": "10.16.1.0/24"})],
    ),
    (
        "tenant-sg-scope",
        [res(EGRESS, {"cidrIpv4": "10.32.0.0/20"})],
        [res(EGRESS, {"cidrIpv4": "0.0.0.0/0"})],  # acme's egress is nat
    ),
    (
        "tenant-sg-scope",
        [res(INGRESS, {"cidrIpv6": "2600:1f18::/56"})],
        [res(INGRESS, {"cidrIpv4": "10.16.0.0/20"})],
    ),
    (
        "tenant-sg-scope",  # another tenant's group, named by ID
        [res(SG, {}, "sg-mine"), res(INGRESS, {"referencedSecurityGroupId": "sg-0other"})],
        [res(SG, {}, "sg-mine"), res(INGRESS, {"referencedSecurityGroupId": "sg-mine"})],
    ),
    (
        "tenant-sg-scope",
        [res(EGRESS, {"prefixListId": "pl-0123"})],
        [
            res("aws:ec2/vpcEndpoint:VpcEndpoint", {}, "s3"),
            res(
                EGRESS,
                {"prefixListId": "pl-0123"},
                deps={"prefixListId": (urn("aws:ec2/vpcEndpoint:VpcEndpoint", "s3"),)},
            ),
        ],
    ),
    (
        "tenant-sg-scope",
        [res(SG, {"ingress": [{"cidrBlocks": ["192.168.0.0/16"]}]})],
        [res(SG, {"ingress": [{"cidrBlocks": ["10.16.2.0/24"]}]})],
    ),
    (
        "tenant-foreign-data",  # another tenant's bucket named literally
        [
            OWN_BUCKET,
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::beta-data/*"})},
            ),
        ],
        [
            OWN_BUCKET,
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-data/*"})},
            ),
        ],
    ),
    (
        "tenant-foreign-data",
        [
            OWN_KEY,
            res(
                "aws:iam/policy:Policy",
                {
                    "policy": doc(
                        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:1:key/other"}
                    )
                },
            ),
        ],
        [
            OWN_KEY,
            res(
                "aws:iam/policy:Policy",
                {
                    "policy": doc(
                        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:1:key/k"}
                    )
                },
            ),
        ],
    ),
    (
        "tenant-foreign-data",  # a pattern reaches every tenant's bucket
        [
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {"policy": doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"})},
            )
        ],
        [
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {"policy": doc({"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*"})},
            )
        ],
    ),
    (
        "tenant-foreign-data",
        [
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {"policy": doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})},
            )
        ],
        [
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {"policy": doc({"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"})},
            )
        ],
    ),
]

PROVIDER = RecordedResource(
    type="pulumi:providers:aws",
    name="tenant",
    urn=urn("pulumi:providers:aws", "tenant"),
    id="tenant",
    parent=None,
    custom=True,
    inputs={"allowedAccountIds": '["210987654321"]'},
)
LOOSE_PROVIDER = replace(PROVIDER, urn=urn("pulumi:providers:aws", "loose"), inputs={})
CAPACITY_ACCOUNT = "999988887777"  # our capacity account, as the region exports it
CAPACITY_PROVIDER = replace(
    PROVIDER, urn=urn("pulumi:providers:aws", "capacity"), inputs={"allowedAccountIds": f'["{CAPACITY_ACCOUNT}"]'}
)
SHARE = res("aws:ram/resourceShare:ResourceShare", {"allowExternalPrincipals": False}, "share")
EC2_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
NODE_ROLE = res("aws:iam/role:Role", {"assumeRolePolicy": EC2_TRUST}, "node")
REGION_CAPACITY = {
    "capacity": {
        "p5.48xlarge@use1-az4": {
            "marketType": "reserved",
            "reservationArn": "arn:aws:ec2:us-east-1:1:capacity-reservation/cr-region",
        }
    },
    "capacityAccountId": CAPACITY_ACCOUNT,
}


def in_tenant(resource: RecordedResource) -> RecordedResource:
    return replace(resource, provider=PROVIDER.urn)


def in_capacity(resource: RecordedResource) -> RecordedResource:
    return replace(resource, provider=CAPACITY_PROVIDER.urn)


CARVE = "pulumi-python:dynamic:Resource"


def principal(value: str) -> RecordedResource:
    return res(
        "aws:ram/principalAssociation:PrincipalAssociation",
        {"principal": value, "resourceShareArn": "share"},
        f"p-{value[-4:]}",
        deps={"resourceShareArn": (SHARE.urn,)},
    )


def shared(arn: str, rid: str = "a") -> RecordedResource:
    return res("aws:ram/resourceAssociation:ResourceAssociation", {"resourceArn": arn, "resourceShareArn": "s"}, rid)


CASES += [
    (
        "tenant-account-provider",
        [PROVIDER, CAPACITY_PROVIDER, res("aws:ec2/vpc:Vpc", {}, "vpc"), in_tenant(SHARE)],
        [PROVIDER, CAPACITY_PROVIDER, in_tenant(res("aws:ec2/vpc:Vpc", {}, "vpc")), in_capacity(SHARE)],
    ),
    (
        "tenant-account-provider",  # the share in the management account (the default provider): not ours to hold
        [PROVIDER, CAPACITY_PROVIDER, SHARE],
        [PROVIDER, CAPACITY_PROVIDER, in_capacity(SHARE)],
    ),
    (
        "tenant-account-provider",  # the tenant's VPC in our capacity account
        [PROVIDER, CAPACITY_PROVIDER, in_capacity(res("aws:ec2/vpc:Vpc", {}, "vpc"))],
        [PROVIDER, CAPACITY_PROVIDER, in_tenant(res("aws:ec2/vpc:Vpc", {}, "vpc"))],
    ),
    (
        "tenant-account-provider",  # the carve with the stack's own (management) credentials
        [res(CARVE, {"role_arn": None}, "carve")],
        [res(CARVE, {"role_arn": f"arn:aws:iam::{CAPACITY_ACCOUNT}:role/OrganizationAccountAccessRole"}, "carve")],
    ),
    (
        "management-account-bare",  # issue 21 (3): the audit bucket, the carves and shares lived there
        [res("aws:s3/bucket:Bucket", {}, "audit"), SHARE],
        [PROVIDER, CAPACITY_PROVIDER, in_tenant(res("aws:s3/bucket:Bucket", {}, "audit")), in_capacity(SHARE)],
    ),
    (
        "tenant-account-provider",
        [LOOSE_PROVIDER, replace(res("aws:ec2/vpc:Vpc", {}, "v"), provider=LOOSE_PROVIDER.urn)],
        [PROVIDER, in_tenant(res("aws:ec2/vpc:Vpc", {}, "v"))],
    ),
    (
        "share-one-account",
        [replace(SHARE, inputs={"allowExternalPrincipals": True}), principal("210987654321")],
        [SHARE, principal("210987654321")],
    ),
    ("share-one-account", [SHARE, principal("ou-ab12-cdefgh12")], [SHARE, principal("210987654321")]),
    (
        "share-one-account",
        [SHARE, principal("210987654321"), principal("310987654321")],
        [SHARE, principal("210987654321")],
    ),
    (
        "share-carve-only",
        [shared("arn:aws:ec2:us-east-1:1:capacity-reservation/cr-region")],
        [shared("arn:aws:ec2:us-east-1:1:capacity-reservation/cr-carve")],
    ),
    (
        "share-carve-only",
        [
            shared("arn:aws:ec2:us-east-1:1:capacity-reservation/cr-carve", "a"),
            shared("arn:aws:ec2:us-east-1:1:capacity-reservation/cr-carve", "b"),
        ],
        [shared("arn:aws:ec2:us-east-1:1:capacity-reservation/cr-carve", "a")],
    ),
    (
        "session-scope",
        [
            res(
                "aws:iam/policy:Policy",
                {"policy": doc({"Effect": "Allow", "Action": ["ssm:ResumeSession"], "Resource": "*"})},
            )
        ],
        [
            res(
                "aws:iam/policy:Policy",
                {
                    "policy": doc(
                        {
                            "Effect": "Allow",
                            "Action": ["ssm:ResumeSession"],
                            "Resource": "arn:aws:ssm:*:*:session/${aws:userid}-*",
                        }
                    )
                },
            )
        ],
    ),
    (
        "node-role-no-managed-policy",
        [
            NODE_ROLE,
            res(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"},
                "att",
            ),
        ],
        [
            NODE_ROLE,
            res(
                "aws:iam/rolePolicy:RolePolicy",
                {
                    "role": "node",
                    "policy": doc({"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}),
                },
                "inline",
            ),
        ],
    ),
    (
        "iam-lint",
        [res("aws:iam/policy:Policy", {"policy": doc({"Effect": "Allow", "Action": "s3:GetObjct", "Resource": "*"})})],
        [res("aws:iam/policy:Policy", {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})})],
    ),
    (
        "iam-lint",
        [
            res(
                "aws:iam/policy:Policy",
                {
                    "policy": doc(
                        {
                            "Effect": "Allow",
                            "Action": "kms:DescribeKey",
                            "Resource": "*",
                            "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "x"}},
                        }
                    )
                },
            )
        ],
        [res("aws:iam/role:Role", {"assumeRolePolicy": EC2_TRUST})],
    ),
]

LUSTRE_SG = res(SG, {"vpcId": "vpc-1"}, "sg-lustre")
LNET_IN = res(INGRESS, {"securityGroupId": "sg-lustre", "fromPort": 988}, "lnet-in")
FSX = res("aws:fsx/lustreFileSystem:LustreFileSystem", {"securityGroupIds": ["sg-lustre"]}, "fs")
CASES += [
    (
        "fsx-waits-for-rules",
        [LUSTRE_SG, LNET_IN, FSX],
        [LUSTRE_SG, LNET_IN, replace(FSX, dependencies=(LUSTRE_SG.urn, LNET_IN.urn))],
    ),
]

GATEWAY = "aws:ec2/vpcEndpoint:VpcEndpoint"
OPEN_ENDPOINT = doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"})
OWN_ENDPOINT = doc(
    {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceAccount": "210987654321"}},
    }
)
DELIVERY = {"Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"}, "Action": "s3:PutObject"}


def many_tenants(count: int) -> list[dict[str, Any]]:
    """One bucket's delivery statements for ``count`` tenant accounts, each in AWS's documented per-account form
    (a tenant stack's audit bucket holds one account's; a region-wide bucket held them all before)."""
    from gpucloud.components.tenant_audit import flow_log_delivery_statements

    bucket = "arn:aws:s3:::gpucloud-audit-us-east-1-20261207000000000000000001"
    return [
        statement
        for account in (f"{210987654321 + i:012d}" for i in range(count))
        for statement in flow_log_delivery_statements(bucket, "us-east-1", account)
    ]


BLOCK = {"marketType": "capacity-block"}
CASES += [
    (
        "gateway-endpoint-policy",
        [res(GATEWAY, {"vpcEndpointType": "Gateway"})],
        [res(GATEWAY, {"vpcEndpointType": "Gateway", "policy": OWN_ENDPOINT})],
    ),
    (
        "gateway-endpoint-policy",
        [res(GATEWAY, {"vpcEndpointType": "Gateway", "policy": OPEN_ENDPOINT})],
        [res(GATEWAY, {"vpcEndpointType": "Interface"})],  # interface endpoints are a different matter
    ),
    (
        "log-delivery-source",
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {"bucket": "b", "policy": doc({**DELIVERY, "Resource": "arn:aws:s3:::b/*"})},
            )
        ],
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {
                    "bucket": "b",
                    "policy": doc(
                        {
                            **DELIVERY,
                            "Resource": "arn:aws:s3:::b/*",
                            "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abcdefghij"}},
                        }
                    ),
                },
            )
        ],
    ),
    (
        "bucket-policy-size",  # 30 tenants' delivery in one region-wide bucket: over S3's 20 KB
        [res("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": doc(*many_tenants(30))})],
        [res("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": doc(*many_tenants(1))})],
    ),
    (
        "log-delivery-per-account",  # issue 21 (5): any tenant of the organization wrote under any prefix
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {
                    "bucket": "b",
                    "policy": doc(
                        {
                            **DELIVERY,
                            "Resource": "arn:aws:s3:::b/AWSLogs/*",
                            "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abcdefghij"}},
                        }
                    ),
                },
            )
        ],
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {
                    "bucket": "b",
                    "policy": doc(
                        {
                            **DELIVERY,
                            "Resource": "arn:aws:s3:::b/AWSLogs/210987654321/*",
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": "210987654321"},
                                "ArnLike": {"aws:SourceArn": "arn:aws:logs:us-east-1:210987654321:*"},
                            },
                        }
                    ),
                },
            )
        ],
    ),
    (
        "log-delivery-per-account",  # one account's prefix, admitted for another account
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {
                    "bucket": "b",
                    "policy": doc(
                        {
                            **DELIVERY,
                            "Resource": "arn:aws:s3:::b/AWSLogs/210987654321/*",
                            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                        }
                    ),
                },
            )
        ],
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {
                    "bucket": "b",
                    "policy": doc(
                        {
                            **DELIVERY,
                            "Resource": "arn:aws:s3:::b/AWSLogs/123456789012/*",
                            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                        }
                    ),
                },
            )
        ],
    ),
    (
        "block-without-placement-group",
        [
            res(
                "aws:ec2/launchTemplate:LaunchTemplate",
                {"instanceMarketOptions": BLOCK, "placement": {"groupId": "pg-1"}},
            )
        ],
        [res("aws:ec2/launchTemplate:LaunchTemplate", {"instanceMarketOptions": BLOCK})],
    ),
    (
        "template-version-pinned",
        [res("aws:ec2/instance:Instance", {"launchTemplate": {"id": "lt-1", "version": "$Default"}}, "node")],
        [res("aws:ec2/instance:Instance", {"launchTemplate": {"id": "lt-1", "version": "3"}}, "node")],
    ),
    (
        "template-version-pinned",
        [res("aws:ec2/instance:Instance", {"launchTemplate": {"id": "lt-1"}}, "node")],  # unset means $Default
        [res("aws:ec2/instance:Instance", {"launchTemplate": {"id": "lt-1", "version": "1"}}, "node")],
    ),
]


SCP = "aws:organizations/policy:Policy"
GUARDRAILS = service_control_policies(("us-east-1",))


def guarded_ou(*documents: dict[str, Any], name: str = "gpucloud-tenants") -> list[RecordedResource]:
    """An OU with these SCP documents attached to it."""
    resources = [res("aws:organizations/organizationalUnit:OrganizationalUnit", {"name": name}, "ou")]
    for i, document in enumerate(documents):
        resources.append(res(SCP, {"type": "SERVICE_CONTROL_POLICY", "content": json.dumps(document)}, f"scp{i}"))
        resources.append(
            res(
                "aws:organizations/policyAttachment:PolicyAttachment",
                {"policyId": f"scp{i}", "targetId": "ou"},
                f"a{i}",
            )
        )
    return resources


def audit_bucket_with_key(statement: dict[str, Any]) -> list[RecordedResource]:
    """An audit bucket encrypted by a key whose policy holds ``statement``."""
    key = res("aws:kms/key:Key", {"enableKeyRotation": True, "policy": doc(statement)}, "audit-key")
    bucket = res("aws:s3/bucket:Bucket", {"tags": {**TENANT_TAGS, "gpucloud:role": "audit"}}, "audit")
    sse = res(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"bucket": "audit", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        "audit-sse",
        deps={"rules": (key.urn,), "bucket": (bucket.urn,)},
    )
    return [key, bucket, sse]


def without(sid: str) -> list[dict[str, Any]]:
    """The guardrails less one statement."""
    return [
        {**document, "Statement": [s for s in document["Statement"] if s["Sid"] != sid]}
        for document in GUARDRAILS.values()
    ]


def by_name_exemption() -> list[dict[str, Any]]:
    """The guardrails as they were before issue 21: every exemption named the access role, not our path."""
    text = json.dumps(list(GUARDRAILS.values())).replace(
        "arn:aws:iam::*:role/gpucloud-org/*", "arn:aws:iam::*:role/OrganizationAccountAccessRole"
    )
    documents: list[dict[str, Any]] = json.loads(text)
    return documents


def audit_bucket(**inputs: Any) -> list[RecordedResource]:
    return [res("aws:s3/bucket:Bucket", {"tags": {**TENANT_TAGS, "gpucloud:role": "audit"}, **inputs}, "audit")]


def org_trail(*arn_prefixes: str, **extra: list[str]) -> list[RecordedResource]:
    """The organization trail, recording S3 data events on objects whose ARN starts with one of ``arn_prefixes``."""
    data = [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
        {"field": "resources.ARN", "startsWiths": list(arn_prefixes)},
        *({"field": f, "equals": v} for f, v in extra.items()),
    ]
    selectors = [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}, {"fieldSelectors": data}]
    trail = {"isOrganizationTrail": True, "advancedEventSelectors": selectors}
    return [res("aws:cloudtrail/trail:Trail", trail, "trail")]


CASES += [
    # issue 21 (1): data events on the trail's own bucket alone; the flow-log buckets' readers went unrecorded
    ("audit-reads-recorded", org_trail("arn:aws:s3:::trail-bucket-1234/"), org_trail("arn:aws:s3:::gpucloud-audit-")),
    ("audit-reads-recorded", org_trail("arn:aws:s3:::gpucloud-audit-", readOnly=["false"]), org_trail("arn:aws:s3:::")),
    ("audit-reads-recorded", audit_bucket(), audit_bucket(bucketPrefix="gpucloud-audit-us-east-1-")),
    ("audit-reads-recorded", audit_bucket(bucketPrefix="audit-"), audit_bucket(bucket="gpucloud-audit-fixed")),
]

CASES += [
    ("guardrails-hold", guarded_ou(*without("NoRootUser")), guarded_ou(*GUARDRAILS.values())),
    ("guardrails-hold", guarded_ou(*without("NoBucketsUnderOurAuditPrefix")), guarded_ou(*GUARDRAILS.values())),
    ("guardrails-hold", guarded_ou(*without("NoCapacityPurchases")), guarded_ou(*GUARDRAILS.values())),
    ("guardrails-hold", guarded_ou(*without("ProtectFlowLogs")), guarded_ou(*GUARDRAILS.values())),
    ("guardrails-hold", guarded_ou(*without("NoQuotaIncreases")), guarded_ou(*GUARDRAILS.values())),
    (
        "scp-limits",
        guarded_ou({"Version": "2012-10-17", "Statement": [{"Sid": "x" * 5200, "Effect": "Deny"}]}),
        guarded_ou(*GUARDRAILS.values()),
    ),
    ("scp-limits", guarded_ou(*GUARDRAILS.values(), *GUARDRAILS.values()), guarded_ou(*GUARDRAILS.values())),
    (
        "audit-key-narrow",
        audit_bucket_with_key(
            {
                "Sid": "OrgReads",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-x"}},
            }
        ),
        audit_bucket_with_key(
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
            }
        ),
    ),
    (
        "quarantine-shut",
        guarded_ou(*GUARDRAILS.values(), name="gpucloud-quarantine"),  # guardrails alone: the tenant still works
        guarded_ou(*GUARDRAILS.values(), quarantine_policy(), name="gpucloud-quarantine"),
    ),
    (
        "scp-exempts-our-path",
        guarded_ou(*by_name_exemption()),
        guarded_ou(*GUARDRAILS.values()),
    ),
    (
        "guardrails-hold",  # the same documents, asked as a tenant-made role that carries the access role's name
        guarded_ou(*by_name_exemption()),
        guarded_ou(*GUARDRAILS.values()),
    ),
]


@pytest.mark.parametrize(("rule", "breaking", "passing"), CASES, ids=[c[0] for c in CASES])
def test_rule_catches_the_breaking_resource_and_passes_the_fixed_one(
    repo_root: Path, rule: str, breaking: list[RecordedResource], passing: list[RecordedResource]
) -> None:
    config = Repository(repo_root).load("tenant-acme-us-east-1")
    found = evaluate(breaking, config, REGION_CAPACITY)
    assert rule in {v.rule for v in found}, found
    assert all(v.urn.startswith("urn:pulumi:") and v.message for v in found)
    assert rule not in {v.rule for v in evaluate(passing, config, REGION_CAPACITY)}


def test_region_exports_are_not_foreign(repo_root: Path) -> None:
    config = Repository(repo_root).load("tenant-acme-us-east-1")
    audit = "arn:aws:s3:::region-audit"
    statement = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{audit}/*"}
    policy = [res("aws:iam/rolePolicy:RolePolicy", {"policy": doc(statement)})]
    assert "tenant-foreign-data" in {v.rule for v in evaluate(policy, config)}
    assert "tenant-foreign-data" not in {v.rule for v in evaluate(policy, config, {"auditBucketArn": audit})}


def test_egress_to_the_world_needs_nat(repo_root: Path) -> None:
    config = Repository(repo_root).load("tenant-acme-us-east-1")
    assert isinstance(config, TenantConfig)
    closed = replace(config, egress="none")
    rule = [res(EGRESS, {"cidrIpv4": "0.0.0.0/0"})]
    assert "tenant-sg-scope" not in {v.rule for v in evaluate(rule, config)}
    assert "tenant-sg-scope" in {v.rule for v in evaluate(rule, closed)}


def test_tenant_rules_do_not_apply_to_region_stacks(repo_root: Path) -> None:
    config = Repository(repo_root).load("region-us-east-1")
    found = evaluate([res("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", {"tags": {}})], config)
    assert not {v.rule for v in found} & {r.name for r in RULES if r.tenant_only or r.tenant_or_account}
    assert len(rules_for(config)) == len([r for r in RULES if r.applies_to(config)]) < len(RULES)
    assert "tenant-account-provider" not in {r.name for r in rules_for(config)}
    account = Repository(repo_root).load("account-acme")
    assert "tenant-account-provider" in {r.name for r in rules_for(account)}


def test_every_rule_has_a_breaking_case() -> None:
    assert {r.name for r in RULES} <= {case[0] for case in CASES}


def test_the_readme_rules_table_names_every_rule(repo_root: Path) -> None:
    rows = [line.split("|")[1] for line in (repo_root / "README.md").read_text().splitlines() if line.startswith("| `")]
    table = {name for row in rows for name in row.split("`")[1::2]}
    assert {r.name for r in RULES} <= table
