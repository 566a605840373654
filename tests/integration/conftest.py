"""Fixtures of the booted-node lab (tests/bootlab.py) that several test modules share."""

from __future__ import annotations

import os
from collections.abc import Iterator

import bootlab
import pytest


@pytest.fixture(scope="session")
def lab_sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootlab.Sources]:
    """The stand-in repository and gpucloud's wheelhouse, built once a session and served while it runs."""
    reason = bootlab.require_boot_lab()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: the repository installs it (make deps); CI must have it")
        pytest.skip(reason)
    with bootlab.lab_sources(tmp_path_factory.mktemp("labsources")) as sources:
        yield sources
