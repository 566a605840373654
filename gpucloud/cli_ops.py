"""``gpucloud ops credentials``: an operator's session into our operations role, naming the person.

The operator role in every tenant account trusts our operations role only for a session that carries an
``sts:SourceIdentity`` (its trust requires one), and the source identity, once set, stays on every session chained
from it and on every CloudTrail record they make (IAM User Guide, "Monitor and control actions taken with assumed
roles", recorded 2026-12-07). AWS CLI profiles cannot set one, so this command is the ``credential_process`` of the
operations profile: it assumes the role with the person's name as source identity and prints the credentials in
the format the AWS CLI and boto3 read (AWS CLI User Guide, "Sourcing credentials with an external process").
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import click

from gpucloud.cli_support import CONTEXT
from gpucloud.config import ROLE_ARN_PATTERN
from gpucloud.errors import ConfigError, CredentialsError

# STS AssumeRole SourceIdentity and RoleSessionName: 2 to 64 of [\w+=,.@-]; a source identity never starts with
# "aws:" (STS API reference, AssumeRole, recorded 2026-12-07).
SOURCE_IDENTITY = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
DURATION_S = (900, 43200)  # AssumeRole DurationSeconds; the role's own maximum may be lower


def check_source_identity(value: str) -> str:
    if not SOURCE_IDENTITY.fullmatch(value) or value.lower().startswith("aws:"):
        raise ConfigError(
            f"--source-identity={value!r}: want 2 to 64 of letters, digits and _+=,.@- naming the person "
            "(e.g. alice@example.com), not starting with aws:"
        )
    return value


def process_credentials(answer: dict[str, Any]) -> dict[str, Any]:
    """STS's AssumeRole answer in the ``credential_process`` format (Version 1)."""
    creds = answer["Credentials"]
    expiration = creds["Expiration"]
    return {
        "Version": 1,
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "SessionToken": creds["SessionToken"],
        "Expiration": expiration.isoformat() if isinstance(expiration, datetime) else str(expiration),
    }


@click.group(context_settings=CONTEXT)
def ops() -> None:
    """Our operators' own access (README: "Reaching a tenant's nodes")."""


@ops.command("credentials", context_settings=CONTEXT)
@click.option("--role-arn", required=True, metavar="ARN", help="Our operations role (the org config's).")
@click.option(
    "--source-identity",
    required=True,
    metavar="NAME",
    help="Who you are (e.g. alice@example.com): CloudTrail names it on everything the session does.",
)
@click.option(
    "--duration",
    type=click.IntRange(*DURATION_S),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="How long the session lasts (900 to 43200, within the role's maximum).",
)
def credentials(role_arn: str, source_identity: str, duration: int) -> None:
    """Assume our operations role as NAME and print the session for an AWS profile's credential_process.

    OPS_ROLE is our operations role's ARN (the org config's operationsRoleArn).

    \b
    In ~/.aws/config:
      [profile gpucloud-ops]
      credential_process = gpucloud ops credentials --role-arn OPS_ROLE --source-identity alice@example.com
      [profile gpucloud-tenant-acme]
      role_arn = arn:aws:iam::<acme's account id>:role/gpucloud/gpucloud-operator
      source_profile = gpucloud-ops
    """
    if not ROLE_ARN_PATTERN.fullmatch(role_arn):
        raise ConfigError(f"--role-arn={role_arn!r}: want an IAM role ARN arn:aws:iam::<12 digits>:role/NAME")
    check_source_identity(source_identity)
    import boto3
    import botocore.exceptions  # type: ignore[import-untyped]

    try:
        answer = boto3.client("sts").assume_role(
            RoleArn=role_arn,
            RoleSessionName=source_identity,
            SourceIdentity=source_identity,
            DurationSeconds=duration,
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        raise CredentialsError(f"could not assume {role_arn} as {source_identity}: {err}") from None
    click.echo(json.dumps(process_credentials(answer)))
