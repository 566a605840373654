"""``gpucloud tenant offboard``: remove a tenant's files for one region (all or none), which frees its CIDR
and capacity; with its last region, its account stack goes too.

The cloud resources stay until someone runs ``pulumi destroy``; ``destroy_steps`` says how, in order: the
region stack first (its nodes, then its capacity share and carve), and only with the last region the
account stack, whose ``pulumi destroy`` closes the AWS account.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from gpucloud.choices import closest, did_you_mean
from gpucloud.config import TenantConfig
from gpucloud.errors import ConfigError
from gpucloud.names import check_tenant_name
from gpucloud.organization.guardrails import load_guardrails
from gpucloud.registry import AccountEntry, load_registry
from gpucloud.repo import Repository
from gpucloud.tenants.defaults import DATA_NOTICE_DAYS
from gpucloud.tenants.files import TENANT_INVENTORIES, TenantFiles
from gpucloud.transaction import FileTransaction, repository_lock

# The URN the account stack gives the protected account (TenantAccount's child "<stack>-account").
ACCOUNT_URN = (
    "urn:pulumi:{stack}::gpucloud::gpucloud:account:TenantAccount$aws:organizations/account:Account::{stack}-account"
)


@dataclass(frozen=True)
class Offboarding:
    tenant: str
    region: str
    stack: str
    org: str
    cidr: str
    removed: tuple[PurePosixPath, ...]
    account: AccountEntry | None  # set when this was the tenant's last region: its account stack goes too

    def destroy_steps(self) -> list[str]:
        qualified = f"{self.org}/{self.stack}"
        steps = [
            f"BUCKET=$(pulumi stack output bucket -s {qualified})   # note it first: the bucket outlives the stack",
            f"pulumi destroy -s {qualified}   # from a checkout that still has {self.removed[0]}, i.e. before this "
            "change merges: nodes, network, capacity carve and share, FSx (after a final backup); the bucket and "
            "its key are retained in the tenant's account",
            f"pulumi stack rm {qualified}",
        ]
        if self.account is not None:
            steps += self._account_steps()
        else:
            steps += self._data_steps()
        steps.append("commit and merge this change (its review frees the CIDR and the capacity for others)")
        return steps

    def _data_steps(self) -> list[str]:
        """The tenant keeps other regions, so its account stays: expire this region's data after the notice."""
        profile = f"gpucloud-account-{self.tenant}"  # README: assumes the organization's access role there
        rule = (
            '{"Rules":[{"ID":"offboarded","Status":"Enabled","Filter":{},'
            f'"Expiration":{{"Days":{DATA_NOTICE_DAYS}}},'
            f'"NoncurrentVersionExpiration":{{"NoncurrentDays":{DATA_NOTICE_DAYS}}},'
            '"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}}]}'
        )
        return [
            f'aws s3api put-bucket-lifecycle-configuration --profile {profile} --bucket "$BUCKET" '
            f"--lifecycle-configuration '{rule}'   # the tenant's data expires after {DATA_NOTICE_DAYS} days' notice",
            f'aws s3api delete-bucket --profile {profile} --bucket "$BUCKET"   # after {DATA_NOTICE_DAYS} days, '
            "once the lifecycle has emptied it; then schedule its key's deletion "
            f"(aws kms schedule-key-deletion --profile {profile} --key-id alias/gpucloud/tenant/{self.tenant})",
        ]

    def _account_steps(self) -> list[str]:
        assert self.account is not None
        account = f"{self.account.org}/{self.account.stack}"
        days = load_guardrails().account_reopen_days
        if self.account.account_id is None:  # created by the stack: its destroy closes it
            return [
                f"pulumi state unprotect -s {account} '{ACCOUNT_URN.format(stack=self.account.stack)}'"
                "   # the account is protected from an accidental destroy",
                f"pulumi destroy -s {account}   # closes the AWS account with the tenant's retained buckets and keys: "
                f"AWS can reopen it within {days} days (post-closure period), then deletes it for good",
                f"pulumi stack rm {account}",
            ]
        return [
            f"pulumi destroy -s {account}   # removes our roles and guardrail attachments from the adopted "
            f"account {self.account.account_id}; the account itself stays",
            f"aws organizations close-account --account-id {self.account.account_id}   # only if it is to be "
            f"closed: AWS can reopen it within {days} days",
            f"pulumi stack rm {account}",
        ]


def offboard(repo: Repository, name: str, region: str) -> Offboarding:
    check_tenant_name(name, key="NAME")
    with repository_lock(repo.root):
        registry = load_registry(repo)
        entry = registry.tenant(name, region)
        if entry is None:
            there = [t.name for t in registry.tenants_in(region)]
            raise ConfigError(
                f"no tenant {name!r} in region {region!r}{did_you_mean(name, there)}; tenants there: "
                f"{closest(name, there)}"
            )
        config = repo.load(entry.stack)
        assert isinstance(config, TenantConfig)
        files = TenantFiles(name, region)
        paths = list(files.all())
        last_region = [t.stack for t in registry.regions_of(name)] == [entry.stack]
        account = registry.account(name) if last_region else None
        if account is not None:
            paths.append(files.account_config)
        present = tuple(p for p in paths if (repo.root / p).exists())
        txn = FileTransaction(repo.root, prune_up_to=repo.root / TENANT_INVENTORIES)
        for path in present:
            txn.remove(path)
        txn.commit()
    return Offboarding(
        tenant=name,
        region=region,
        stack=entry.stack,
        org=config.org,
        cidr=str(config.cidr),
        removed=present,
        account=account,
    )
