"""The tenant OU's guardrails, asked what they deny: the SCP documents the org stack's plan attaches, evaluated
for the principals of a tenant account (gpucloud.organization.scp_eval), and the evaluator itself on IAM's rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import edit_stack

from gpucloud.organization.guardrails import load_guardrails
from gpucloud.organization.scp_eval import Request, UnknownOperator, denying_statements
from gpucloud.plan.offline import Plan, Planner
from gpucloud.repo import Repository

ROOT_USER = "arn:aws:iam::123456789012:root"
TENANT_ROLE = "arn:aws:iam::123456789012:role/TenantAdmins"
# A role of the name AWS gives the access role: in an adopted account, one anybody could have made by hand.
ACCESS_ROLE = "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"
DEPLOYER = "arn:aws:iam::123456789012:role/gpucloud-org/gpucloud-deployer"
SERVED = {"aws:RequestedRegion": "us-east-1"}
IMDSV2 = {**SERVED, "ec2:MetadataHttpTokens": "required", "ec2:MetadataHttpPutResponseHopLimit": "2"}
PATH = load_guardrails().iam_path
ORG_PATH = load_guardrails().org_role_path


@pytest.fixture(scope="module")
def guardrails(sample_plans: dict[str, Plan]) -> list[dict[str, Any]]:
    """What binds a tenant account in the tenant OU: the SCP documents on the OU and the one on each account."""
    return binding(sample_plans["org"], "gpucloud-tenants")


def attached_to(org: Plan, ou_name: str) -> list[dict[str, Any]]:
    """The SCP documents the org plan attaches to the OU named ``ou_name``."""
    (ou,) = [r for r in org.resources if r.type.endswith("OrganizationalUnit") and r.inputs["name"] == ou_name]
    attachments = [a for a in org.resources if a.type == "aws:organizations/policyAttachment:PolicyAttachment"]
    on_it = {a.inputs["policyId"] for a in attachments if a.inputs["targetId"] == ou.id}
    return [json.loads(r.inputs["content"]) for r in org.resources if r.id in on_it]


def binding(org: Plan, ou_name: str) -> list[dict[str, Any]]:
    """The documents on the OU and tenant-protect, which every account stack attaches to its account."""
    (protect,) = [r for r in org.resources if r.inputs.get("name") == "gpucloud-tenant-protect"]
    return [*attached_to(org, ou_name), json.loads(protect.inputs["content"])]


def denied(documents: list[dict[str, Any]], action: str, principal: str, resource: str = "*", **context: str) -> bool:
    return bool(denying_statements(documents, Request(action, principal, resource, {**SERVED, **context})))


@pytest.mark.parametrize("action", ["ec2:RunInstances", "iam:CreateUser", "iam:CreateAccessKey", "s3:GetObject"])
def test_the_root_user_of_a_tenant_account_can_do_nothing(guardrails: list[dict[str, Any]], action: str) -> None:
    assert denying_statements(guardrails, Request(action, ROOT_USER, "*", IMDSV2)) == ["NoRootUser"]


def test_a_privileged_root_session_from_our_management_account_is_not_the_root_user(
    guardrails: list[dict[str, Any]],
) -> None:
    """sts:AssumeRoot (centralized root access) sets aws:AssumedRoot: AWS's example SCP lets that session through."""
    session = Request("s3:DeleteBucketPolicy", ROOT_USER, "arn:aws:s3:::b", {**SERVED, "aws:AssumedRoot": "true"})
    assert denying_statements(guardrails, session) == []


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("sagemaker:CreateTrainingPlan", "*"),
        ("ec2:AllocateHosts", "*"),
        ("rds:PurchaseReservedDBInstancesOffering", "*"),
        ("aws-marketplace:Subscribe", "*"),
        ("servicequotas:RequestServiceQuotaIncrease", "*"),
        ("iam:CreateRole", f"arn:aws:iam::123456789012:role{PATH}gpucloud-tenant-admin"),
        ("iam:TagRole", f"arn:aws:iam::123456789012:role{PATH}gpucloud-operator"),
        ("iam:CreateInstanceProfile", f"arn:aws:iam::123456789012:instance-profile{PATH}x"),
        ("ec2:CreateFlowLogs", "*"),
        ("ec2:DeleteFlowLogs", "*"),
        ("s3:PutAccountPublicAccessBlock", "*"),
    ],
)
def test_a_role_the_tenant_made_cannot_buy_capacity_or_touch_what_is_ours(
    guardrails: list[dict[str, Any]], action: str, resource: str
) -> None:
    assert denied(guardrails, action, TENANT_ROLE, resource)


def test_the_tenant_still_runs_its_own_workloads(guardrails: list[dict[str, Any]]) -> None:
    """The guardrails cap, they do not lock the tenant out: an IMDSv2 launch, its own roles and buckets pass."""
    assert not denied(guardrails, "ec2:RunInstances", TENANT_ROLE, "arn:aws:ec2:us-east-1:1:instance/*", **IMDSV2)
    assert not denied(guardrails, "iam:CreateRole", TENANT_ROLE, "arn:aws:iam::123456789012:role/team/trainer")
    assert not denied(guardrails, "s3:PutObject", TENANT_ROLE, "arn:aws:s3:::acme-data/x")
    assert denied(guardrails, "ec2:RunInstances", TENANT_ROLE, "arn:aws:ec2:us-east-1:1:instance/*")  # no IMDSv2
    assert denied(guardrails, "s3:PutObject", TENANT_ROLE, "*", **{"aws:RequestedRegion": "ap-south-1"})


def test_our_stacks_still_build_in_the_account(guardrails: list[dict[str, Any]]) -> None:
    """What the tenant stack does through our deployer role (roles under our path, flow logs, quotas) passes."""
    for action, resource in [
        ("iam:CreateRole", f"arn:aws:iam::123456789012:role{PATH}gpucloud-operator"),
        ("iam:PutRolePermissionsBoundary", f"arn:aws:iam::123456789012:role{PATH}gpucloud-tenant-admin"),
        ("ec2:CreateFlowLogs", "*"),
        ("servicequotas:RequestServiceQuotaIncrease", "*"),
    ]:
        assert not denied(guardrails, action, DEPLOYER, resource), action
    # ...but nothing exempts our stacks from the capacity statement: capacity is bought in our account.
    assert denied(guardrails, "ec2:PurchaseCapacityBlock", DEPLOYER)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::123456789012:role{PATH}gpucloud-operator"),
        ("iam:DeleteRolePermissionsBoundary", f"arn:aws:iam::123456789012:role{PATH}gpucloud-tenant-admin"),
        ("ec2:DeleteFlowLogs", "*"),
        ("ec2:ModifyInstanceMetadataOptions", "*"),
        ("cloudtrail:StopLogging", "*"),
        ("iam:CreateRole", f"arn:aws:iam::123456789012:role{ORG_PATH}gpucloud-deployer"),
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::123456789012:role{ORG_PATH}gpucloud-deployer"),
    ],
)
def test_a_role_named_like_the_access_role_gets_no_exemption(
    guardrails: list[dict[str, Any]], action: str, resource: str
) -> None:
    """Issue 21 (2): every protective statement exempted role/OrganizationAccountAccessRole by name, and in an
    adopted account a tenant can make that role itself. Our path is exempt; no name is."""
    assert denied(guardrails, action, ACCESS_ROLE, resource)


def test_no_role_but_one_on_our_path_creates_a_role_on_our_path(guardrails: list[dict[str, Any]]) -> None:
    made_there = f"arn:aws:iam::123456789012:role{ORG_PATH}second"
    assert denied(guardrails, "iam:CreateRole", TENANT_ROLE, made_there)
    assert denied(guardrails, "iam:CreateRole", ROOT_USER, made_there)
    assert not denied(guardrails, "iam:CreateRole", DEPLOYER, made_there)


def test_the_org_stack_turns_on_centralized_root_access(sample_plans: dict[str, Plan]) -> None:
    org = sample_plans["org"]
    (access,) = [r for r in org.resources if r.type == "aws:organizations/awsServiceAccess:AwsServiceAccess"
                 and r.inputs["servicePrincipal"] == "iam.amazonaws.com"]  # fmt: skip
    (features,) = [r for r in org.resources if r.type == "aws:iam/organizationsFeatures:OrganizationsFeatures"]
    assert sorted(features.inputs["enabledFeatures"]) == ["RootCredentialsManagement", "RootSessions"]
    assert access.urn in features.dependencies  # IAM's trusted access first, as AWS requires


def test_every_tenant_account_blocks_public_s3_at_the_account_level(sample_plans: dict[str, Plan]) -> None:
    account = sample_plans["account-acme"]
    (block,) = [r for r in account.resources if r.type == "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"]
    assert all(
        block.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert block.provider is not None and "provider" in block.provider  # in the tenant's account, not ours


# --- the evaluator, on IAM's rules ---------------------------------------------------------------------------------


def statement(**fields: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "S", "Effect": "Deny", "Resource": "*", **fields}]}


def test_a_negated_operator_holds_when_the_key_is_absent_and_a_positive_one_does_not() -> None:
    negated = statement(Action="*", Condition={"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}})
    positive = statement(Action="*", Condition={"StringEquals": {"aws:RequestedRegion": ["eu-west-1"]}})
    bare = Request("s3:GetObject", TENANT_ROLE)
    assert denying_statements([negated], bare) == ["S"]
    assert denying_statements([positive], bare) == []


def test_null_arn_like_and_not_action() -> None:
    root = statement(Action="*", Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}})
    assert denying_statements([root], Request("x:Y", ROOT_USER)) == ["S"]
    assert denying_statements([root], Request("x:Y", TENANT_ROLE)) == []
    null = statement(Action="*", Condition={"Null": {"aws:AssumedRoot": "true"}})
    assert denying_statements([null], Request("x:Y", ROOT_USER, "*", {"aws:AssumedRoot": "true"})) == []
    assert denying_statements([null], Request("x:Y", ROOT_USER)) == ["S"]
    not_action = statement(NotAction=["iam:*", "sts:*"])
    assert denying_statements([not_action], Request("IAM:CreateRole", TENANT_ROLE)) == []  # actions: any case
    assert denying_statements([not_action], Request("ec2:RunInstances", TENANT_ROLE)) == ["S"]


def test_resources_match_with_wildcards_and_case() -> None:
    doc = statement(Action="iam:CreateRole", Resource=["arn:aws:iam::*:role/gpucloud/*"])
    assert denying_statements([doc], Request("iam:CreateRole", TENANT_ROLE, "arn:aws:iam::1:role/gpucloud/x"))
    assert not denying_statements([doc], Request("iam:CreateRole", TENANT_ROLE, "arn:aws:iam::1:role/GPUCLOUD/x"))


def test_an_operator_it_does_not_know_is_an_error_not_a_pass() -> None:
    doc = statement(Action="*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    with pytest.raises(UnknownOperator):
        denying_statements([doc], Request("s3:GetObject", TENANT_ROLE, "*", {"aws:SourceIp": "10.1.1.1"}))


# --- leaving: the quarantine OU ------------------------------------------------------------------------------------


def _leaving(cfg: dict[str, Any]) -> None:
    cfg["gpucloud:leaving"] = "2026-12-07"


def test_a_leaving_account_is_moved_into_the_quarantine_ou(repo_copy: Path) -> None:
    edit_stack(repo_copy, "account-acme", _leaving)
    planner = Planner(Repository(repo_copy))
    (quarantine,) = [
        r
        for r in planner.plan("org").resources
        if r.inputs.get("name") == "gpucloud-quarantine" and r.type.endswith("Unit")
    ]
    (account,) = [r for r in planner.plan("account-acme").resources if r.type == "aws:organizations/account:Account"]
    assert account.inputs["parentId"] == quarantine.id


def test_a_leaving_adopted_account_keeps_the_quarantine_scp_after_its_stack_is_destroyed(repo_copy: Path) -> None:
    def adopt_and_leave(cfg: dict[str, Any]) -> None:
        del cfg["gpucloud:email"]
        cfg["gpucloud:accountId"] = "210987654321"
        _leaving(cfg)

    edit_stack(repo_copy, "account-acme", adopt_and_leave)
    planner = Planner(Repository(repo_copy))
    (shut,) = [r for r in planner.plan("org").resources if r.inputs.get("name") == "gpucloud-quarantine"
               and r.type == "aws:organizations/policy:Policy"]  # fmt: skip
    attached = [r for r in planner.plan("account-acme").resources if r.inputs.get("policyId") == shut.id]
    assert len(attached) == 1 and attached[0].inputs["targetId"] == "210987654321"
    assert attached[0].retain_on_delete  # `pulumi destroy` of the account stack leaves the account shut


def test_in_quarantine_the_tenant_can_do_nothing_and_our_stacks_can_still_clean_up(
    sample_plans: dict[str, Plan],
) -> None:
    assert len(attached_to(sample_plans["org"], "gpucloud-quarantine")) == 3  # 2 guardrails, quarantine SCP
    documents = binding(sample_plans["org"], "gpucloud-quarantine")
    assert denied(documents, "ec2:RunInstances", TENANT_ROLE, "*", **IMDSV2)
    assert denied(documents, "s3:GetObject", TENANT_ROLE, "arn:aws:s3:::acme-data/x")
    assert denied(documents, "s3:GetObject", ACCESS_ROLE, "arn:aws:s3:::acme-data/x")
    assert not denied(documents, "iam:DeleteRole", DEPLOYER, f"arn:aws:iam::123456789012:role{PATH}x")


# --- our operator role in a tenant account -------------------------------------------------------------------------


def test_our_operator_stages_files_only_under_instance_ids_and_uses_the_key_only_through_s3() -> None:
    """Issue 21 (6): it read, wrote and deleted any object of the tenant's account, and decrypted with its keys."""
    from gpucloud.components.account_identity import operator_statements
    from gpucloud.organization.scp_eval import allowing_statements

    policy = {"Version": "2012-10-17", "Statement": operator_statements("acme")}
    operator = "arn:aws:iam::123456789012:role/gpucloud/gpucloud-operator"
    own = {"aws:ResourceAccount": "123456789012", "aws:PrincipalAccount": "123456789012"}

    def allowed(action: str, resource: str, **context: str) -> bool:
        request = Request(action, operator, resource, {**own, **context})
        # aws:ResourceAccount is compared with the policy variable ${aws:PrincipalAccount}: resolve it as IAM does.
        statements = json.loads(json.dumps(policy).replace("${aws:PrincipalAccount}", own["aws:PrincipalAccount"]))
        return bool(allowing_statements([statements], request))

    assert allowed("s3:PutObject", "arn:aws:s3:::acme-data/i-0123456789abcdef0/tmp/ansible-x")
    assert allowed("s3:GetObject", "arn:aws:s3:::acme-data/i-0123456789abcdef0/tmp/ansible-x")
    assert allowed("s3:ListBucket", "arn:aws:s3:::acme-data")  # HeadBucket
    assert not allowed("s3:GetObject", "arn:aws:s3:::acme-data/checkpoints/model.safetensors")
    assert not allowed("s3:DeleteObject", "arn:aws:s3:::acme-data/datasets/train.tar")
    assert allowed(
        "kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k", **{"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    )
    assert not allowed("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k")  # directly: no
    other = {"aws:ResourceAccount": "999999999999"}
    assert not allowed("s3:GetObject", "arn:aws:s3:::other-tenant/i-0123456789abcdef0/x", **other)
