"""DeployerRole: the one role our stacks act through in a tenant account, and the SCP that protects it.

The tenant guardrails exempt principals on our organization path (``/gpucloud-org/``) and nothing else: not the
access role's name, which in an adopted account is a role someone made by hand. So the account stack, through the
access role, makes ``gpucloud-org/gpucloud-deployer`` (trusting our management account only), then attaches
``tenant-protect``, after which no principal but one on that path can create, change or remove a role there.
Then it lists the roles on the path: one it did not make (left from before the SCP, in an adopted account) would
be exempt from every guardrail, so the deployer provider, which every later resource of the account goes through,
fails with the role's name instead of acting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud import tags as t
from gpucloud.organization.guardrails import load_guardrails
from gpucloud.organization.roles import DEPLOYER_ROLE_NAME

# AWS's managed administrator policy, the same the Organizations access role carries (Organizations User Guide,
# "Accessing a member account that has a management account access role", recorded 2026-12-07).
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"


@dataclass(frozen=True, kw_only=True)
class DeployerRoleArgs:
    management_account_id: pulumi.Input[str]  # where our stacks run; the only account the role trusts
    account_id: pulumi.Input[str]  # the tenant account
    protect_policy_id: pulumi.Input[str]  # the tenant-protect SCP (org stack)
    tags: Mapping[str, str]
    # An adopted account's access role (someone made it by hand): its trust is read, and anything but our management
    # account in it stops the stack. None for an account Organizations created (AWS made the role, trusting us).
    adopted_access_role: pulumi.Input[str] | None = None


def deployer_trust(management_account_id: str) -> str:
    """Principals of our management account may assume it (as their own IAM policies allow), nobody else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{management_account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
        sort_keys=True,
    )


def foreign_org_roles(names: Sequence[str]) -> list[str]:
    """The roles on our organization path that our stacks did not make."""
    return sorted(name for name in names if name != DEPLOYER_ROLE_NAME)


def foreign_trustees(trust_policy: str, management_account_id: str) -> list[str]:
    """The principals an access role's trust policy lets in that are not our management account's."""
    try:
        statements = json.loads(trust_policy).get("Statement", [])
    except (ValueError, AttributeError):
        return [f"an unreadable trust policy {trust_policy[:60]!r}"]
    found: list[str] = []
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        entries = {"*": principal} if isinstance(principal, str) else dict(principal or {})
        for kind, values in entries.items():
            for value in [values] if isinstance(values, str) else list(values):
                ours = kind == "AWS" and (
                    value == management_account_id or str(value).startswith(f"arn:aws:iam::{management_account_id}:")
                )
                if not ours:
                    found.append(f"{kind}:{value}")
    return sorted(found)


def trusted_by_us_only(role_name: str, trust_policy: str, management_account_id: str, account_id: str) -> None:
    foreign = foreign_trustees(trust_policy, management_account_id)
    if foreign:
        raise ValueError(
            f"account {account_id}: its access role {role_name} also trusts {', '.join(foreign)}; whoever that is "
            f"could act as our bootstrap there. Make it trust arn:aws:iam::{management_account_id}:root alone "
            "(README: Before adopting an account), then run again"
        )


def only_ours_on_path(deployer_arn: str, account_id: str, names: Sequence[str]) -> str:
    """The deployer's ARN, once the roles on our path (``names``) are ours alone; else the error that names them."""
    foreign = foreign_org_roles(names)
    if foreign:
        path = load_guardrails().org_role_path
        raise ValueError(
            f"account {account_id} has role(s) on our path {path} that gpucloud did not make: {', '.join(foreign)}; "
            "the guardrails exempt that path, so nothing more is built here until they are deleted "
            "(aws iam delete-role, as the account's access role)"
        )
    return deployer_arn


class DeployerRole(pulumi.ComponentResource):
    arn: pulumi.Output[str]  # known only once the path holds no role but ours

    def __init__(
        self,
        name: str,
        args: DeployerRoleArgs,
        *,
        access_provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gpucloud:account:DeployerRole", name, None, opts)
        in_account = pulumi.ResourceOptions(parent=self, provider=access_provider)
        role = aws.iam.Role(
            f"{name}-role",
            name=DEPLOYER_ROLE_NAME,
            path=load_guardrails().org_role_path,
            assume_role_policy=pulumi.Output.from_input(args.management_account_id).apply(deployer_trust),
            description="gpucloud stacks deploying into this tenant account",
            max_session_duration=3600,
            tags=t.with_role(args.tags, "deployer"),
            opts=in_account,
        )
        admin = aws.iam.RolePolicyAttachment(
            f"{name}-administrator", role=role.name, policy_arn=ADMINISTRATOR_ACCESS, opts=in_account
        )
        protect = aws.organizations.PolicyAttachment(
            f"{name}-tenant-protect",
            policy_id=args.protect_policy_id,
            target_id=args.account_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, admin]),
        )
        on_path = aws.iam.get_roles_output(
            path_prefix=load_guardrails().org_role_path,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=access_provider, depends_on=[protect]),
        )
        checks: list[pulumi.Input[object]] = [role.arn, args.account_id, on_path.names]
        if args.adopted_access_role is not None:
            access = aws.iam.get_role_output(
                name=args.adopted_access_role,
                opts=pulumi.InvokeOutputOptions(parent=self, provider=access_provider),
            )
            checks.append(
                pulumi.Output.all(
                    args.adopted_access_role, access.assume_role_policy, args.management_account_id, args.account_id
                ).apply(lambda v: trusted_by_us_only(v[0], v[1], v[2], v[3]))
            )
        self.arn = pulumi.Output.all(*checks).apply(lambda v: only_ours_on_path(v[0], v[1], v[2] or []))
        self.register_outputs({"arn": self.arn})
