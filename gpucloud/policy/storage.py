"""Storage rules: keys, buckets, file systems, and the logs delivered into them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gpucloud import tags as t
from gpucloud.plan.mocks import RecordedResource
from gpucloud.policy.core import (
    BUCKET,
    EGRESS_RULE,
    FSX_LUSTRE,
    INGRESS_RULE,
    SECURITY_GROUP_TYPES,
    UNKNOWN,
    Finding,
    Stack,
    _as_list,
    _linked,
    _statements,
    links,
)


def _kms_rotation(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type("aws:kms/key:Key"):
        if res.inputs.get("enableKeyRotation") is not True:
            yield res.urn, "key rotation is off"


def _fsx_encrypted_with_cmk(stack: Stack) -> Iterator[Finding]:
    for res in stack.of_type("aws:fsx/lustreFileSystem:LustreFileSystem"):
        if not res.inputs.get("kmsKeyId"):
            yield res.urn, "file system not encrypted with a customer-managed key"


def _bucket_rule(
    type_: str, ok: Callable[[RecordedResource], bool], message: str
) -> Callable[[Stack], Iterator[Finding]]:
    """A rule that every bucket needs a resource of ``type_`` attached to it for which ``ok`` holds."""

    def check(stack: Stack) -> Iterator[Finding]:
        for bucket in stack.of_type(BUCKET):
            if not any(ok(r) for r in _linked(stack, type_, "bucket", bucket)):
                yield bucket.urn, message

    return check


def _sse_with_cmk(res: RecordedResource) -> bool:
    return any(
        (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") == "aws:kms"
        and (rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
        for rule in res.inputs.get("rules") or []
    )


def _blocks_public(res: RecordedResource) -> bool:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return all(res.inputs.get(f) is True for f in flags)


def _denies_insecure_transport(res: RecordedResource) -> bool:
    if res.inputs.get("policy") == UNKNOWN:
        return True  # judged at `pulumi up`
    return any(
        s.get("Effect") == "Deny"
        and ((s.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport") in ("false", False)
        for s in _statements(res.inputs.get("policy"))
    )


def _versioned(res: RecordedResource) -> bool:
    return (res.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"


def _fsx_waits_for_its_rules(stack: Stack) -> Iterator[Finding]:
    """FSx checks at creation that its groups admit LNet: it must wait for every rule of its groups."""
    rules = list(stack.of_type(INGRESS_RULE, EGRESS_RULE))
    for fs in stack.of_type(FSX_LUSTRE):
        groups = [g for g in stack.of_type(*SECURITY_GROUP_TYPES) if links(fs, "securityGroupIds", g)]
        waits = set(fs.dependencies)
        for rule in rules:
            if any(links(rule, "securityGroupId", g) for g in groups) and rule.urn not in waits:
                yield fs.urn, f"created without waiting for {rule.urn}: FSx may find LNet (TCP 988) not yet allowed"


LOG_SERVICES = ("delivery.logs.amazonaws.com", "cloudtrail.amazonaws.com", "config.amazonaws.com")


SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid")


def _log_services_name_their_source(stack: Stack) -> Iterator[Finding]:
    """Log delivery into our buckets and keys only on behalf of our own trail, accounts or organization
    (the confused-deputy guard AWS documents for service principals)."""
    for res in stack.resources:
        if res.type not in ("aws:s3/bucketPolicy:BucketPolicy", "aws:kms/key:Key"):
            continue
        for statement in _statements(res.inputs.get("policy")):
            principal = statement.get("Principal")
            services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
            service = next((s for s in services if s in LOG_SERVICES), None)
            if statement.get("Effect") != "Allow" or service is None:
                continue
            keys = {k.lower() for cond in (statement.get("Condition") or {}).values() for k in cond}
            if not keys & set(SOURCE_KEYS):
                yield res.urn, f"{service} is admitted without aws:SourceArn, aws:SourceAccount or aws:SourceOrgID"


_LOG_PREFIX = re.compile(r"/AWSLogs/(?P<owner>\d{12}|o-[a-z0-9]{10,32})/")


def _condition_values(statement: Mapping[str, Any], key: str) -> list[str]:
    """Every value the statement's Condition tests ``key`` against (any operator; keys are case-insensitive)."""
    condition = statement.get("Condition") or {}
    return [
        str(v)
        for tests in (condition.values() if isinstance(condition, Mapping) else ())
        if isinstance(tests, Mapping)
        for k, values in tests.items()
        if k.lower() == key
        for v in _as_list(values)
    ]


def _log_writes_per_account(stack: Stack) -> Iterator[Finding]:
    """A log service writes into our buckets only under the prefix of the account (or organization, for the
    organization trail) it writes for, and only on behalf of that source: ``AWSLogs/<account>/*`` with
    ``aws:SourceAccount`` or ``aws:SourceArn`` naming it (AWS's documented policies for flow logs and CloudTrail).
    ``AWSLogs/*`` with ``aws:SourceOrgID`` let any tenant write under another tenant's prefix."""
    for res in stack.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        for statement in _statements(res.inputs.get("policy")):
            principal = statement.get("Principal")
            services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
            actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
            if statement.get("Effect") != "Allow" or not set(services) & set(LOG_SERVICES):
                continue
            if not any(a in ("s3:putobject", "s3:*", "*") for a in actions):
                continue
            sid = statement.get("Sid", "a log-delivery statement")
            sources = _condition_values(statement, "aws:sourcearn") + _condition_values(statement, "aws:sourceaccount")
            if not sources:
                yield res.urn, f"{sid}: admits {services[0]} with neither aws:SourceAccount nor aws:SourceArn"
                continue
            for resource in (str(r) for r in _as_list(statement.get("Resource"))):
                match = _LOG_PREFIX.search(resource)
                if match is None:
                    yield res.urn, f"{sid}: writes to {resource}, not under AWSLogs/<account>/ of one source"
                elif match["owner"].isdigit() and not any(match["owner"] in source for source in sources):
                    yield res.urn, f"{sid}: {resource} is account {match['owner']}'s prefix, but the source is not"


def _bucket_policy_size(stack: Stack) -> Iterator[Finding]:
    """S3 refuses a bucket policy over 20 KB (a policy that lists accounts grows with them: why each tenant has its
    own audit bucket)."""
    from gpucloud.organization.guardrails import load_guardrails

    limit = load_guardrails().s3_bucket_policy_max_bytes
    for res in stack.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        policy = res.inputs.get("policy")
        if isinstance(policy, str) and policy != UNKNOWN and len(policy.encode()) > limit:
            yield res.urn, f"{len(policy.encode())} bytes, over S3's {limit} for a bucket policy"


SSE_CONFIG = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
AUDIT_ROLE = "audit"


def _everyone(principal: object) -> bool:
    """``"*"`` or ``{"AWS": "*"}``: any principal (narrowed, if at all, by a condition such as aws:PrincipalOrgID)."""
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))


def _no_wide_decrypt_on_audit_keys(stack: Stack) -> Iterator[Finding]:
    """A key that encrypts an audit bucket (flow logs, the organization trail) admits no one-for-all principal to
    decrypt: every tenant of the organization would read the audit trail through S3, given object access."""
    audit_buckets = [b for b in stack.of_type(BUCKET) if (b.inputs.get("tags") or {}).get(t.ROLE) == AUDIT_ROLE]
    for key in stack.of_type("aws:kms/key:Key"):
        encrypts_audit = any(
            key.urn in sse.deps.get("rules", ()) and any(links(sse, "bucket", b) for b in audit_buckets)
            for sse in stack.of_type(SSE_CONFIG)
        )
        if not encrypts_audit:
            continue
        for statement in _statements(key.inputs.get("policy")):
            actions = [str(a) for a in _as_list(statement.get("Action"))]
            decrypts = any(a in ("kms:Decrypt", "kms:*", "*") for a in actions)
            if statement.get("Effect") == "Allow" and decrypts and _everyone(statement.get("Principal")):
                yield key.urn, f"statement {statement.get('Sid', '?')} lets any principal decrypt audit objects"


TRAIL = "aws:cloudtrail/trail:Trail"


def _records_audit_objects(selector: Mapping[str, Any], arn_prefix: str) -> bool:
    """Whether an advanced event selector records S3 data events on every object whose ARN starts ``arn_prefix``."""
    fields = {str(f.get("field")): f for f in selector.get("fieldSelectors") or () if isinstance(f, Mapping)}
    if (fields.get("eventCategory") or {}).get("equals") != ["Data"]:
        return False
    if (fields.get("resources.type") or {}).get("equals") != ["AWS::S3::Object"]:
        return False
    if set(fields) - {"eventCategory", "resources.type", "resources.ARN"}:
        return False  # narrowed further (read-only, some event names): not every access is recorded
    arn = fields.get("resources.ARN")
    return arn is None or any(arn_prefix.startswith(str(p)) for p in _as_list(arn.get("startsWiths")))


def _audit_recorded(stack: Stack) -> Iterator[Finding]:
    """Who reads or writes our audit record is itself recorded: every audit bucket is named under the landing
    zone's audit prefix, and the organization trail records S3 data events on every object under it."""
    from gpucloud.organization.landing_zone import load_landing_zone

    prefix = load_landing_zone().audit_bucket_prefix
    for bucket in stack.of_type(BUCKET):
        if (bucket.inputs.get("tags") or {}).get(t.ROLE) != AUDIT_ROLE:
            continue
        named = str(bucket.inputs.get("bucketPrefix") or bucket.inputs.get("bucket") or "")
        if not named.startswith(prefix):
            yield bucket.urn, f"audit bucket named {named or 'by Pulumi'!r}, not under {prefix!r}: the trail misses it"
    arn_prefix = f"arn:aws:s3:::{prefix}"
    for trail in stack.of_type(TRAIL):
        if trail.inputs.get("isOrganizationTrail") is not True:
            continue
        selectors = [s for s in trail.inputs.get("advancedEventSelectors") or () if isinstance(s, Mapping)]
        if not any(_records_audit_objects(s, arn_prefix) for s in selectors):
            yield trail.urn, f"the organization trail records no S3 data events on {arn_prefix}*"
