"""The plan's dependency graph in Graphviz DOT: a node per resource, an edge from each to what it waits for."""

from __future__ import annotations

import json

from gpucloud.plan.offline import Plan


def _quote(text: str) -> str:
    return json.dumps(text)  # a DOT string: double quotes, backslash escapes


def dot(plan: Plan) -> str:
    """``digraph``: resources in account clusters (ours, the tenant's), edges resource -> dependency."""
    accounts = plan.accounts()
    lines = [f"digraph {_quote(plan.stack)} {{", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    by_account: dict[str, list[str]] = {}
    for res in plan.resources:
        if not res.custom or res.type.startswith("pulumi:providers:"):
            continue
        account = accounts.get(res.provider, "unknown")
        by_account.setdefault(account, []).append(
            f"    {_quote(res.urn)} [label={_quote(res.type.rsplit(':', 1)[-1] + chr(10) + res.name)}];"
        )
    for i, (account, nodes) in enumerate(sorted(by_account.items())):
        label = "our account" if account == "ours" else f"account {account}"
        lines += [f"  subgraph cluster_{i} {{", f"    label={_quote(label)};", *nodes, "  }"]
    shown = {r.urn for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")}
    for res in plan.resources:
        if res.urn not in shown:
            continue
        lines += [f"  {_quote(res.urn)} -> {_quote(dep)};" for dep in res.dependencies if dep in shown]
    lines.append("}")
    return "\n".join(lines) + "\n"
