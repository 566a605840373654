"""Address and capacity allocation: the first free CIDR block of a supernet, and where a node pool fits."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping


def first_free_block(
    supernet: ipaddress.IPv4Network, prefix: int, taken: Iterable[ipaddress.IPv4Network]
) -> ipaddress.IPv4Network | None:
    """The lowest block of size ``/prefix`` inside ``supernet`` that overlaps none of ``taken``.

    Deterministic for the same inputs, whatever their order; ``None`` when the supernet is full.
    One pass over the taken ranges, sorted: O(n log n), however many tenants a region has.
    """
    size = 2 ** (32 - prefix)
    start = int(supernet.network_address)
    end = int(supernet.broadcast_address)
    candidate = start
    for net in sorted(taken, key=lambda n: int(n.network_address)):
        low, high = int(net.network_address), int(net.broadcast_address)
        if high < candidate:
            continue
        if candidate + size - 1 < low:
            break  # the candidate ends before this range starts
        candidate = -(-(high + 1) // size) * size  # the next block boundary after this range
    if candidate + size - 1 > end:
        return None
    return ipaddress.IPv4Network((candidate, prefix))


def choose_az(remaining: Mapping[str, int], nodes: int) -> str | None:
    """The first AZ (in the region's order) with room for ``nodes``; ``None`` when none has."""
    return next((az for az, free in remaining.items() if free >= nodes), None)
