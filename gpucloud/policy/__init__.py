"""Isolation and security rules over what a stack program registers.

One module, two users:

- ``gpucloud plan`` and ``gpucloud policy check`` run the rules over the offline plan's resources;
- the CrossGuard pack in ``policy/`` runs the very same rules inside ``pulumi preview`` / ``pulumi up``
  (``gpucloud.crossguard`` turns the engine's resources into the same ``RecordedResource`` shape).

A rule sees each resource's type, URN, properties (Pulumi's camelCase names) and which resources each
property was computed from (``deps``: property dependencies, as the engine records them). Resources are
linked through those dependencies, or through an ID when one is known, never through resource names.

Rules a usual suite has (encryption, IMDSv2, public access) apply to every stack; the tenant rules
(tag, isolation, security-group scope, foreign ARNs) to tenant stacks, whose config says which CIDR and
tenant are theirs.

The rules live in one module per family (``network``, ``compute``, ``storage``, ``identity``, ``tenancy``,
``organization``) over a small shared ``core``; ``rules`` lists them all.
"""

from gpucloud.policy.core import PROVIDER_PREFIX, UNKNOWN, Rule, Stack, Violation, links
from gpucloud.policy.rules import RULES, evaluate, rules_for
from gpucloud.policy.tenancy import ACCOUNTLESS_PROVIDERS, provider_account

__all__ = [
    "ACCOUNTLESS_PROVIDERS",
    "PROVIDER_PREFIX",
    "RULES",
    "UNKNOWN",
    "Rule",
    "Stack",
    "Violation",
    "evaluate",
    "links",
    "provider_account",
    "rules_for",
]
