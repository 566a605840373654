"""Every rule, by name, and which stacks it applies to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpucloud import tags as t
from gpucloud.config import StackConfig
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy.compute import (
    MAX_IMDS_HOPS,
    _ebs_encrypted_with_cmk,
    _imdsv2_required,
    _instances_pin_a_template_version,
    _no_placement_group_with_a_block,
)
from gpucloud.policy.core import Rule, Stack, Violation
from gpucloud.policy.identity import _iam_lint, _no_admin_wildcard, _no_managed_policy_on_nodes, _sessions_scoped
from gpucloud.policy.network import (
    _flow_logs_on_every_vpc,
    _gateway_endpoints_carry_a_policy,
    _no_cross_network,
    _no_public_ips,
    _no_world_ingress,
    _security_group_scope,
)
from gpucloud.policy.organization import (
    _exemption_by_path,
    _guardrails_hold,
    _nothing_of_ours_in_management,
    _quarantine_shut,
    _scp_limits,
)
from gpucloud.policy.storage import (
    _audit_recorded,
    _blocks_public,
    _bucket_policy_size,
    _bucket_rule,
    _denies_insecure_transport,
    _fsx_encrypted_with_cmk,
    _fsx_waits_for_its_rules,
    _kms_rotation,
    _log_services_name_their_source,
    _log_writes_per_account,
    _no_wide_decrypt_on_audit_keys,
    _sse_with_cmk,
    _versioned,
)
from gpucloud.policy.tenancy import (
    _no_foreign_data,
    _region_capacity_never_shared,
    _shares_stay_with_one_account,
    _tenant_tag_everywhere,
    _through_tenant_provider,
)

RULES: tuple[Rule, ...] = (
    Rule("no-world-ingress", "No security-group ingress from 0.0.0.0/0 or ::/0.", _no_world_ingress),
    Rule("imdsv2-required", f"IMDSv2 required, hop limit at most {MAX_IMDS_HOPS}.", _imdsv2_required),
    Rule("ebs-encrypted-cmk", "EBS volumes encrypted with a customer-managed KMS key.", _ebs_encrypted_with_cmk),
    Rule("kms-rotation", "Customer-managed KMS keys rotate.", _kms_rotation),
    Rule("fsx-encrypted-cmk", "FSx for Lustre encrypted with a customer-managed KMS key.", _fsx_encrypted_with_cmk),
    Rule(
        "s3-encrypted-cmk",
        "S3 buckets encrypt by default with a customer-managed KMS key.",
        _bucket_rule(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            _sse_with_cmk,
            "no default encryption with a customer-managed key",
        ),
    ),
    Rule(
        "s3-public-access-blocked",
        "S3 buckets block public access on all four settings.",
        _bucket_rule(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            _blocks_public,
            "public access is not blocked on all four settings",
        ),
    ),
    Rule(
        "s3-tls-only",
        "S3 bucket policies deny requests without TLS.",
        _bucket_rule(
            "aws:s3/bucketPolicy:BucketPolicy",
            _denies_insecure_transport,
            "no bucket policy denying requests without TLS",
        ),
    ),
    Rule(
        "s3-versioning",
        "S3 buckets keep versions.",
        _bucket_rule("aws:s3/bucketVersioning:BucketVersioning", _versioned, "versioning is not enabled"),
    ),
    Rule("vpc-flow-logs", "Every VPC has a flow log.", _flow_logs_on_every_vpc),
    Rule("no-public-ip", "No public IP on GPU nodes; no subnet maps public IPs.", _no_public_ips),
    Rule("no-admin-wildcard", "No IAM statement allows * actions on * resources.", _no_admin_wildcard),
    Rule(
        "tenant-tag",
        f"Every taggable resource of a tenant stack carries {t.TENANT}.",
        _tenant_tag_everywhere,
        tenant_only=True,
    ),
    Rule(
        "tenant-isolation",
        "No peering, transit gateway, VPN or route that joins a tenant to another network.",
        _no_cross_network,
        tenant_only=True,
    ),
    Rule(
        "tenant-sg-scope",
        "Security-group rules name only the tenant's own CIDR, groups and endpoints (egress to 0.0.0.0/0 with NAT).",
        _security_group_scope,
        tenant_only=True,
    ),
    Rule(
        "tenant-foreign-data",
        "Policies name no key or bucket but the tenant's own and its region's.",
        _no_foreign_data,
        tenant_only=True,
    ),
    Rule(
        "tenant-account-provider",
        "Everything of a tenant is created in its own account (a provider pinned to it), but the capacity share.",
        _through_tenant_provider,
        tenant_or_account=True,
    ),
    Rule(
        "share-one-account",
        "RAM shares admit no external principal and name one account id, never an OU or the organization.",
        _shares_stay_with_one_account,
    ),
    Rule(
        "share-carve-only",
        "A tenant shares its own carve or block, never the region's reservation; no reservation is shared twice.",
        _region_capacity_never_shared,
        tenant_only=True,
    ),
    Rule(
        "session-scope",
        "No IAM statement allows ssm:ResumeSession or ssm:TerminateSession on *.",
        _sessions_scoped,
    ),
    Rule(
        "node-role-no-managed-policy",
        "No AWS managed policy on a role EC2 instances assume.",
        _no_managed_policy_on_nodes,
    ),
    Rule(
        "fsx-waits-for-rules",
        "An FSx for Lustre file system depends on every rule of its security groups (FSx checks LNet at creation).",
        _fsx_waits_for_its_rules,
    ),
    Rule(
        "gateway-endpoint-policy",
        "Gateway endpoints carry a policy that names what they admit (no bare * on *).",
        _gateway_endpoints_carry_a_policy,
    ),
    Rule(
        "log-delivery-source",
        "Bucket and key policies admit log services only with aws:SourceArn, aws:SourceAccount or aws:SourceOrgID.",
        _log_services_name_their_source,
    ),
    Rule(
        "bucket-policy-size",
        "Every bucket policy within S3's 20 KB (an audit bucket's grows with the region's tenants).",
        _bucket_policy_size,
    ),
    Rule(
        "log-delivery-per-account",
        "Log services write into our buckets only under AWSLogs/<account>/ of the source the statement names "
        "(aws:SourceAccount or aws:SourceArn), never AWSLogs/* for a whole organization.",
        _log_writes_per_account,
    ),
    Rule(
        "audit-reads-recorded",
        "Every audit bucket is named under the landing zone's audit prefix, and the organization trail records S3 "
        "data events (reads and writes) on every object under it.",
        _audit_recorded,
    ),
    Rule(
        "block-without-placement-group",
        "A launch template for a Capacity Block names no placement group.",
        _no_placement_group_with_a_block,
    ),
    Rule(
        "template-version-pinned",
        "Instances name a concrete launch-template version, never $Default or $Latest.",
        _instances_pin_a_template_version,
    ),
    Rule(
        "audit-key-narrow",
        "A key that encrypts an audit bucket lets no wildcard principal (the whole organization) decrypt.",
        _no_wide_decrypt_on_audit_keys,
    ),
    Rule(
        "scp-limits",
        "Every SCP within AWS's size limit; no OU with more SCPs than AWS attaches (FullAWSAccess included).",
        _scp_limits,
    ),
    Rule(
        "guardrails-hold",
        "The SCPs on the tenant OU deny the root user everything, and deny every principal what a tenant must not do.",
        _guardrails_hold,
    ),
    Rule(
        "management-account-bare",
        "Nothing but the organization's own resources in the management account (the default provider).",
        _nothing_of_ours_in_management,
    ),
    Rule(
        "scp-exempts-our-path",
        "An SCP exempts only roles on our organization path, never a role by a name a tenant could make.",
        _exemption_by_path,
    ),
    Rule(
        "quarantine-shut",
        "In the quarantine OU (leaving tenants' accounts) the SCPs deny a tenant's principals every action.",
        _quarantine_shut,
    ),
    Rule(
        "iam-lint",
        "Every IAM document passes parliament: known actions, conditions and resource formats.",
        _iam_lint,
    ),
)


def rules_for(config: StackConfig) -> list[Rule]:
    """The rules that apply to a stack of this kind (tenant rules only to tenant stacks)."""
    return [rule for rule in RULES if rule.applies_to(config)]


def evaluate(
    resources: list[RecordedResource], config: StackConfig, region_exports: Mapping[str, Any] | None = None
) -> list[Violation]:
    stack = Stack(resources=resources, config=config, region_exports=region_exports or {})
    return [Violation(rule.name, urn, message) for rule in rules_for(config) for urn, message in rule.check(stack)]
