"""Would a set of SCPs deny a request? A small evaluator of the Deny statements gpucloud's guardrails use, so
rules and tests ask the question an auditor asks ("can a tenant's root user launch an instance?", "can a role
the tenant made satisfy an exemption?") of the very documents the plan attaches, not of their names.

It follows IAM's policy evaluation logic for what SCP Deny statements use (IAM User Guide, "Policy evaluation
logic" and "IAM JSON policy elements: Condition operators",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html and
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
recorded 2026-12-07): an action or resource matches with ``*`` and ``?`` wildcards, case-insensitively for
actions; within a condition block every operator must hold (AND), within an operator every key (AND), and for
a key any of the listed values (OR); a negated operator (``StringNotEquals``, ``ArnNotLike``) holds when the
key is absent; a positive one does not. ``Null: {"k": "true"}`` holds when the key is absent.

An operator it does not know makes it raise, rather than guess: a guardrail it cannot read is not judged safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """One API call: who (``aws:PrincipalArn`` and any other context keys), what, on which resource."""

    action: str
    principal_arn: str
    resource: str = "*"
    context: Mapping[str, str] = field(default_factory=dict)

    def value(self, key: str) -> str | None:
        if key.lower() == "aws:principalarn":
            return self.principal_arn
        lowered = {k.lower(): v for k, v in self.context.items()}
        return lowered.get(key.lower())


class UnknownOperator(ValueError):
    pass


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _glob(pattern: str, text: str, *, case: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, flags=0 if case else re.IGNORECASE) is not None


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own, with wildcards."""
    parts, values = pattern.split(":", 5), arn.split(":", 5)
    return len(parts) == len(values) == 6 and all(_glob(p, v, case=True) for p, v in zip(parts, values, strict=True))


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: _glob(p, v, case=True),
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": _arn_like,
    "NumericEquals": lambda p, v: float(v) == float(p),
    "NumericGreaterThan": lambda p, v: float(v) > float(p),
    "NumericLessThan": lambda p, v: float(v) < float(p),
    "Bool": lambda p, v: p.lower() == v.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def _operator_holds(operator: str, keys: Mapping[str, Any], request: Request) -> bool:
    if operator == "Null":
        return all((request.value(k) is None) == (str(want).lower() == "true") for k, want in keys.items())
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)
    if base not in _POSITIVE:
        raise UnknownOperator(f"condition operator {operator!r} is not understood")
    test = _POSITIVE[base]
    for key, patterns in keys.items():
        seen = request.value(key)
        if seen is None:
            if not negated:
                return False
            continue
        matched = any(test(p, seen) for p in _listed(patterns))
        if matched == negated:
            return False
    return True


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not any(_glob(a, request.action, case=False) for a in _listed(statement["Action"])):
            return False
    elif any(_glob(a, request.action, case=False) for a in _listed(statement.get("NotAction", []))):
        return False
    resources = _listed(statement.get("Resource", "*"))
    if not any(_glob(r, request.resource, case=True) for r in resources):
        return False
    return all(_operator_holds(op, keys, request) for op, keys in (statement.get("Condition") or {}).items())


def _matching(effect: str, documents: Iterable[Document], request: Request) -> list[str]:
    return [
        str(statement.get("Sid", "?"))
        for document in documents
        for statement in _listed_statements(document)
        if statement.get("Effect") == effect and _matches(statement, request)
    ]


def denying_statements(documents: Iterable[Document], request: Request) -> list[str]:
    """The Sids of the Deny statements that deny ``request`` (empty: the SCPs let it through to IAM)."""
    return _matching("Deny", documents, request)


def allowing_statements(documents: Iterable[Document], request: Request) -> list[str]:
    """The Sids of the Allow statements that match ``request`` (an identity policy read the same way: whether it
    grants the request at all, before any Deny, boundary or SCP)."""
    return _matching("Allow", documents, request)


def _listed_statements(document: Document) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]
