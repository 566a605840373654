"""EncryptionKey: a customer-managed KMS key with rotation on, and its alias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from gpucloud.components.policy_documents import Statement, document


@dataclass(frozen=True, kw_only=True)
class EncryptionKeyArgs:
    description: str
    alias: str
    tags: Mapping[str, str]
    # Statements beyond "the account administers its key through IAM" (e.g. a log delivery service).
    extra_statements: Sequence[pulumi.Input[Statement]] = field(default_factory=tuple)
    # Keep the key when its stack is destroyed: a retained bucket encrypted with it must stay readable.
    retain_on_delete: bool = True


class EncryptionKey(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:security:EncryptionKey", name, None, opts)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        account_admin = account.apply(
            lambda acct: {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        )
        key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=document(account_admin, *args.extra_statements),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.alias}",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        self.arn = key.arn
        self.key_id = key.key_id
        self.register_outputs({"arn": self.arn, "key_id": self.key_id})
