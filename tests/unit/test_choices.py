"""Errors that list what is allowed name a few, closest first, and the count: never the whole registry."""

from __future__ import annotations

from gpucloud.choices import closest, did_you_mean

TENANTS = [f"tenant{i:03d}" for i in range(150)] + ["acme"]


def test_a_long_list_is_cut_to_the_closest_few_and_counted() -> None:
    text = closest("tenant042", TENANTS)
    assert text.startswith("tenant042, ")
    assert text.endswith("(and 146 more; 151 in all)")
    assert len(text) < 120


def test_a_short_list_is_given_whole() -> None:
    assert sorted(closest("x", ["b", "a"]).split(", ")) == ["a", "b"]
    assert closest("b", ["a", "b"]) == "b, a"  # the closest first
    assert closest("x", []) == "none"


def test_did_you_mean_only_when_close() -> None:
    assert did_you_mean("acmee", TENANTS) == " (did you mean acme?)"
    assert did_you_mean("zzz", TENANTS) == ""
