"""SecureBucket: an S3 bucket encrypted with a given KMS key, versioned, private, TLS only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from gpucloud.components.policy_documents import Statement, document, tls_only

ABORT_MULTIPART_DAYS = 7


class PublicAccessBlock(TypedDict):
    block_public_acls: bool
    block_public_policy: bool
    ignore_public_acls: bool
    restrict_public_buckets: bool


# S3 Block Public Access, all four settings: for a bucket (BucketPublicAccessBlock) or a whole account.
BLOCK_ALL_PUBLIC_ACCESS: PublicAccessBlock = {
    "block_public_acls": True,
    "block_public_policy": True,
    "ignore_public_acls": True,
    "restrict_public_buckets": True,
}


@dataclass(frozen=True, kw_only=True)
class SecureBucketArgs:
    kms_key_arn: pulumi.Input[str]
    tags: Mapping[str, str]
    # Builds further bucket-policy statements from the bucket's ARN (e.g. log delivery).
    extra_statements: Callable[[pulumi.Output[str]], Sequence[pulumi.Input[Statement]]] | None = None
    object_expiry_days: pulumi.Input[int] | None = None  # current objects expire after this many days; None: kept
    # S3 Object Lock: every new object version is locked for this many days in this mode (COMPLIANCE: nobody, the
    # account's root user included, deletes or overwrites it sooner). Set only when the bucket is created.
    object_lock: tuple[str, pulumi.Input[int]] | None = None
    noncurrent_version_days: int = 30  # an overwritten or deleted object can be recovered this long
    # Keep the bucket (and what is in it) when its stack is destroyed: a versioned bucket that holds objects
    # cannot be deleted (BucketNotEmpty), and data is never deleted as a side effect of a destroy.
    retain_on_delete: bool = True
    # The bucket's name starts so (pulumi-aws adds a unique suffix); None: named after the resource.
    name_prefix: str | None = None


class SecureBucket(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=args.name_prefix,
            force_destroy=False,
            object_lock_enabled=True if args.object_lock else None,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id, **BLOCK_ALL_PUBLIC_ACCESS, opts=child
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms",
                        kms_master_key_id=args.kms_key_arn,
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        if args.object_lock:
            mode, days = args.object_lock
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(mode=mode, days=days)
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        extra = args.extra_statements(bucket.arn) if args.extra_statements else ()
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=document(tls_only(bucket.arn), *extra),
            # A policy written before the public-access block could be judged public and refused.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]),
        )
        # Every bucket has a lifecycle: incomplete multipart uploads are aborted (they bill and are invisible),
        # old versions expire after a recovery window, and log buckets expire their objects.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="housekeeping",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_MULTIPART_DAYS
                    ),
                    expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.object_expiry_days)
                        if args.object_expiry_days is not None
                        else None
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=(
                            args.object_expiry_days
                            if args.object_expiry_days is not None
                            else args.noncurrent_version_days
                        )
                    ),
                )
            ],
            opts=child,
        )
        self.bucket = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"bucket": self.bucket, "arn": self.arn})
