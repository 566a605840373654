"""ConfigRecorder: AWS Config recording in one region of a tenant account, so that the organization's Config rules
(deployed from our security account) evaluate there. Built by the tenant stack, through its provider.

A configuration recorder with AWS Config's service-linked role (the account stack makes it), delivering to the
tenant's audit bucket of the region in our log-archive account (TenantAudit). The service-linked role cannot write
to a bucket, so AWS Config delivers as its service principal, which that bucket admits for this account alone
(``AWSLogs/<account>/Config/*``, ``aws:SourceAccount``; AWS Config Developer Guide, "Permissions for the Amazon
S3 Bucket for the AWS Config Delivery Channel", recorded 2026-12-07). tenant-protect keeps the tenant from
stopping or changing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

RECORDER_NAME = "gpucloud"


@dataclass(frozen=True, kw_only=True)
class ConfigRecorderArgs:
    role_arn: pulumi.Input[str]  # AWS Config's service-linked role in the tenant account
    bucket: pulumi.Input[str]  # the tenant's audit bucket of the region (our log-archive account)
    key_arn: pulumi.Input[str]  # its key


class ConfigRecorder(pulumi.ComponentResource):
    def __init__(self, name: str, args: ConfigRecorderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucloud:tenant:ConfigRecorder", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        recorder = aws.cfg.Recorder(
            f"{name}-recorder",
            name=RECORDER_NAME,
            role_arn=args.role_arn,
            # Every regional resource type; IAM's global types are recorded by no tenant region (one region would
            # have to be chosen, and the tenant's IAM is ours anyway: the boundary and SCPs cap it).
            recording_group=aws.cfg.RecorderRecordingGroupArgs(all_supported=True, include_global_resource_types=False),
            opts=child,
        )
        channel = aws.cfg.DeliveryChannel(
            f"{name}-delivery",
            name=RECORDER_NAME,
            s3_bucket_name=args.bucket,
            s3_kms_key_arn=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[recorder]),
        )
        aws.cfg.RecorderStatus(
            f"{name}-on",
            name=recorder.name,
            is_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[channel]),
        )
        self.register_outputs({})
