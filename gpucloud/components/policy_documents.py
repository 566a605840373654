"""IAM, KMS and bucket policy documents as Pulumi outputs of JSON text (no invokes, so offline plans match)."""

from __future__ import annotations

import json
from typing import Any

import pulumi

Statement = dict[str, Any]


def document(*statements: pulumi.Input[Statement]) -> pulumi.Output[str]:
    """A policy document (version 2012-10-17) holding ``statements``, as JSON text."""
    return pulumi.Output.all(*statements).apply(
        lambda resolved: json.dumps({"Version": "2012-10-17", "Statement": list(resolved)}, sort_keys=True)
    )


def tls_only(bucket_arn: pulumi.Input[str]) -> pulumi.Output[Statement]:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return pulumi.Output.from_input(bucket_arn).apply(
        lambda arn: {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        },
        sort_keys=True,
    )
