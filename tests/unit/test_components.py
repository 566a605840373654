"""What the stack programs declare, checked on the offline plan (the SDK's mock runtime)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import edit_stack

from gpucloud import tags as t
from gpucloud.catalog import load_catalog
from gpucloud.components.gpu_node_pool import efa_layout
from gpucloud.plan.mocks import RecordedResource
from gpucloud.plan.offline import Plan, Planner
from gpucloud.repo import Repository

TENANT = "tenant-acme-us-east-1"


def of_type(plan: Plan, suffix: str) -> list[RecordedResource]:
    return [r for r in plan.resources if r.type.endswith(suffix)]


def gpu_nodes(plan: Plan) -> list[RecordedResource]:
    """The GPU nodes (a Slurm cluster's head node is an instance too)."""
    return [r for r in of_type(plan, "instance:Instance") if r.inputs["tags"][t.ROLE] == "gpu-node"]


@pytest.fixture(scope="module")
def tenant(sample_plans: dict[str, Plan]) -> Plan:
    return sample_plans[TENANT]


def test_every_launch_template_requires_imdsv2(tenant: Plan) -> None:
    templates = of_type(tenant, "launchTemplate:LaunchTemplate")
    assert templates
    for lt in templates:
        meta = lt.inputs["metadataOptions"]
        assert meta["httpTokens"] == "required", lt.urn
        assert int(meta["httpPutResponseHopLimit"]) <= 2, lt.urn


def test_volumes_bucket_and_file_system_use_the_tenants_key(tenant: Plan) -> None:
    key = tenant.exports["kmsKeyArn"]
    assert key.startswith("arn:aws:kms:")
    for lt in of_type(tenant, "launchTemplate:LaunchTemplate"):
        for mapping in lt.inputs["blockDeviceMappings"]:
            assert mapping["ebs"]["encrypted"] == "true", lt.urn
            assert mapping["ebs"]["kmsKeyId"] == key, lt.urn
    # (the audit bucket, in our log-archive account, has a key of its own there)
    sse = [c for c in of_type(tenant, "BucketServerSideEncryptionConfiguration") if "TenantAudit" not in c.urn]
    assert sse
    for cfg in sse:
        default = cfg.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert (default["sseAlgorithm"], default["kmsMasterKeyId"]) == ("aws:kms", key), cfg.urn
    fsx = of_type(tenant, "LustreFileSystem")
    assert len(fsx) == 1 and fsx[0].inputs["kmsKeyId"] == key
    for res in of_type(tenant, "kms/key:Key"):
        assert res.inputs["enableKeyRotation"] is True, res.urn


def test_no_security_group_rule_admits_the_internet(tenant: Plan) -> None:
    ingress = of_type(tenant, "SecurityGroupIngressRule")
    assert ingress
    for rule in ingress:
        assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs, rule.urn
        assert rule.inputs["referencedSecurityGroupId"].startswith("sg-"), rule.urn


def test_nodes_get_no_public_ip(tenant: Plan) -> None:
    for subnet in of_type(tenant, "subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False, subnet.urn
    for lt in of_type(tenant, "launchTemplate:LaunchTemplate"):
        assert all(nic["associatePublicIpAddress"] == "false" for nic in lt.inputs["networkInterfaces"]), lt.urn


def test_no_peering_and_no_transit_gateway(tenant: Plan) -> None:
    assert not [r for r in tenant.resources if "Peering" in r.type or "transitgateway" in r.type]


def test_efa_interfaces_match_the_catalog(tenant: Plan) -> None:
    (lt,) = of_type(tenant, "launchTemplate:LaunchTemplate")
    nics = lt.inputs["networkInterfaces"]
    efa = [n for n in nics if n["interfaceType"] == "efa-only"]
    assert len(efa) == load_catalog().get("p5.48xlarge").efa_interfaces == 32
    primary = [n for n in nics if n["interfaceType"] == "interface"]
    assert [(n["networkCardIndex"], n["deviceIndex"]) for n in primary] == [(0, 0)]
    assert sorted((n["networkCardIndex"], n["deviceIndex"]) for n in efa)[:2] == [(0, 1), (1, 0)]


@pytest.mark.parametrize("sku", sorted(load_catalog().skus))
def test_efa_layout_of_every_sku(sku: str) -> None:
    count = load_catalog().get(sku).efa_interfaces
    layout = efa_layout(count)
    assert sum(s.interface_type == "efa-only" for s in layout) == count
    assert len({(s.network_card_index, s.device_index) for s in layout}) == len(layout)
    assert {s.network_card_index for s in layout} == set(range(max(count, 1)))


def test_nodes_use_the_tenants_own_carve_in_the_regions_placement_group(sample_plans: dict[str, Plan]) -> None:
    region = sample_plans["region-us-east-1"].exports["capacity"]["p5.48xlarge@use1-az4"]
    tenant = sample_plans[TENANT]
    (carve,) = of_type(tenant, "dynamic:Resource")
    assert carve.inputs["source_reservation_id"] == region["reservationId"]
    assert carve.inputs["instance_count"] == 2
    (lt,) = of_type(tenant, "launchTemplate:LaunchTemplate")
    assert lt.inputs["placement"] == {"groupId": region["placementGroupId"]}  # a shared group goes by its id
    target = lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == carve.outputs["reservation_id"] != region["reservationId"]
    assert len(gpu_nodes(tenant)) == 2


def test_the_carve_and_placement_group_are_shared_with_the_tenants_account_alone(sample_plans: dict[str, Plan]) -> None:
    tenant = sample_plans[TENANT]
    account = sample_plans["account-acme"].exports["accountId"]
    (share,) = of_type(tenant, "ResourceShare")
    assert share.inputs["allowExternalPrincipals"] is False
    (principal,) = of_type(tenant, "PrincipalAssociation")
    assert principal.inputs["principal"] == account
    (carve,) = of_type(tenant, "dynamic:Resource")
    region = sample_plans["region-us-east-1"].exports["capacity"]["p5.48xlarge@use1-az4"]
    shared = {r.inputs["resourceArn"] for r in of_type(tenant, "ResourceAssociation")}
    assert shared == {carve.outputs["reservation_arn"], region["placementGroupArn"]}


def test_everything_but_the_share_and_the_audit_lands_in_the_tenants_account(sample_plans: dict[str, Plan]) -> None:
    plan = sample_plans[TENANT]
    account = sample_plans["account-acme"].exports["accountId"]
    capacity = sample_plans["org"].exports["capacityAccountId"]  # our capacity account, the org stack's
    log_archive = sample_plans["org"].exports["logArchiveAccountId"]
    landing: dict[str, set[str]] = {}
    for r in plan.as_json()["resources"]:
        if r["account"] is not None:
            landing.setdefault(r["account"], set()).add(r["type"])
    assert landing[capacity] == {
        "aws:ram/resourceShare:ResourceShare",
        "aws:ram/resourceAssociation:ResourceAssociation",
        "aws:ram/principalAssociation:PrincipalAssociation",
    }
    # Through the default provider (the management account): nothing but providers and the carve, which acts as
    # the capacity account's role itself.
    assert landing["ours"] == {"pulumi:providers:aws", "pulumi-python:dynamic:Resource"}
    assert (
        landing[log_archive]
        == {  # the tenant account's audit record, beyond the tenant's reach
            "aws:kms/key:Key",
            "aws:kms/alias:Alias",
            *(f"aws:s3/{kind[0].lower()}{kind[1:]}:{kind}" for kind in SECURE_BUCKET_PARTS),
        }
    )
    assert set(landing) == {"ours", account, capacity, log_archive}
    (carve,) = of_type(plan, "dynamic:Resource")
    assert carve.inputs["role_arn"] == sample_plans["org"].exports["capacityRoleArn"]


# What a SecureBucket with Object Lock is made of.
SECURE_BUCKET_PARTS = (
    "Bucket",
    "BucketOwnershipControls",
    "BucketPublicAccessBlock",
    "BucketServerSideEncryptionConfiguration",
    "BucketVersioning",
    "BucketObjectLockConfiguration",
    "BucketPolicy",
    "BucketLifecycleConfiguration",
)
BLOCK = "cr-0123456789abcdef0"
BLOCK_END = "2026-12-31T11:30:00Z"


def as_block(cfg: dict[str, Any]) -> None:
    cfg["gpucloud:capacity"][0].update(capacityBlockId=BLOCK, capacityBlockEnd=BLOCK_END)


def test_a_capacity_block_tenant_gets_the_whole_block_and_no_placement_group(repo_copy: Path) -> None:
    block = BLOCK
    edit_stack(repo_copy, "region-us-east-1", as_block)
    edit_stack(
        repo_copy,
        TENANT,
        lambda cfg: cfg["gpucloud:nodePool"].update(capacityType="capacity-block", capacityEnds=BLOCK_END),
    )
    plan = Planner(Repository(repo_copy)).plan(TENANT)
    assert not of_type(plan, "dynamic:Resource")
    (lt,) = of_type(plan, "launchTemplate:LaunchTemplate")
    assert "placement" not in lt.inputs
    assert lt.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    target = lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == block
    (shared,) = of_type(plan, "ResourceAssociation")
    assert shared.inputs["resourceArn"].endswith(f":capacity-reservation/{block}")
    assert not plan.violations


def test_the_tenant_account_asks_for_the_vcpu_quota_its_nodes_need(tenant: Plan) -> None:
    quotas = {q.inputs["quotaCode"]: q.inputs for q in of_type(tenant, "ServiceQuota")}
    sku = load_catalog().get("p5.48xlarge")
    assert quotas["L-417A185B"]["serviceCode"] == "ec2"
    assert quotas["L-417A185B"]["value"] == 2 * sku.vcpu
    # the Slurm head node (m7i.2xlarge, 8 vCPUs) counts against the Standard instances' quota
    assert quotas["L-1216C47A"]["value"] == load_catalog().head_node_types["m7i.2xlarge"].vcpu


def test_every_taggable_resource_carries_the_tenant_tags(tenant: Plan) -> None:
    tagged = [r for r in tenant.resources if "tags" in r.inputs]
    assert len(tagged) > 20
    for res in tagged:
        assert res.inputs["tags"][t.TENANT] == "acme", res.urn
        assert res.inputs["tags"][t.REGION] == "us-east-1", res.urn
        assert t.ROLE in res.inputs["tags"], res.urn
    for node in gpu_nodes(tenant):
        assert node.inputs["tags"][t.GPU_TYPE] == "p5.48xlarge", node.urn


def test_region_stacks_tag_region_and_role_only(sample_plans: dict[str, Plan]) -> None:
    for res in sample_plans["region-us-east-1"].resources:
        tags: dict[str, Any] = res.inputs.get("tags", {})
        if tags:
            assert t.TENANT not in tags and tags[t.REGION] == "us-east-1" and t.ROLE in tags, res.urn


def test_buckets_are_private_tls_only_and_versioned(sample_plans: dict[str, Plan]) -> None:
    for plan in sample_plans.values():
        buckets = of_type(plan, "s3/bucket:Bucket")
        for bucket in buckets:
            blocks = [b for b in of_type(plan, "BucketPublicAccessBlock") if b.inputs["bucket"] == bucket.id]
            assert blocks and all(
                blocks[0].inputs[f] is True
                for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            )
            (policy,) = [p for p in of_type(plan, "BucketPolicy") if p.inputs["bucket"] == bucket.id]
            statements = json.loads(policy.inputs["policy"])["Statement"]
            assert any(
                s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in statements
            ), bucket.urn


def test_node_role_reaches_only_the_tenants_bucket_and_key_and_the_ssm_agents_calls(tenant: Plan) -> None:
    (policy,) = [r for r in of_type(tenant, "RolePolicy") if r.name.endswith("node-access")]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    (agent,) = [s for s in statements if s["Sid"] == "SsmAgent"]
    assert not [a for a in agent["Action"] if a.startswith("ssm:Get") or a.endswith("*")]
    resources = {s["Resource"] for s in statements if s["Sid"].startswith("Tenant")}
    bucket = tenant.exports["bucket"]
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*", tenant.exports["kmsKeyArn"]}
    assert {s["Sid"] for s in statements} == {
        "SsmAgent", "TenantBucketList", "TenantBucketObjects", "TenantKey", "PackageMirrorRead", "PackageMirrorDecrypt"
    }  # fmt: skip
    assert not of_type(tenant, "RolePolicyAttachment")  # no AWS managed policy (AmazonSSMManagedInstanceCore)


def test_admin_role_is_bounded_and_ends_only_its_own_sessions(sample_plans: dict[str, Plan]) -> None:
    account = sample_plans["account-acme"]
    (admin,) = [r for r in of_type(account, "iam/role:Role") if r.name.endswith("identity-admin")]
    assert admin.inputs["permissionsBoundary"].startswith("arn:aws:iam::")
    for policy in of_type(account, "iam/policy:Policy") + of_type(account, "RolePolicy"):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            if {"ssm:ResumeSession", "ssm:TerminateSession"} & set(statement["Action"]):
                assert statement["Resource"] == "arn:aws:ssm:*:*:session/${aws:userid}-*", policy.urn
    (boundary,) = of_type(account, "iam/policy:Policy")
    denies = [s for s in json.loads(boundary.inputs["policy"])["Statement"] if s["Effect"] == "Deny"]
    assert {"iam:*", "ec2:DeleteFlowLogs"} <= {
        a for s in denies for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }


def test_the_operator_role_trusts_our_operations_role_only(sample_plans: dict[str, Plan]) -> None:
    roles = of_type(sample_plans["account-acme"], "iam/role:Role")
    (operator,) = [r for r in roles if r.inputs["name"] == "gpucloud-operator"]
    trust = json.loads(operator.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"AWS": "arn:aws:iam::111111111111:role/gpucloud-operations"}]
    assert operator.inputs["path"] == "/gpucloud/"


def test_a_new_account_is_created_in_the_tenant_ou_and_protected(sample_plans: dict[str, Plan]) -> None:
    account = sample_plans["account-acme"]
    (created,) = of_type(account, "organizations/account:Account")
    (ou,) = [r for r in of_type(sample_plans["org"], "OrganizationalUnit") if r.inputs["name"] == "gpucloud-tenants"]
    assert created.inputs["parentId"] == ou.id
    assert created.inputs["email"] == "aws-accounts+acme@example.com"
    assert created.inputs["roleName"] == "OrganizationAccountAccessRole"


def test_an_adopted_account_gets_the_guardrails_attached_directly(repo_copy: Path) -> None:
    def adopt(cfg: dict[str, Any]) -> None:
        del cfg["gpucloud:email"]
        cfg["gpucloud:accountId"] = "210987654321"

    edit_stack(repo_copy, "account-acme", adopt)
    planner = Planner(Repository(repo_copy))
    plan = planner.plan("account-acme")
    assert not of_type(plan, "organizations/account:Account")
    attached = of_type(plan, "organizations/policyAttachment:PolicyAttachment")
    scps = {
        r.id
        for r in of_type(planner.plan("org"), "organizations/policy:Policy")
        if r.inputs["name"].startswith("gpucloud-tenant-")
    }  # the guardrails (tenant-protect once our deployer role is there); the quarantine SCP only when leaving
    assert {a.inputs["policyId"] for a in attached} == scps and len(scps) == 3
    assert {a.inputs["targetId"] for a in attached} == {"210987654321"}
    assert plan.exports["accountId"] == "210987654321"


def test_the_org_stack_guards_the_tenant_ou(sample_plans: dict[str, Plan]) -> None:
    from gpucloud.organization.guardrails import load_guardrails

    org = sample_plans["org"]
    ous = {r.inputs["name"]: r for r in of_type(org, "OrganizationalUnit")}
    ou, quarantine, core = ous["gpucloud-tenants"], ous["gpucloud-quarantine"], ous["gpucloud-core"]
    scps = of_type(org, "organizations/policy:Policy")
    facts = load_guardrails()
    assert len(scps) == 5  # tenant-baseline, -regions, -protect; quarantine; core-baseline
    sids = set()
    for scp in scps:
        assert len(scp.inputs["content"]) <= facts.scp_max_characters, scp.urn
        sids |= {s["Sid"] for s in json.loads(scp.inputs["content"])["Statement"]}
    assert {
        "NoLeavingTheOrganization",
        "RunInstancesOnlyWithImdsV2",
        "OnlyServedRegions",
        "NoCapacityPurchases",
        "NoSharingOut",
        "ProtectGpucloudIam",
        "ProtectFlowLogs",
        "ProtectAuditTrail",
    } <= sids
    attachments = of_type(org, "organizations/policyAttachment:PolicyAttachment")
    assert {a.inputs["targetId"] for a in attachments} == {ou.id, quarantine.id, core.id}
    for target in (ou, quarantine, core):  # FullAWSAccess takes one of AWS's five places on each
        on_it = [a for a in attachments if a.inputs["targetId"] == target.id]
        assert len(on_it) <= facts.scp_max_per_target - 1, target.inputs["name"]
    (trail,) = of_type(org, "cloudtrail/trail:Trail")
    assert trail.inputs["isOrganizationTrail"] is True and trail.inputs["enableLogFileValidation"] is True


def test_log_services_are_admitted_only_with_source_conditions(sample_plans: dict[str, Plan]) -> None:
    for stack in ("org", "region-us-east-1"):
        for res in of_type(sample_plans[stack], "BucketPolicy") + of_type(sample_plans[stack], "kms/key:Key"):
            for statement in json.loads(res.inputs["policy"])["Statement"]:
                if "Service" in (statement.get("Principal") or {}):
                    keys = {k for cond in statement["Condition"].values() for k in cond}
                    assert keys & {"aws:SourceArn", "aws:SourceAccount", "aws:SourceOrgID"}, (res.urn, statement)


def test_nat_egress_is_optional(repo_copy: Path) -> None:
    edit_stack(repo_copy, TENANT, lambda cfg: cfg.__setitem__("gpucloud:egress", "none"))
    plan = Planner(Repository(repo_copy)).plan(TENANT)
    assert not of_type(plan, "NatGateway") and not of_type(plan, "InternetGateway")
    assert not [r for r in of_type(plan, "SecurityGroupEgressRule") if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]


def test_node_count_drives_the_plan(repo_copy: Path) -> None:
    edit_stack(repo_copy, TENANT, lambda cfg: cfg["gpucloud:nodePool"].__setitem__("nodes", 5))
    plan = Planner(Repository(repo_copy)).plan(TENANT)
    assert len(gpu_nodes(plan)) == 5
    assert plan.summary.gpus == 40


def test_capacity_block_capacity_creates_no_reservation(repo_copy: Path) -> None:
    block = BLOCK
    edit_stack(repo_copy, "region-us-east-1", as_block)
    plan = Planner(Repository(repo_copy)).plan("region-us-east-1")
    assert all(r.inputs["instanceType"] != "p5.48xlarge" for r in of_type(plan, "CapacityReservation"))
    assert plan.exports["capacity"]["p5.48xlarge@use1-az4"]["reservationId"] == block
    assert not [g for g in of_type(plan, "PlacementGroup") if "p5-48xlarge-use1-az4" in g.name]  # blocks get none
    assert plan.summary.hourly_usd is None and "Capacity Block" in plan.summary.unpriced[0]


def test_plans_are_deterministic(repo_root: Path, sample_plans: dict[str, Plan]) -> None:
    again = Planner(Repository(repo_root)).plan(TENANT)
    assert again.as_json() == sample_plans[TENANT].as_json()


def test_the_lustre_file_system_waits_for_its_rules_and_clients_admit_the_servers(tenant: Plan) -> None:
    (fs,) = of_type(tenant, "LustreFileSystem")
    rules = of_type(tenant, "SecurityGroupIngressRule") + of_type(tenant, "SecurityGroupEgressRule")
    lustre = [r for r in rules if "lustre" in r.name]
    assert len(lustre) == 12 and {r.urn for r in lustre} <= set(fs.dependencies)
    (nodes_sg,) = [g for g in of_type(tenant, "ec2/securityGroup:SecurityGroup") if g.name.endswith("-nodes")]
    (lustre_sg,) = [g for g in of_type(tenant, "ec2/securityGroup:SecurityGroup") if g.name.endswith("-lustre")]
    client_side = {
        (r.inputs["fromPort"], r.inputs["toPort"])
        for r in of_type(tenant, "SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == nodes_sg.id and r.inputs.get("referencedSecurityGroupId") == lustre_sg.id
    }
    assert client_side == {(988, 988), (1018, 1023)}  # the file servers open connections back to clients


def test_each_node_pins_its_launch_template_version(tenant: Plan) -> None:
    (template,) = of_type(tenant, "launchTemplate:LaunchTemplate")
    for node in gpu_nodes(tenant):
        assert node.inputs["launchTemplate"] == {"id": template.id, "version": str(template.outputs["latestVersion"])}
        assert template.urn in node.deps["launchTemplate"], node.urn


@pytest.mark.parametrize(("root", "image"), [("/dev/sda1", "Ubuntu"), ("/dev/xvda", "Amazon Linux 2023")])
def test_the_encrypted_volume_is_the_amis_own_root_device(repo_copy: Path, root: str, image: str) -> None:
    edit_stack(
        repo_copy,
        "region-us-east-1",
        lambda cfg: cfg["gpucloud:amis"].__setitem__(
            "p5.48xlarge", {"id": "ami-0a1b2c3d4e5f60009", "rootDevice": root}
        ),
    )
    plan = Planner(Repository(repo_copy)).plan(TENANT)
    (lt,) = of_type(plan, "launchTemplate:LaunchTemplate")
    (mapping,) = lt.inputs["blockDeviceMappings"]  # one volume, the root: no blank second disk
    assert mapping["deviceName"] == root, image
    assert mapping["ebs"]["encrypted"] == "true" and mapping["ebs"]["kmsKeyId"] == plan.exports["kmsKeyArn"]
    assert lt.inputs["imageId"] == "ami-0a1b2c3d4e5f60009"


def test_without_nat_nodes_reach_aws_privately_and_dns_answers_aws_names_only(repo_copy: Path) -> None:
    edit_stack(repo_copy, TENANT, lambda cfg: cfg.__setitem__("gpucloud:egress", "none"))
    planner = Planner(Repository(repo_copy))
    plan = planner.plan(TENANT)
    services = {r.inputs["serviceName"].rsplit(".", 1)[-1] for r in of_type(plan, "VpcEndpoint")}
    assert {"ssm", "ssmmessages", "ec2messages", "sts", "logs", "kms", "api", "dkr", "s3"} <= services
    rules = {r.inputs["action"]: r for r in of_type(plan, "ResolverFirewallRule")}
    lists = {r.urn: r.inputs["domains"] for r in of_type(plan, "ResolverFirewallDomainList")}
    allowed = next(d for u, d in lists.items() if u in rules["ALLOW"].deps["firewallDomainListId"])
    blocked = next(d for u, d in lists.items() if u in rules["BLOCK"].deps["firewallDomainListId"])
    assert allowed == ["amazonaws.com.", "*.amazonaws.com."] and blocked == ["*."]
    assert rules["ALLOW"].inputs["priority"] < rules["BLOCK"].inputs["priority"]
    assert rules["BLOCK"].inputs["blockResponse"] == "NXDOMAIN"
    (config,) = of_type(plan, "ResolverFirewallConfig")
    assert config.inputs["firewallFailOpen"] == "DISABLED"
    (association,) = of_type(plan, "ResolverFirewallRuleGroupAssociation")
    assert 100 < association.inputs["priority"] < 9900
    assert not plan.violations


def test_the_s3_endpoint_admits_the_tenants_buckets_and_our_mirror_only(sample_plans: dict[str, Plan]) -> None:
    tenant = sample_plans[TENANT]
    (s3,) = [r for r in of_type(tenant, "VpcEndpoint") if r.inputs["vpcEndpointType"] == "Gateway"]
    statements = {s["Sid"]: s for s in json.loads(s3.inputs["policy"])["Statement"]}
    account = sample_plans["account-acme"].exports["accountId"]
    assert statements["TenantAccountBuckets"]["Condition"] == {"StringEquals": {"aws:ResourceAccount": account}}
    mirror = sample_plans["region-us-east-1"].exports["mirrorBucketArn"]
    assert statements["PackageMirrorReadOnly"]["Resource"] == [mirror, f"{mirror}/*"]
    assert statements["PackageMirrorReadOnly"]["Action"] == ["s3:GetObject", "s3:ListBucket"]
    # and the node role may read the mirror, which admits our organization's principals read-only
    (node,) = [r for r in of_type(tenant, "RolePolicy") if r.name.endswith("node-access")]
    sids = {s["Sid"] for s in json.loads(node.inputs["policy"])["Statement"]}
    assert {"PackageMirrorRead", "PackageMirrorDecrypt"} <= sids
    region = sample_plans["region-us-east-1"]
    mirror_policy = next(json.loads(p.inputs["policy"]) for p in of_type(region, "BucketPolicy") if "mirror" in p.name)
    (reads,) = [s for s in mirror_policy["Statement"] if s.get("Sid") == "OrganizationReadsMirror"]
    assert reads["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg1"}}


def test_a_destroy_keeps_the_tenants_data(tenant: Plan) -> None:
    kept = {r.type for r in tenant.resources if r.retain_on_delete}
    assert kept == {"aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:kms/alias:Alias"}
    for kept_type in ("s3/bucket:Bucket", "kms/key:Key"):  # the tenant's data, and its audit record
        assert len([r for r in of_type(tenant, kept_type) if r.retain_on_delete]) == 2, kept_type
    for bucket in of_type(tenant, "s3/bucket:Bucket"):
        assert bucket.inputs["forceDestroy"] is False
    (fs,) = of_type(tenant, "LustreFileSystem")
    assert fs.inputs["skipFinalBackup"] is False


def test_the_region_plan_prices_each_commitment_by_the_hour_and_the_month(sample_plans: dict[str, Plan]) -> None:
    summary = sample_plans["region-us-east-1"].summary
    lines = {line["item"]: line for line in summary.as_json()["cost"]}
    p5 = lines["p5.48xlarge reservation use1-az4"]
    price = load_catalog().get("p5.48xlarge").price_usd_hour
    assert price is not None
    assert p5["quantity"] == 16 and p5["usd_hour"] == round(16 * price, 4)
    assert p5["usd_month"] == round(16 * price * 730, 2)
    assert {item for item in lines if "reservation" in item} == {
        "p5.48xlarge reservation use1-az4",
        "p5en.48xlarge reservation use1-az6",
        "p6-b200.48xlarge reservation use1-az4",
        "g6e.48xlarge reservation use1-az2",
    }


# --- our deployer role: the one principal the guardrails exempt (issue 21, 3) ------------------------------------


def test_the_account_stack_makes_our_deployer_then_protects_the_account(sample_plans: dict[str, Plan]) -> None:
    from gpucloud.plan.mocks import MOCK_ACCOUNT

    plan = sample_plans["account-acme"]
    (deployer,) = [r for r in of_type(plan, "iam/role:Role") if r.inputs["name"] == "gpucloud-deployer"]
    assert deployer.inputs["path"] == "/gpucloud-org/"
    trust = json.loads(deployer.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"AWS": f"arn:aws:iam::{MOCK_ACCOUNT}:root"}]  # our management account
    (protect,) = of_type(plan, "organizations/policyAttachment:PolicyAttachment")
    (scp,) = [r for r in of_type(sample_plans["org"], "organizations/policy:Policy")
              if r.inputs["name"] == "gpucloud-tenant-protect"]  # fmt: skip
    assert protect.inputs["policyId"] == scp.id and protect.inputs["targetId"] == plan.exports["accountId"]
    assert deployer.urn in protect.dependencies  # under tenant-protect, only the deployer could make the deployer
    assert plan.exports["deployerRoleArn"] == f"arn:aws:iam::{MOCK_ACCOUNT}:role/gpucloud-org/gpucloud-deployer"
    providers = {r.urn: r for r in plan.resources if r.type == "pulumi:providers:aws"}
    for res in of_type(plan, "iam/role:Role") + of_type(plan, "AccountPublicAccessBlock"):
        if res is deployer:
            continue
        (assumed,) = json.loads(providers[res.provider].inputs["assumeRoles"])
        assert assumed["roleArn"] == plan.exports["deployerRoleArn"], res.urn


def test_a_tenant_stack_acts_through_the_deployer_role(sample_plans: dict[str, Plan]) -> None:
    deployer = sample_plans["account-acme"].exports["deployerRoleArn"]
    tenant = sample_plans[TENANT]
    (provider,) = [r for r in tenant.resources if r.type == "pulumi:providers:aws" and r.name.endswith("-account")]
    (assumed,) = json.loads(provider.inputs["assumeRoles"])
    assert assumed["roleArn"] == deployer


def test_a_role_on_our_path_that_we_did_not_make_stops_the_account_stack(
    repo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In an adopted account, a role the tenant made on /gpucloud-org/ before tenant-protect was attached would be
    exempt from every guardrail: nothing more is built there, and the error names it."""
    from gpucloud.plan.mocks import PlanMocks

    answer = PlanMocks.call

    def listing(self: PlanMocks, args: Any) -> Any:
        if args.token == "aws:iam/getRoles:getRoles":
            return {"arns": [], "names": ["gpucloud-deployer", "made-by-the-tenant"], "id": "x"}, []
        return answer(self, args)

    monkeypatch.setattr(PlanMocks, "call", listing)
    with pytest.raises(Exception, match="made-by-the-tenant") as raised:
        Planner(Repository(repo_copy)).plan("account-acme")
    assert "/gpucloud-org/" in str(raised.value) and "gpucloud-deployer," not in str(raised.value)


# --- flow logs delivered per tenant account (issue 21, 5) ----------------------------------------------------------


def _audit_policy(plan: Plan) -> list[dict[str, Any]]:
    (audit,) = [r for r in of_type(plan, "BucketPolicy") if "TenantAudit" in r.urn]
    statements: list[dict[str, Any]] = json.loads(audit.inputs["policy"])["Statement"]
    return statements


def _delivery(plan: Plan) -> list[dict[str, Any]]:
    return [s for s in _audit_policy(plan) if s.get("Principal") == {"Service": "delivery.logs.amazonaws.com"}]


def test_the_tenants_audit_bucket_admits_its_account_alone_under_its_own_prefix(
    sample_plans: dict[str, Plan],
) -> None:
    acme = sample_plans["account-acme"].exports["accountId"]
    tenant = sample_plans[TENANT]
    statements = _delivery(tenant)
    (write,) = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert write["Resource"].rsplit("/AWSLogs/", 1)[1] == f"{acme}/*"
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == acme
    assert write["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:logs:us-east-1:{acme}:*"
    assert not [s for s in _audit_policy(tenant) if "aws:SourceOrgID" in json.dumps(s)]
    (flow_log,) = of_type(tenant, "ec2/flowLog:FlowLog")
    (bucket,) = [r for r in of_type(tenant, "s3/bucket:Bucket") if "TenantAudit" in r.urn]
    assert flow_log.inputs["logDestination"] == bucket.outputs["arn"]
    (policy,) = [r for r in of_type(tenant, "BucketPolicy") if "TenantAudit" in r.urn]
    assert policy.urn in flow_log.dependencies  # AWS checks the bucket admits the delivery when the log is made
    for region in ("region-us-east-1", "region-eu-north-1"):  # no region-wide bucket that lists every tenant
        assert not [
            r for r in sample_plans[region].resources if (r.inputs.get("tags") or {}).get("gpucloud:role") == "audit"
        ]


def test_a_second_tenant_gets_a_bucket_of_its_own_and_the_region_plan_is_unchanged(
    repo_copy: Path, sample_plans: dict[str, Plan]
) -> None:
    from conftest import read_stack, write_stack

    for kind, old, new in (("account", "account-acme", "account-bolt"), ("tenant", TENANT, "tenant-bolt-us-east-1")):
        doc = read_stack(repo_copy, old)
        doc["config"]["gpucloud:tenant"] = "bolt"
        if kind == "account":
            doc["config"]["gpucloud:email"] = "aws-accounts+bolt@example.com"
        else:
            doc["config"]["gpucloud:cidr"] = "10.16.16.0/20"
        write_stack(repo_copy, new, doc)
    planner = Planner(Repository(repo_copy))
    bolt = planner.plan("account-bolt").exports["accountId"]
    (write,) = [s for s in _delivery(planner.plan("tenant-bolt-us-east-1")) if s["Action"] == "s3:PutObject"]
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == bolt
    assert write["Resource"].endswith(f"/AWSLogs/{bolt}/*")
    buckets = {planner.plan(f"tenant-{t}-us-east-1").exports["auditBucket"] for t in ("acme", "bolt")}
    assert len(buckets) == 2
    region = planner.plan("region-us-east-1")
    assert [r.inputs for r in region.resources] == [r.inputs for r in sample_plans["region-us-east-1"].resources]


def test_an_admin_principal_in_an_account_of_our_organization_stops_the_account_stack(
    repo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 (7): the registry knows adopted accounts only; at `pulumi up`, Organizations lists them all (our
    log-archive, security and capacity accounts, every new tenant account), and none may hold an admin principal."""
    from gpucloud.plan.mocks import PlanMocks

    answer = PlanMocks.call

    def members(self: PlanMocks, args: Any) -> Any:
        if args.token == "aws:organizations/getOrganization:getOrganization":
            return {"id": "o-x", "accounts": [{"id": "111122223333"}, {"id": "123456789012"}]}, []
        return answer(self, args)

    monkeypatch.setattr(PlanMocks, "call", members)
    with pytest.raises(Exception, match=r"arn:aws:iam::111122223333:role/AcmeAdmins belong to an account of our"):
        Planner(Repository(repo_copy)).plan("account-acme")


def test_our_operator_role_is_assumed_only_in_a_session_that_names_the_person(sample_plans: dict[str, Plan]) -> None:
    """Issue 21 (6): CloudTrail should name the person behind every operator session, not only the shared role."""
    from gpucloud.organization.scp_eval import Request, allowing_statements

    roles = of_type(sample_plans["account-acme"], "iam/role:Role")
    (operator,) = [r for r in roles if r.inputs["name"] == "gpucloud-operator"]
    trust = json.loads(operator.inputs["assumeRolePolicy"])
    ops = "arn:aws:iam::111111111111:role/gpucloud-operations"
    assert not allowing_statements([trust], Request("sts:AssumeRole", ops, "*", {}))
    named = {"sts:SourceIdentity": "alice@example.com"}
    assert allowing_statements([trust], Request("sts:AssumeRole", ops, "*", named))
    assert allowing_statements([trust], Request("sts:SetSourceIdentity", ops, "*", named))  # carried on in the chain


def test_the_data_steps_have_an_operator_role_of_their_own(sample_plans: dict[str, Plan]) -> None:
    """Issue 21 (6): one operations role per duty. Offboarding's data steps went through the deployer (all rights);
    now a data-operator role, trusted by our data-operations role alone and only in a session naming the person."""
    from gpucloud.organization.scp_eval import Request, allowing_statements

    roles = {r.inputs["name"]: r for r in of_type(sample_plans["account-acme"], "iam/role:Role")}
    data = roles["gpucloud-data-operator"]
    trust = json.loads(data.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111111111111:role/gpucloud-data-operations"}
    assert statement["Condition"] == {"StringLike": {"sts:SourceIdentity": "*"}}
    (policy,) = [r for r in of_type(sample_plans["account-acme"], "iam/rolePolicy:RolePolicy")
                 if r.name.endswith("data-operator-access")]  # fmt: skip
    doc = json.loads(policy.inputs["policy"])
    own = {"aws:ResourceAccount": "123456789012", "aws:PrincipalAccount": "123456789012"}
    resolved = json.loads(json.dumps(doc).replace("${aws:PrincipalAccount}", "123456789012"))

    def allowed(action: str, resource: str) -> bool:
        return bool(allowing_statements([resolved], Request(action, data.outputs["arn"], resource, own)))

    assert allowed("s3:PutLifecycleConfiguration", "arn:aws:s3:::acme-data")
    assert allowed("s3:DeleteBucket", "arn:aws:s3:::acme-data")
    assert allowed("kms:ScheduleKeyDeletion", "arn:aws:kms:us-east-1:123456789012:key/k")
    assert not allowed("s3:GetObject", "arn:aws:s3:::acme-data/checkpoints/model.safetensors")  # reads no data
    assert not allowed("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k")
    assert sample_plans["account-acme"].exports["dataOperatorRoleArn"] == data.outputs["arn"]


def test_an_adopted_account_whose_access_role_trusts_another_principal_stops_the_stack(
    repo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 (3): in an invited account someone made the access role by hand; whoever else it trusts could make
    our deployer before we do. Its trust is read at `pulumi up`, and anything but our management account stops it."""
    from gpucloud.plan.mocks import MOCK_ACCOUNT, PlanMocks

    def adopt(cfg: dict[str, Any]) -> None:
        del cfg["gpucloud:email"]
        cfg["gpucloud:accountId"] = "210987654321"

    edit_stack(repo_copy, "account-acme", adopt)
    planner = Planner(Repository(repo_copy))
    assert planner.plan("account-acme").exports["deployerRoleArn"]  # trusting us alone (the mock's answer): fine

    answer = PlanMocks.call
    extra = "arn:aws:iam::210987654321:role/TenantOps"

    def trusting_the_tenant(self: PlanMocks, args: Any) -> Any:
        if args.token == "aws:iam/getRole:getRole":
            principals = [f"arn:aws:iam::{MOCK_ACCOUNT}:root", extra]
            trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}]}
            return {"id": "x", "name": "x", "arn": "x", "assumeRolePolicy": json.dumps(trust)}, []
        return answer(self, args)

    monkeypatch.setattr(PlanMocks, "call", trusting_the_tenant)
    with pytest.raises(Exception, match=f"OrganizationAccountAccessRole also trusts AWS:{extra}"):
        Planner(Repository(repo_copy)).plan("account-acme")


def test_foreign_trustees_are_every_principal_outside_the_management_account() -> None:
    from gpucloud.components.deployer_role import foreign_trustees

    def trust(*statements: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    ours = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}
    assert foreign_trustees(trust(ours), "111111111111") == []
    assert foreign_trustees(trust({**ours, "Principal": "*"}), "111111111111") == ["*:*"]
    assert foreign_trustees(trust({**ours, "Principal": {"Service": "ec2.amazonaws.com"}}), "111111111111") == [
        "Service:ec2.amazonaws.com"
    ]
    assert foreign_trustees(trust({**ours, "Effect": "Deny", "Principal": "*"}), "111111111111") == []
    assert foreign_trustees("not json", "111111111111") == ["an unreadable trust policy 'not json'"]
