"""Our accounts by duty (issue 21, 1): what each stack builds where, on the offline plans of the sample stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import edit_stack

from gpucloud.errors import ConfigError
from gpucloud.names import check_tenant_name
from gpucloud.plan.mocks import RecordedResource
from gpucloud.plan.offline import Plan, Planner
from gpucloud.repo import Repository


def of_type(plan: Plan, suffix: str) -> list[RecordedResource]:
    return [r for r in plan.resources if r.type.endswith(suffix)]


def accounts_of(plan: Plan) -> dict[str, str | None]:
    """Each resource's URN -> the account it lands in ("ours": the management account, the default provider)."""
    return {r["urn"]: r["account"] for r in plan.as_json()["resources"]}


@pytest.fixture(scope="module")
def org(sample_plans: dict[str, Plan]) -> Plan:
    return sample_plans["org"]


def test_the_org_stack_creates_our_accounts_in_an_ou_of_ours(org: Plan) -> None:
    (core,) = [r for r in of_type(org, "OrganizationalUnit") if r.inputs["name"] == "gpucloud-core"]
    created = {r.inputs["name"]: r for r in of_type(org, "organizations/account:Account")}
    assert set(created) == {"gpucloud log-archive", "gpucloud security", "gpucloud capacity"}
    for duty, account in ((n.split()[1], a) for n, a in created.items()):
        assert account.inputs["parentId"] == core.id  # not the tenant OU: the capacity account buys capacity
        assert account.inputs["email"] == f"aws-accounts+{duty}@example.com"  # our mailbox, plus-addressed
        assert account.protect and account.inputs["closeOnDeletion"] is False
        assert org.exports[f"{duty.replace('-a', 'A')}AccountId"] == account.id
    core_docs = [
        json.loads(p.inputs["content"]) for p in of_type(org, "organizations/policy:Policy")
        if p.inputs["name"] == "gpucloud-core-baseline"
    ]  # fmt: skip
    assert [s["Sid"] for d in core_docs for s in d["Statement"]] == ["NoRootUser", "NoLeavingTheOrganization"]


def test_the_management_account_holds_the_organization_and_nothing_else(org: Plan) -> None:
    where = accounts_of(org)
    in_management = {r.type for r in org.resources if r.custom and where[r.urn] == "ours"}
    assert in_management == {
        "aws:organizations/organizationalUnit:OrganizationalUnit",
        "aws:organizations/policy:Policy",
        "aws:organizations/policyAttachment:PolicyAttachment",
        "aws:organizations/account:Account",
        "aws:organizations/awsServiceAccess:AwsServiceAccess",
        "aws:organizations/delegatedAdministrator:DelegatedAdministrator",
        "aws:cloudtrail/organizationDelegatedAdminAccount:OrganizationDelegatedAdminAccount",
        "aws:iam/organizationsFeatures:OrganizationsFeatures",
        "pulumi:providers:aws",
    }


def test_the_trail_bucket_is_in_the_log_archive_and_locked(org: Plan) -> None:
    where = accounts_of(org)
    log_archive = org.exports["logArchiveAccountId"]
    (bucket,) = of_type(org, "s3/bucket:Bucket")
    (key,) = of_type(org, "kms/key:Key")
    assert where[bucket.urn] == where[key.urn] == log_archive
    assert bucket.inputs["objectLockEnabled"] is True
    (lock,) = of_type(org, "BucketObjectLockConfiguration")
    retention = lock.inputs["rule"]["defaultRetention"]
    assert (retention["mode"], retention["days"]) == ("COMPLIANCE", 400)  # the org config's auditRetentionDays
    assert org.exports["auditBucketArn"] == bucket.outputs["arn"]
    # the key's administrator is the log-archive account, not the management account
    admin = json.loads(key.inputs["policy"])["Statement"][0]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{log_archive}:root"}


def test_the_security_account_runs_the_trail_and_config_as_delegated_administrator(org: Plan) -> None:
    where = accounts_of(org)
    security = org.exports["securityAccountId"]
    (trail,) = of_type(org, "cloudtrail/trail:Trail")
    assert where[trail.urn] == security and trail.inputs["isOrganizationTrail"] is True
    (delegated,) = of_type(org, "OrganizationDelegatedAdminAccount")
    assert delegated.inputs["accountId"] == security and delegated.urn in trail.dependencies
    config_admins = of_type(org, "organizations/delegatedAdministrator:DelegatedAdministrator")
    assert {a.inputs["servicePrincipal"] for a in config_admins} == {
        "config.amazonaws.com",
        "config-multiaccountsetup.amazonaws.com",
    }
    assert {a.inputs["accountId"] for a in config_admins} == {security}
    (bucket,) = of_type(org, "s3/bucket:Bucket")
    selectors = {s["name"]: s["fieldSelectors"] for s in trail.inputs["advancedEventSelectors"]}
    data = {f["field"]: f for f in selectors["Who reads or writes the audit record"]}
    (recorded,) = data["resources.ARN"]["startsWiths"]
    assert recorded == "arn:aws:s3:::gpucloud-audit-" and bucket.outputs["arn"].startswith(recorded)
    assert selectors["Management events"] == [{"field": "eventCategory", "equals": ["Management"]}]
    rules = {r.inputs["ruleIdentifier"] for r in of_type(org, "OrganizationManagedRule")}
    assert rules == {"VPC_FLOW_LOGS_ENABLED", "EC2_IMDSV2_CHECK", "S3_ACCOUNT_LEVEL_PUBLIC_ACCESS_BLOCKS_PERIODIC"}
    for res in [*of_type(org, "OrganizationManagedRule"), *of_type(org, "ConfigurationAggregator")]:
        assert where[res.urn] == security
        assert {a.urn for a in config_admins} <= set(res.dependencies)  # after the delegation


def test_the_region_builds_in_the_capacity_account_and_the_tenant_audit_in_the_log_archive(
    sample_plans: dict[str, Plan], org: Plan
) -> None:
    region = sample_plans["region-us-east-1"]
    where = accounts_of(region)
    log_archive, capacity = org.exports["logArchiveAccountId"], org.exports["capacityAccountId"]
    buckets = {r.inputs["tags"]["gpucloud:role"]: r for r in of_type(region, "s3/bucket:Bucket")}
    assert set(buckets) == {"package-mirror"} and where[buckets["package-mirror"].urn] == capacity
    tenant = sample_plans["tenant-acme-us-east-1"]
    (audit,) = [r for r in of_type(tenant, "s3/bucket:Bucket") if r.inputs["tags"]["gpucloud:role"] == "audit"]
    assert accounts_of(tenant)[audit.urn] == log_archive and audit.inputs["objectLockEnabled"] is True
    assert audit.inputs["bucketPrefix"] == "gpucloud-audit-us-east-1-"
    assert (region.exports["logArchiveAccountId"], region.exports["auditRetentionDays"]) == (log_archive, 400)
    for res in of_type(region, "capacityReservation:CapacityReservation") + of_type(region, "PlacementGroup"):
        assert where[res.urn] == capacity, res.urn
    assert "ours" not in {where[r.urn] for r in region.resources if r.custom and not r.type.startswith("pulumi:")}
    assert region.exports["capacityAccountId"] == capacity
    assert region.exports["capacityRoleArn"] == f"arn:aws:iam::{capacity}:role/OrganizationAccountAccessRole"


@pytest.mark.parametrize("duty", ["log-archive", "security", "capacity"])
def test_our_duties_are_not_tenant_names(duty: str) -> None:
    """Their accounts' e-mails are the mailbox plus-addressed with the duty: a tenant of that name would collide."""
    with pytest.raises(ConfigError, match="reserved"):
        check_tenant_name(duty)


@pytest.mark.parametrize("value", [0, -3, "a year", 40000])
def test_audit_retention_must_be_a_number_of_days(repo_copy: Path, value: Any) -> None:
    edit_stack(repo_copy, "org", lambda cfg: cfg.__setitem__("gpucloud:auditRetentionDays", value))
    with pytest.raises(ConfigError, match="auditRetentionDays"):
        Repository(repo_copy).load("org")


def test_audit_retention_sets_the_lock_of_the_trail_and_of_the_flow_logs(repo_copy: Path) -> None:
    edit_stack(repo_copy, "org", lambda cfg: cfg.__setitem__("gpucloud:auditRetentionDays", 2555))
    planner = Planner(Repository(repo_copy))
    for stack in ("org", "tenant-acme-us-east-1"):
        locks = of_type(planner.plan(stack), "BucketObjectLockConfiguration")
        assert [lock.inputs["rule"]["defaultRetention"]["days"] for lock in locks] == [2555], stack


# --- AWS Config recording in every tenant account and region ---------------------------------------------------


def test_every_tenant_region_records_for_our_config_rules(sample_plans: dict[str, Plan]) -> None:
    account, tenant = (sample_plans[s] for s in ("account-acme", "tenant-acme-us-east-1"))
    acme = account.exports["accountId"]
    (role,) = of_type(account, "ServiceLinkedRole")
    assert role.inputs["awsServiceName"] == "config.amazonaws.com" and accounts_of(account)[role.urn] == acme
    (recorder,) = of_type(tenant, "cfg/recorder:Recorder")
    (channel,) = of_type(tenant, "cfg/deliveryChannel:DeliveryChannel")
    (status,) = of_type(tenant, "cfg/recorderStatus:RecorderStatus")
    where = accounts_of(tenant)
    assert {where[r.urn] for r in (recorder, channel, status)} == {acme}
    assert recorder.inputs["roleArn"] == account.exports["configRoleArn"]
    assert recorder.inputs["recordingGroup"]["allSupported"] is True
    (bucket,) = [r for r in of_type(tenant, "s3/bucket:Bucket") if r.inputs["tags"]["gpucloud:role"] == "audit"]
    (audit_key,) = [k for k in of_type(tenant, "kms/key:Key") if "TenantAudit" in k.urn]
    assert channel.inputs["s3BucketName"] == bucket.outputs["bucket"] == tenant.exports["auditBucket"]
    assert channel.inputs["s3KmsKeyArn"] == audit_key.outputs["arn"]
    assert status.inputs["isEnabled"] is True and channel.urn in status.dependencies
    # the tenant's audit bucket admits AWS Config for acme's account under its own prefix, and nobody else's
    (audit,) = [r for r in of_type(tenant, "BucketPolicy") if "TenantAudit" in r.urn]
    assert audit.urn in channel.dependencies or audit.urn in channel.deps.get("s3BucketName", ())
    config = [s for s in json.loads(audit.inputs["policy"])["Statement"]
              if s["Principal"] == {"Service": "config.amazonaws.com"}]  # fmt: skip
    (write,) = [s for s in config if s["Action"] == "s3:PutObject"]
    assert write["Resource"].rsplit("/AWSLogs/", 1)[1] == f"{acme}/Config/*"
    assert all(s["Condition"]["StringEquals"]["aws:SourceAccount"] == acme for s in config)
