"""``gpucloud tenant offboard``: remove a tenant's files for one region (all or none), which frees its CIDR
and capacity; with its last region, its account stack goes too.

The cloud resources stay until someone runs ``pulumi destroy``; ``destroy_steps`` says how, in order: the
region stack first (its nodes, then its capacity share and carve), and only with the last region the
account stack, whose ``pulumi destroy`` closes the AWS account.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import PurePosixPath

from gpucloud.config import TenantConfig, config_from_namespaced
from gpucloud.errors import ConfigError
from gpucloud.names import check_tenant_name
from gpucloud.organization.guardrails import load_guardrails
from gpucloud.registry import AccountEntry, load_registry
from gpucloud.repo import Repository, config_mapping
from gpucloud.tenants.defaults import DATA_NOTICE_DAYS
from gpucloud.tenants.files import TENANT_INVENTORIES, TenantFiles
from gpucloud.tenants.retired import GRACE_DAYS, RETIRED_FILE, Tombstone, render_retired
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
    removed: tuple[PurePosixPath, ...]  # step 1: the files marked leaving; step 2: the files removed
    account: AccountEntry | None  # set when this is the tenant's last region: its account stack goes too
    destroyed: bool = False  # step 2: the files are gone and the CIDR and capacity retired
    retired_until: datetime.date | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "tenant": self.tenant,
            "region": self.region,
            "stack": self.stack,
            "cidr": self.cidr,
            "destroyed": self.destroyed,
            "files": [str(p) for p in self.removed],  # step 1: marked leaving; step 2: removed
            "account": None if self.account is None else self.account.as_json(),  # it goes too: the last region
            "retired_until": None if self.retired_until is None else self.retired_until.isoformat(),
            "steps": self.destroy_steps(),
        }

    def destroy_steps(self) -> list[str]:
        if self.destroyed:
            return [
                f"commit and merge this change: {self.stack}'s files are gone; its CIDR {self.cidr} and capacity "
                f"stay retired until {self.retired_until} (stacks/retired.yaml), then serve other tenants"
            ]
        qualified = f"{self.org}/{self.stack}"
        steps = [
            "commit and merge this change (the stack is marked leaving; its files stay for the destroy)",
            f"BUCKET=$(pulumi stack output bucket -s {qualified})   # note it first: the bucket outlives the stack",
            f"pulumi destroy -s {qualified}   # nodes, network, capacity carve and share, FSx (after a final "
            "backup); the bucket and its key are retained in the tenant's account",
            f"pulumi stack rm {qualified}",
        ]
        if self.account is not None:
            steps += self._account_steps()
        else:
            steps += self._data_steps()
        steps.append(
            f"gpucloud tenant offboard {self.tenant} --region {self.region} --destroyed   # then: removes the "
            f"files, retires the CIDR and capacity for {GRACE_DAYS} days"
        )
        return steps

    def _data_steps(self) -> list[str]:
        """The tenant keeps other regions, so its account stays: expire this region's data after the notice."""
        profile = f"gpucloud-data-{self.tenant}"  # README: our data-operator role there, one duty, no object reads
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
        quarantine = (
            f"pulumi up -s {account}   # first: the account goes into the quarantine OU, where nothing but our "
            "stacks can act in it"
        )
        if self.account.account_id is None:  # created by the stack: its destroy closes it
            return [
                quarantine,
                f"pulumi state unprotect -s {account} '{ACCOUNT_URN.format(stack=self.account.stack)}'"
                "   # the account is protected from an accidental destroy",
                f"pulumi destroy -s {account}   # closes the AWS account with the tenant's retained buckets and keys: "
                f"AWS can reopen it within {days} days (post-closure period), then deletes it for good",
                f"pulumi stack rm {account}",
            ]
        account_id = self.account.account_id
        return [
            quarantine,
            f"pulumi destroy -s {account}   # removes our roles and the guardrail attachments from the adopted "
            f"account {account_id}; its quarantine SCP stays attached (retained), so it stays shut",
            f"pulumi stack rm {account}",
            "then one of (the account must not stay in our organization, billed to us):",
            f"  aws organizations remove-account-from-organization --account-id {account_id}   # it leaves: the "
            "tenant's own again, paid by the tenant",
            f"  aws organizations close-account --account-id {account_id}   # closed: AWS can reopen it within "
            f"{days} days",
        ]


def offboard(repo: Repository, name: str, region: str, *, destroyed: bool = False) -> Offboarding:
    """Offboard tenant ``name`` from ``region`` in two steps.

    1. (``destroyed=False``) mark its stack (and, with its last region, its account stack) as leaving: the
       files stay, so ``pulumi destroy`` runs from this checkout; the steps are printed.
    2. (``destroyed=True``, once the stacks are destroyed) remove the files and write a tombstone that keeps the
       CIDR and capacity out of allocation for a grace period.
    """
    check_tenant_name(name, key="NAME")
    today = datetime.datetime.now(datetime.UTC).date()
    with repository_lock(repo.root):
        registry = load_registry(repo)
        entry = registry.tenant(name, region)
        if entry is None:
            registry.require_region(region)
            raise registry.unknown_tenant(name, region)
        config = repo.load(entry.stack)
        assert isinstance(config, TenantConfig)
        files = TenantFiles(name, region)
        last_region = [t.stack for t in registry.regions_of(name)] == [entry.stack]
        account = registry.account(name) if last_region else None
        txn = FileTransaction(repo.root, prune_up_to=repo.root / TENANT_INVENTORIES)
        if not destroyed:
            changed = [_mark_leaving(repo, files.stack_config, today)]
            if account is not None:
                changed.append(_mark_leaving(repo, files.account_config, today))
            for path, text in changed:
                txn.write(path, text)
            txn.commit()
            touched = tuple(path for path, _ in changed)
        else:
            if config.leaving is None:
                raise ConfigError(
                    f"--destroyed: {entry.stack} is not leaving yet; first `gpucloud tenant offboard {name} "
                    f"--region {region}`, then `pulumi destroy`, then --destroyed"
                )
            paths = [*files.all(), *([files.account_config] if account is not None else [])]
            touched = tuple(p for p in paths if (repo.root / p).exists())
            for path in touched:
                txn.remove(path)
            stones = [s for s in registry.retired if s.stack != entry.stack]
            stones.append(
                Tombstone(
                    stack=entry.stack,
                    region=region,
                    cidr=config.cidr,
                    gpu_type=config.node_pool.gpu_type,
                    az=config.node_pool.az_id,
                    nodes=config.node_pool.nodes,
                    since=today,
                    until=today + datetime.timedelta(days=GRACE_DAYS),
                )
            )
            txn.write(RETIRED_FILE, render_retired(stones))
            txn.commit()
    return Offboarding(
        tenant=name,
        region=region,
        stack=entry.stack,
        org=config.org,
        cidr=str(config.cidr),
        removed=touched,
        account=account,
        destroyed=destroyed,
        retired_until=today + datetime.timedelta(days=GRACE_DAYS),
    )


def _mark_leaving(repo: Repository, path: PurePosixPath, today: datetime.date) -> tuple[PurePosixPath, str]:
    """The stack config at ``path`` with ``gpucloud:leaving: DATE`` after its kind, checked to load."""
    text = (repo.root / path).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if any(line.startswith("  gpucloud:leaving:") for line in lines):
        return path, text  # already leaving: offboarding again only prints the steps again
    at = next((i for i, line in enumerate(lines) if line.startswith("  gpucloud:kind:")), None)
    if at is None:
        raise ConfigError(f"{path}: no '  gpucloud:kind:' line to mark the stack as leaving after; edit it by hand")
    marked = [
        *lines[: at + 1],
        f'  gpucloud:leaving: "{today.isoformat()}"   # offboarding: destroy, then --destroyed\n',
    ]
    new = "".join([*marked, *lines[at + 1 :]])
    stack = path.name[len("Pulumi.") : -len(".yaml")]
    if config_from_namespaced(stack, config_mapping(new, str(path))).leaving != today:  # type: ignore[union-attr]
        raise ConfigError(f"{path}: marking it as leaving did not round-trip; edit it by hand")
    return path, new
