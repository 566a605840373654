"""The gpucloud tags: what every resource carries, and what the Ansible dynamic inventory groups by."""

from __future__ import annotations

from collections.abc import Mapping

TENANT = "gpucloud:tenant"
REGION = "gpucloud:region"
ROLE = "gpucloud:role"
GPU_TYPE = "gpucloud:gpu-type"
# On GPU nodes: the tenant bucket that Ansible's SSM connection stages files through.
SSM_BUCKET = "gpucloud:ssm-bucket"
# On a Slurm cluster's nodes: the ARN of the secret holding its MUNGE key (each node reads it with its own role),
# and the tenant's FSx for Lustre file system (DNS name, mount name), which the inventory composes for the roles.
MUNGE_KEY_SECRET = "gpucloud:munge-key-secret"
FSX_DNS_NAME = "gpucloud:fsx-dns-name"
FSX_MOUNT_NAME = "gpucloud:fsx-mount-name"


def region_tags(region: str) -> dict[str, str]:
    """Region stacks tag with region and role only (DESIGN.md, Tags)."""
    return {REGION: region}


def tenant_tags(tenant: str, region: str) -> dict[str, str]:
    return {TENANT: tenant, REGION: region}


def with_role(tags: Mapping[str, str], role: str, **extra: str) -> dict[str, str]:
    """``tags`` plus the component's role (and any extra tags), as a new dict."""
    return {**tags, ROLE: role, **extra}


def org_tags() -> dict[str, str]:
    """The org stack's resources: ours, in the management account, region-less."""
    return {ROLE: "organization"}


def account_tags(tenant: str) -> dict[str, str]:
    """An account stack's resources belong to the tenant, in no particular region."""
    return {TENANT: tenant}
