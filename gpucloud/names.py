"""Tenant names and stack names: what is allowed, with messages that say so."""

from __future__ import annotations

import re

from gpucloud.errors import ConfigError

TENANT_NAME_MAX = 32
_TENANT_NAME = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")
# Words that would read as something other than a tenant in a stack name, a tag or a path.
RESERVED_TENANT_NAMES = frozenset(
    {"region", "tenant", "admin", "root", "default", "all", "none", "system", "gpucloud", "aws", "test"}
    # our own accounts' duties (data/landing_zone.yaml): their root e-mails are the mailbox plus-addressed with them
    | {"log-archive", "security", "capacity"}
)
TENANT_NAME_RULE = (
    f"a DNS label: a lower-case letter first, then [a-z0-9-], at most {TENANT_NAME_MAX} characters, no trailing hyphen"
)


def check_tenant_name(name: object, *, key: str = "tenant") -> str:
    """The name itself when it is a valid tenant name; a ConfigError naming it and the rule otherwise."""
    if not isinstance(name, str):
        raise ConfigError(f"{key}={name!r} is not a string; want {TENANT_NAME_RULE}")
    if len(name) > TENANT_NAME_MAX or not _TENANT_NAME.fullmatch(name):
        raise ConfigError(f"{key}={name!r} is not a valid tenant name; want {TENANT_NAME_RULE}")
    if name in RESERVED_TENANT_NAMES:
        raise ConfigError(f"{key}={name!r} is reserved; reserved names: {', '.join(sorted(RESERVED_TENANT_NAMES))}")
    return name


def region_stack_name(region: str) -> str:
    return f"region-{region}"


def tenant_stack_name(tenant: str, region: str) -> str:
    return f"tenant-{tenant}-{region}"


def account_stack_name(tenant: str) -> str:
    return f"account-{tenant}"
