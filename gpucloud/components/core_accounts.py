"""CoreAccounts: our own accounts, one duty each (log archive, security, capacity), in an OU of ours.

The management account holds the organization and nothing else (AWS: SCPs do not bind its principals, so nothing
of ours should live there). Each duty gets an account created by Organizations in ``gpucloud-core`` (not the tenant
OU: the capacity account must buy capacity), whose root e-mail is our mailbox plus-addressed with the duty, and an
explicit provider that acts in it alone through the organization's access role, as tenant stacks act in theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud.components.tenant_account import account_provider
from gpucloud.config import OrgConfig
from gpucloud.organization.guardrails import CORE_NAME, core_policy, minified
from gpucloud.organization.landing_zone import load_landing_zone


@dataclass(frozen=True, kw_only=True)
class CoreAccountsArgs:
    config: OrgConfig
    tags: Mapping[str, str]


def access_role_arn(account_id: pulumi.Input[str], role_name: str) -> pulumi.Output[str]:
    return pulumi.Output.from_input(account_id).apply(lambda a: f"arn:aws:iam::{a}:role/{role_name}")


class CoreAccounts(pulumi.ComponentResource):
    ou_id: pulumi.Output[str]
    ids: dict[str, pulumi.Output[str]]  # duty -> account id
    role_arns: dict[str, pulumi.Output[str]]  # duty -> the access role our stacks assume there
    providers: dict[str, aws.Provider]  # duty -> a provider pinned to that account

    def __init__(self, name: str, args: CoreAccountsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:org:CoreAccounts", name, None, opts)
        cfg = args.config
        zone = load_landing_zone()
        child = pulumi.ResourceOptions(parent=self)
        ou = aws.organizations.OrganizationalUnit(
            f"{name}-ou", name=zone.core_ou_name, parent_id=cfg.root_id, tags=dict(args.tags), opts=child
        )
        scp = aws.organizations.Policy(
            f"{name}-{CORE_NAME}",
            name=f"gpucloud-{CORE_NAME}",
            description="gpucloud guardrails on our own accounts: no root user, no leaving",
            type="SERVICE_CONTROL_POLICY",
            content=minified(core_policy()),
            tags=dict(args.tags),
            opts=child,
        )
        aws.organizations.PolicyAttachment(f"{name}-{CORE_NAME}-on-core", policy_id=scp.id, target_id=ou.id, opts=child)
        self.ou_id = ou.id
        self.ids, self.role_arns, self.providers = {}, {}, {}
        for duty in zone.core_accounts:
            account = aws.organizations.Account(
                f"{name}-{duty}",
                name=f"gpucloud {duty}",
                email=cfg.account_email(duty),
                parent_id=ou.id,
                role_name=cfg.access_role_name,
                iam_user_access_to_billing="DENY",
                # Never closed by a `pulumi destroy`: the audit trail and the capacity live here.
                close_on_deletion=False,
                tags={**args.tags, "gpucloud:duty": duty},
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.ids[duty] = account.id
            self.role_arns[duty] = access_role_arn(account.id, cfg.access_role_name)
            self.providers[duty] = account_provider(
                f"{name}-{duty}",
                account_id=account.id,
                role_arn=self.role_arns[duty],
                region=cfg.region,
                session_name=f"gpucloud-org-{duty}",
                opts=child,
            )
        self.register_outputs({"ou_id": self.ou_id, "ids": self.ids})
