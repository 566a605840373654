"""Where a tenant's files live in the repository (DESIGN.md, Files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from gpucloud.names import account_stack_name, tenant_stack_name
from gpucloud.repo import STACKS_DIR

TENANT_INVENTORIES = PurePosixPath("inventories/tenants")


@dataclass(frozen=True)
class TenantFiles:
    """Paths relative to the repository root. Inventory file names end in ``aws_ec2.yml``: the
    amazon.aws.aws_ec2 plugin ignores any other name."""

    tenant: str
    region: str

    @property
    def stack(self) -> str:
        return tenant_stack_name(self.tenant, self.region)

    @property
    def account_stack(self) -> str:
        return account_stack_name(self.tenant)

    @property
    def account_config(self) -> PurePosixPath:
        """Shared by every region of the tenant: written by its first onboarding, removed with its last region."""
        return PurePosixPath(STACKS_DIR) / f"Pulumi.{self.account_stack}.yaml"

    @property
    def stack_config(self) -> PurePosixPath:
        return PurePosixPath(STACKS_DIR) / f"Pulumi.{self.stack}.yaml"

    @property
    def directory(self) -> PurePosixPath:
        return TENANT_INVENTORIES / self.tenant

    @property
    def inventory(self) -> PurePosixPath:
        return self.directory / f"{self.region}.aws_ec2.yml"

    @property
    def handover(self) -> PurePosixPath:
        return self.directory / f"{self.region}.handover.md"

    def all(self) -> tuple[PurePosixPath, ...]:
        return (self.stack_config, self.inventory, self.handover)
