"""TenantAccount: a tenant's own AWS account in our organization, and the provider that builds inside it.

A new account is created in the tenant OU (``aws.organizations.Account``), with the organization's access
role. An adopted account (one that exists and has joined the organization) is not re-created: the OU guardrails
are attached to it directly, so they hold even before it is moved into the tenant OU. Either way the stack then
makes our deployer role there through the access role and attaches ``tenant-protect`` (``DeployerRole``), and
everything after (the account's S3 Block Public Access, its identity, every tenant stack) goes through the deployer.
The account is protected from an accidental ``pulumi destroy``: closing an account is a deliberate step
(``gpucloud tenant offboard`` prints it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from gpucloud.components.deployer_role import DeployerRole, DeployerRoleArgs
from gpucloud.components.secure_bucket import BLOCK_ALL_PUBLIC_ACCESS
from gpucloud.config import AccountConfig
from gpucloud.organization.guardrails import ACCOUNT_GUARDRAILS, OU_GUARDRAILS

ACCOUNT_NAME_MAX = 50  # Organizations CreateAccount AccountName: 1 to 50 characters


@dataclass(frozen=True, kw_only=True)
class OrgExports:
    """What an account stack reads from the org stack (through a StackReference)."""

    management_account_id: pulumi.Input[str]  # where our stacks run: the deployer role trusts it
    tenant_ou_id: pulumi.Input[str]
    access_role_name: pulumi.Input[str]
    operations_role_arn: pulumi.Input[str]
    guardrail_policy_ids: pulumi.Input[Mapping[str, Any]]
    quarantine_ou_id: pulumi.Input[str]
    quarantine_policy_id: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class TenantAccountArgs:
    config: AccountConfig
    org: OrgExports
    tags: Mapping[str, str]


def account_name(display_name: str) -> str:
    """The account's name in Organizations: the display name on one line, cut to what AWS accepts."""
    return " ".join(display_name.split())[:ACCOUNT_NAME_MAX]


def account_provider(
    name: str,
    *,
    account_id: pulumi.Input[str],
    role_arn: pulumi.Input[str],
    region: str,
    session_name: str,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.Provider:
    """An AWS provider that acts inside one account (a tenant's, or one of ours) as the role ``role_arn``, and
    refuses to act in any other (``allowedAccountIds``)."""
    return aws.Provider(
        name,
        region=region,
        assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=role_arn, session_name=session_name)],
        allowed_account_ids=[account_id],
        opts=opts,
    )


def _policy_id(policy_name: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ids: str(ids[policy_name])


class TenantAccount(pulumi.ComponentResource):
    account_id: pulumi.Output[str]
    access_role_arn: pulumi.Output[str]  # the Organizations access role: it makes the deployer, nothing else
    deployer_role_arn: pulumi.Output[str]
    config_role_arn: pulumi.Output[str]  # AWS Config's service-linked role there
    provider: aws.Provider  # acts as the deployer

    def __init__(self, name: str, args: TenantAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:account:TenantAccount", name, None, opts)
        cfg = args.config
        if cfg.email is not None:
            account = aws.organizations.Account(
                f"{name}-account",
                name=account_name(cfg.display_name),
                email=cfg.email,
                # Leaving (its last region offboarded): moved into the quarantine OU until `pulumi destroy` closes it.
                parent_id=args.org.quarantine_ou_id if cfg.leaving is not None else args.org.tenant_ou_id,
                role_name=args.org.access_role_name,
                iam_user_access_to_billing="DENY",
                # `pulumi destroy` closes the account (AWS can reopen it within 90 days); `protect` makes that a
                # deliberate step: `pulumi state unprotect` first.
                close_on_deletion=True,
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.account_id = account.id
        else:
            self.account_id = pulumi.Output.from_input(str(cfg.account_id))
            policies = pulumi.Output.from_input(args.org.guardrail_policy_ids)
            for policy_name in OU_GUARDRAILS:
                aws.organizations.PolicyAttachment(
                    f"{name}-{policy_name}",
                    policy_id=policies.apply(_policy_id(policy_name)),
                    target_id=self.account_id,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            if cfg.leaving is not None:
                # Leaving: the quarantine SCP too, kept when the stack is destroyed (retainOnDelete), so the account
                # stays shut until it leaves the organization or is closed; never left here with nothing attached.
                aws.organizations.PolicyAttachment(
                    f"{name}-quarantine",
                    policy_id=args.org.quarantine_policy_id,
                    target_id=self.account_id,
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
        self.access_role_arn = pulumi.Output.all(self.account_id, args.org.access_role_name).apply(
            lambda v: f"arn:aws:iam::{v[0]}:role/{v[1]}"
        )
        bootstrap = account_provider(
            f"{name}-access",
            account_id=self.account_id,
            role_arn=self.access_role_arn,
            region=cfg.region,
            session_name=f"gpucloud-account-{cfg.tenant}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        (protect_name,) = ACCOUNT_GUARDRAILS
        deployer = DeployerRole(
            f"{name}-deployer",
            DeployerRoleArgs(
                management_account_id=args.org.management_account_id,
                account_id=self.account_id,
                protect_policy_id=pulumi.Output.from_input(args.org.guardrail_policy_ids).apply(
                    _policy_id(protect_name)
                ),
                tags=args.tags,
                adopted_access_role=args.org.access_role_name if cfg.email is None else None,
            ),
            access_provider=bootstrap,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.deployer_role_arn = deployer.arn
        self.provider = account_provider(
            f"{name}-provider",
            account_id=self.account_id,
            role_arn=self.deployer_role_arn,
            region=cfg.region,
            session_name=f"gpucloud-account-{cfg.tenant}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        # AWS Config's service-linked role, which each tenant stack's configuration recorder uses (IAM User Guide,
        # "Using service-linked roles for AWS Config", recorded 2026-12-07). One per account.
        config_role = aws.iam.ServiceLinkedRole(
            f"{name}-config-role",
            aws_service_name="config.amazonaws.com",
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.config_role_arn = config_role.arn
        # S3 Block Public Access for the whole account (all four settings), which the tenant-protect SCP keeps on:
        # no bucket of the account, ours or the tenant's, can be made public.
        aws.s3.AccountPublicAccessBlock(
            f"{name}-public-access-block",
            account_id=self.account_id,
            **BLOCK_ALL_PUBLIC_ACCESS,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.register_outputs(
            {
                "account_id": self.account_id,
                "access_role_arn": self.access_role_arn,
                "deployer_role_arn": self.deployer_role_arn,
            }
        )
