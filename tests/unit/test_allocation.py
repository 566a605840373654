"""CIDR allocation: the first free block, aligned, inside the supernet, never overlapping what is taken."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from gpucloud.allocation import choose_az, first_free_block

N = ipaddress.IPv4Network
SUPERNET = N("10.16.0.0/16")


def test_an_empty_supernet_gives_its_first_block() -> None:
    assert first_free_block(SUPERNET, 20, []) == N("10.16.0.0/20")


def test_the_first_gap_is_taken_whatever_the_order_of_the_taken_blocks() -> None:
    taken = [N("10.16.32.0/20"), N("10.16.0.0/20")]
    assert first_free_block(SUPERNET, 20, taken) == N("10.16.16.0/20")
    assert first_free_block(SUPERNET, 20, list(reversed(taken))) == N("10.16.16.0/20")


def test_a_small_block_in_the_way_pushes_to_the_next_aligned_block() -> None:
    assert first_free_block(SUPERNET, 20, [N("10.16.1.0/24")]) == N("10.16.16.0/20")


def test_a_full_supernet_gives_none() -> None:
    assert first_free_block(N("10.16.0.0/19"), 20, [N("10.16.0.0/20"), N("10.16.16.0/20")]) is None
    assert first_free_block(N("10.16.0.0/19"), 20, [N("10.16.0.0/16")]) is None


def test_blocks_outside_the_supernet_do_not_matter() -> None:
    assert first_free_block(SUPERNET, 20, [N("10.15.0.0/16"), N("10.17.0.0/16")]) == N("10.16.0.0/20")


@st.composite
def taken_blocks(draw: st.DrawFn) -> list[N]:
    """Disjoint blocks of /20 to /24 inside a /18 (16 candidate /22 blocks): small enough to check by brute force."""
    blocks: list[N] = []
    for _ in range(draw(st.integers(0, 20))):
        prefix = draw(st.integers(20, 24))
        index = draw(st.integers(0, 2 ** (prefix - 18) - 1))
        block = N((int(N("10.16.0.0/18").network_address) + index * 2 ** (32 - prefix), prefix))
        if not any(block.overlaps(b) for b in blocks):
            blocks.append(block)
    return blocks


@given(taken_blocks(), st.integers(20, 24))
def test_the_block_is_the_lowest_free_one(taken: list[N], prefix: int) -> None:
    supernet = N("10.16.0.0/18")
    found = first_free_block(supernet, prefix, taken)
    free = [c for c in supernet.subnets(new_prefix=prefix) if not any(c.overlaps(t) for t in taken)]
    assert found == (free[0] if free else None)


def test_choose_az_takes_the_first_az_with_room_for_every_node() -> None:
    assert choose_az({"use1-az4": 1, "use1-az6": 3}, 2) == "use1-az6"
    assert choose_az({"use1-az4": 2, "use1-az6": 3}, 2) == "use1-az4"
    assert choose_az({"use1-az4": 1, "use1-az6": 1}, 2) is None
