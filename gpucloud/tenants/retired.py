"""Tombstones: what an offboarded tenant held, kept out of allocation for a grace period.

An offboarded tenant's VPC may still exist for a while (a destroy that stalled, an ENI that lingered), and a
block handed at once to the next tenant could then overlap a live network. So the second step of offboarding
writes a tombstone into ``stacks/retired.yaml`` (reviewed in git like every stack config): until its date,
allocation skips the CIDR and counts the capacity as held, and ``validate`` treats both as taken.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from gpucloud.datafiles import load_yaml
from gpucloud.errors import ConfigError

RETIRED_FILE = PurePosixPath("stacks/retired.yaml")
GRACE_DAYS = 30
HEADER = """\
# CIDRs and GPU capacity of offboarded tenants, held back until the date beside each: allocation skips them
# and `gpucloud validate` counts them as taken. Written by `gpucloud tenant offboard ... --destroyed`.
# A tombstone past its date no longer counts; removing it then is a tidy-up, not a change of meaning.
"""


@dataclass(frozen=True, kw_only=True)
class Tombstone:
    stack: str
    region: str
    cidr: ipaddress.IPv4Network
    gpu_type: str
    az: str
    nodes: int
    since: datetime.date
    until: datetime.date

    def active(self, today: datetime.date) -> bool:
        return today <= self.until

    def as_yaml(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "cidr": str(self.cidr),
            "gpuType": self.gpu_type,
            "az": self.az,
            "nodes": self.nodes,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
        }


def parse_retired(text: str) -> list[Tombstone]:
    """The tombstones of ``stacks/retired.yaml``; a ConfigError naming the entry and key otherwise."""
    try:
        doc = load_yaml(text) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{RETIRED_FILE}: not valid YAML") from None
    entries = doc.get("retired") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{RETIRED_FILE}: want a top-level 'retired:' list")
    stones: list[Tombstone] = []
    for i, item in enumerate(entries):
        try:
            stones.append(
                Tombstone(
                    stack=str(item["stack"]),
                    region=str(item["region"]),
                    cidr=ipaddress.IPv4Network(item["cidr"]),
                    gpu_type=str(item["gpuType"]),
                    az=str(item["az"]),
                    nodes=int(item["nodes"]),
                    since=datetime.date.fromisoformat(str(item["since"])),
                    until=datetime.date.fromisoformat(str(item["until"])),
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{RETIRED_FILE}: retired[{i}]: {err}") from None
    return stones


def render_retired(stones: list[Tombstone]) -> str:
    body = yaml.safe_dump({"retired": [s.as_yaml() for s in stones]}, sort_keys=False, default_flow_style=False)
    return HEADER + body
