"""The exceptions gpucloud raises for a user's mistake or a failed operation.

The CLI catches ``GpucloudError`` and its subclasses, prints the message on one line and exits
with ``exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GpucloudError(Exception):
    """Base of every error a user can cause or act on."""

    exit_code = 2


class ConfigError(GpucloudError):
    """A stack config, a data file or a command-line value is missing or wrong."""


class CatalogError(ConfigError):
    """The GPU catalog (or another packaged data file) does not validate."""


class StackNotFoundError(ConfigError):
    """No stack of that name in the repository."""


class RepositoryError(GpucloudError):
    """The command is not run inside a gpucloud repository."""


class PlanError(GpucloudError):
    """The stack program failed while the offline plan ran it."""

    exit_code = 1


class CredentialsError(GpucloudError):
    """AWS refused to hand out credentials (no base credentials, a role that may not be assumed)."""

    exit_code = 1
