"""``gpucloud tenant offboard``: remove a tenant's files (all or none), which frees its CIDR and capacity.

The cloud resources stay until someone runs ``pulumi destroy``; ``destroy_steps`` says how, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from gpucloud.config import TenantConfig
from gpucloud.errors import ConfigError
from gpucloud.names import check_tenant_name
from gpucloud.registry import load_registry
from gpucloud.repo import Repository
from gpucloud.tenants.files import TENANT_INVENTORIES, TenantFiles
from gpucloud.transaction import FileTransaction, repository_lock


@dataclass(frozen=True)
class Offboarding:
    tenant: str
    region: str
    stack: str
    org: str
    cidr: str
    removed: tuple[PurePosixPath, ...]

    def destroy_steps(self) -> list[str]:
        qualified = f"{self.org}/{self.stack}"
        return [
            f"pulumi destroy -s {qualified}   # from a checkout that still has {self.removed[0]}, "
            "i.e. before this change merges",
            f"pulumi stack rm {qualified}",
            "commit and merge this change (its review frees the CIDR and the capacity for others)",
        ]


def offboard(repo: Repository, name: str, region: str) -> Offboarding:
    check_tenant_name(name, key="NAME")
    with repository_lock(repo.root):
        registry = load_registry(repo)
        entry = registry.tenant(name, region)
        if entry is None:
            there = ", ".join(t.name for t in registry.tenants_in(region)) or "none"
            raise ConfigError(f"no tenant {name!r} in region {region!r}; tenants there: {there}")
        config = repo.load(entry.stack)
        assert isinstance(config, TenantConfig)
        files = TenantFiles(name, region)
        present = tuple(p for p in files.all() if (repo.root / p).exists())
        txn = FileTransaction(repo.root, prune_up_to=repo.root / TENANT_INVENTORIES)
        for path in present:
            txn.remove(path)
        txn.commit()
    return Offboarding(
        tenant=name, region=region, stack=entry.stack, org=config.org, cidr=str(config.cidr), removed=present
    )
