"""SecurityTooling: in our security account, the delegated administrator of CloudTrail and of AWS Config.

- the organization trail: every account's management events, and the data events on every audit bucket of ours
  (who read or wrote the audit record: the trail's own, and each tenant's flow-log and AWS Config bucket, all named
  under the landing zone's audit prefix), into the log-archive bucket, encrypted with its key, log files validated;
- AWS Config across the organization: the managed rules that watch what the SCPs cannot stop (flow logs on every
  VPC, IMDSv2 on every instance, the account-level S3 Block Public Access), and an aggregator of their results.

The management account registers the delegations (trusted access, delegated administrators); this component waits
for them (``delegations``), then acts in the security account alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpucloud.components.log_archive import TRAIL_NAME
from gpucloud.components.policy_documents import assume_role
from gpucloud.organization.landing_zone import load_landing_zone

CONFIG = "config.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class SecurityToolingArgs:
    trail_bucket: pulumi.Input[str]
    trail_key_arn: pulumi.Input[str]
    trail_delegation: pulumi.Resource  # CloudTrail's delegated administrator, registered by the management account
    config_delegations: Sequence[pulumi.Resource]  # AWS Config's (rules and aggregation)
    tags: Mapping[str, str]


def trail_selectors(audit_prefix: str) -> list[aws.cloudtrail.TrailAdvancedEventSelectorArgs]:
    """Management events of every account, and S3 data events on the objects of every bucket whose name starts with
    ``audit_prefix`` (CloudTrail User Guide, "Filtering data events by using advanced event selectors"; StartsWith
    takes any value: CloudTrail API Reference, AdvancedFieldSelector; recorded 2026-12-07)."""
    field = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs
    return [
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Management events", field_selectors=[field(field="eventCategory", equals=["Management"])]
        ),
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Who reads or writes the audit record",
            field_selectors=[
                field(field="eventCategory", equals=["Data"]),
                field(field="resources.type", equals=["AWS::S3::Object"]),
                field(field="resources.ARN", starts_withs=[f"arn:aws:s3:::{audit_prefix}"]),
            ],
        ),
    ]


class SecurityTooling(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: SecurityToolingArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gpucloud:org:SecurityTooling", name, None, opts)
        zone = load_landing_zone()
        in_account = pulumi.ResourceOptions(parent=self, provider=provider)
        aws.cloudtrail.Trail(
            f"{name}-trail",
            name=TRAIL_NAME,
            s3_bucket_name=args.trail_bucket,
            kms_key_id=args.trail_key_arn,
            is_organization_trail=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            advanced_event_selectors=trail_selectors(zone.audit_bucket_prefix),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions.merge(in_account, pulumi.ResourceOptions(depends_on=[args.trail_delegation])),
        )
        role = aws.iam.Role(
            f"{name}-config-aggregator",
            name="gpucloud-config-aggregator",
            assume_role_policy=assume_role(CONFIG),
            description="AWS Config reads the organization's accounts for the aggregator",
            tags=dict(args.tags),
            opts=in_account,
        )
        grant = aws.iam.RolePolicyAttachment(
            f"{name}-config-aggregator-reads-organization",
            role=role.name,
            policy_arn=zone.config_aggregator_policy,
            opts=in_account,
        )
        after_delegation = pulumi.ResourceOptions.merge(
            in_account, pulumi.ResourceOptions(depends_on=[*args.config_delegations, grant])
        )
        aws.cfg.ConfigurationAggregator(
            f"{name}-config-aggregator",
            name="gpucloud-organization",
            organization_aggregation_source=aws.cfg.ConfigurationAggregatorOrganizationAggregationSourceArgs(
                all_regions=True, role_arn=role.arn
            ),
            tags=dict(args.tags),
            opts=after_delegation,
        )
        for rule in zone.config_rules:
            aws.cfg.OrganizationManagedRule(
                f"{name}-{rule.name}",
                name=f"gpucloud-{rule.name}",
                rule_identifier=rule.identifier,
                opts=after_delegation,
            )
        self.register_outputs({})
