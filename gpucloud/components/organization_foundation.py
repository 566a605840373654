"""OrganizationFoundation: the organization itself, run in our management account, and nothing else of ours there.

In the management account: the tenant and quarantine OUs and their guardrails (SCPs), centralized root access, the
trusted access and delegated administrators of the audit services. Through explicit providers, in our own accounts
(``CoreAccounts``, one duty each): the organization trail's bucket and key in the log-archive account
(``LogArchive``), and the organization trail and AWS Config in the security account (``SecurityTooling``). The
capacity account is the region stacks' (README: "Accounts and duties").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud.components.core_accounts import CoreAccounts, CoreAccountsArgs
from gpucloud.components.log_archive import LogArchive, LogArchiveArgs
from gpucloud.components.security_tooling import SecurityTooling, SecurityToolingArgs
from gpucloud.config import OrgConfig
from gpucloud.organization.guardrails import (
    OU_GUARDRAILS,
    QUARANTINE_NAME,
    load_guardrails,
    minified,
    quarantine_policy,
    service_control_policies,
)
from gpucloud.organization.landing_zone import CAPACITY, LOG_ARCHIVE, SECURITY, load_landing_zone


@dataclass(frozen=True, kw_only=True)
class OrganizationFoundationArgs:
    config: OrgConfig
    tags: Mapping[str, str]


class OrganizationFoundation(pulumi.ComponentResource):
    def __init__(self, name: str, args: OrganizationFoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:org:OrganizationFoundation", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        management = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        core = CoreAccounts(f"{name}-core", CoreAccountsArgs(config=cfg, tags=args.tags), opts=child)
        ou = aws.organizations.OrganizationalUnit(
            f"{name}-tenants", name="gpucloud-tenants", parent_id=cfg.root_id, tags=dict(args.tags), opts=child
        )
        # A leaving tenant's account waits here (moved, or the quarantine SCP attached to it directly when adopted)
        # until it is closed or leaves the organization: the guardrails, and the quarantine SCP that stops all but
        # our stacks.
        quarantine = aws.organizations.OrganizationalUnit(
            f"{name}-quarantine", name="gpucloud-quarantine", parent_id=cfg.root_id, tags=dict(args.tags), opts=child
        )
        policy_ids: dict[str, pulumi.Output[str]] = {}
        for policy_name, doc in service_control_policies(cfg.served_regions).items():
            scp = aws.organizations.Policy(
                f"{name}-{policy_name}",
                name=f"gpucloud-{policy_name}",
                description=f"gpucloud guardrails on tenant accounts: {policy_name}",
                type="SERVICE_CONTROL_POLICY",
                content=minified(doc),
                tags=dict(args.tags),
                opts=child,
            )
            policy_ids[policy_name] = scp.id
            if policy_name not in OU_GUARDRAILS:
                continue  # tenant-protect: each account stack attaches it, once our deployer role is there
            aws.organizations.PolicyAttachment(
                f"{name}-{policy_name}-on-tenants", policy_id=scp.id, target_id=ou.id, opts=child
            )
            aws.organizations.PolicyAttachment(
                f"{name}-{policy_name}-on-quarantine", policy_id=scp.id, target_id=quarantine.id, opts=child
            )
        shut = aws.organizations.Policy(
            f"{name}-{QUARANTINE_NAME}",
            name=f"gpucloud-{QUARANTINE_NAME}",
            description="gpucloud quarantine: nothing but our stacks acts in a leaving tenant's account",
            type="SERVICE_CONTROL_POLICY",
            content=minified(quarantine_policy()),
            tags=dict(args.tags),
            opts=child,
        )
        aws.organizations.PolicyAttachment(
            f"{name}-{QUARANTINE_NAME}-on-quarantine", policy_id=shut.id, target_id=quarantine.id, opts=child
        )
        self._shut_root_users(name)
        trail_delegation, config_delegations = self._delegate_audit(name, core.ids[SECURITY])
        archive = LogArchive(
            f"{name}-log-archive",
            LogArchiveArgs(config=cfg, management_account_id=management, tags=args.tags),
            opts=pulumi.ResourceOptions(parent=self, providers=[core.providers[LOG_ARCHIVE]]),
        )
        SecurityTooling(
            f"{name}-security",
            SecurityToolingArgs(
                trail_bucket=archive.bucket,
                trail_key_arn=archive.key_arn,
                trail_delegation=trail_delegation,
                config_delegations=config_delegations,
                tags=args.tags,
            ),
            provider=core.providers[SECURITY],
            opts=child,
        )
        self.exports: dict[str, pulumi.Input[object]] = {
            "organizationId": cfg.organization_id,
            "tenantOuId": ou.id,
            "accessRoleName": cfg.access_role_name,
            "operationsRoleArn": cfg.operations_role_arn,
            "dataOperationsRoleArn": cfg.data_operations_role_arn,
            "servedRegions": list(cfg.served_regions),
            "guardrailPolicyIds": pulumi.Output.all(**policy_ids),
            "quarantineOuId": quarantine.id,
            "quarantinePolicyId": shut.id,
            "auditBucketArn": archive.bucket_arn,
            "coreOuId": core.ou_id,
            "logArchiveAccountId": core.ids[LOG_ARCHIVE],
            "securityAccountId": core.ids[SECURITY],
            "capacityAccountId": core.ids[CAPACITY],
            "capacityRoleArn": core.role_arns[CAPACITY],
            "auditRetentionDays": cfg.audit_retention_days,
            "logArchiveRoleArn": core.role_arns[LOG_ARCHIVE],
        }
        self.register_outputs(self.exports)

    def _delegate_audit(
        self, name: str, security_account: pulumi.Input[str]
    ) -> tuple[pulumi.Resource, list[pulumi.Resource]]:
        """Trusted access for CloudTrail and AWS Config, and the security account as their delegated administrator
        (data/landing_zone.yaml names each page): the organization trail and Config's rules are run from there."""
        zone = load_landing_zone()
        access = [
            aws.organizations.AwsServiceAccess(
                f"{name}-trusted-{service.split('.')[0]}",
                service_principal=service,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in zone.trusted_services
        ]
        after_access = pulumi.ResourceOptions(parent=self, depends_on=access)
        trail = aws.cloudtrail.OrganizationDelegatedAdminAccount(
            f"{name}-cloudtrail-admin", account_id=security_account, opts=after_access
        )
        config = [
            aws.organizations.DelegatedAdministrator(
                f"{name}-admin-{service.split('.')[0]}",
                account_id=security_account,
                service_principal=service,
                opts=after_access,
            )
            for service in zone.config_delegated_services
        ]
        return trail, list(config)

    def _shut_root_users(self, name: str) -> None:
        """Centralized root access (IAM User Guide, "Centrally manage root access for member accounts"): member
        accounts' root credentials are managed from here (none exist for accounts we create; an adopted account's
        can be deleted centrally), and the privileged root sessions that remain are ours (sts:AssumeRoot). The
        tenant-baseline SCP denies every other root action. Needs IAM's trusted access in the organization."""
        facts = load_guardrails()
        iam_access = aws.organizations.AwsServiceAccess(
            f"{name}-iam-trusted-access",
            service_principal=facts.iam_service_principal,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.OrganizationsFeatures(
            f"{name}-root-access",
            enabled_features=list(facts.root_access_features),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[iam_access]),
        )
