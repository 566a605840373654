"""Naming what is allowed without printing the whole registry: the closest few first, then the count."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SHOWN = 5


def closest(value: str, options: Iterable[str], *, limit: int = SHOWN) -> str:
    """``"a, b, c (and 147 more; 150 in all)"``, the options most like ``value`` first; ``"none"`` if empty."""
    unique = sorted(set(options))
    if not unique:
        return "none"
    shown = difflib.get_close_matches(value, unique, n=limit, cutoff=0.0)
    shown += [o for o in unique if o not in shown][: max(0, limit - len(shown))]
    more = len(unique) - len(shown)
    listed = ", ".join(shown)
    return f"{listed} (and {more} more; {len(unique)} in all)" if more else listed


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """``" (did you mean acme?)"`` when one option is close to ``value``, else ``""``."""
    match = difflib.get_close_matches(value, sorted(set(options)), n=1, cutoff=0.75)
    return f" (did you mean {match[0]}?)" if match else ""
