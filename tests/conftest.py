"""Shared fixtures: the repository under test, copies of it, and cached offline plans."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bootlab
import pytest
import yaml

from gpucloud.plan.offline import Plan, Planner
from gpucloud.repo import Repository

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_STACKS = ("org", "account-acme", "region-eu-north-1", "region-us-east-1", "tenant-acme-us-east-1")


# A booted-node test's bound, fixture setup included (the first test of a module pays for booting and converging its
# lab; the session's first also for building the root filesystem and the stand-in repository; the cluster module's
# setup took 617 s with both cores kept busy by another process). Past it the test
# fails with pytest-timeout's stack dump, its fixtures power the nodes off, and the suite goes on.
INTEGRATION_TIMEOUT_S = 1200


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(INTEGRATION_TIMEOUT_S))


@pytest.fixture(autouse=True)
def _signals_unblocked() -> Iterator[None]:
    """A command run in-process (``gpucloud.cli.main``) ends by blocking SIGINT and SIGTERM (``interrupt.block``: a
    finished command must not die of a late Ctrl-C, and its process exits next). In pytest's process the mask
    outlived the command, and every process started afterwards inherited it: the lab's CPU hogs ignored
    ``terminate()`` and kept both cores busy for their full 600 s, through the rest of a fresh clone's `make test`
    (the last ten minutes of it, on 2026-12-07), and pytest waited for them at exit. Each test starts with them
    unblocked."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_plans() -> dict[str, Plan]:
    planner = Planner(Repository(ROOT))
    return {stack: planner.plan(stack) for stack in SAMPLE_STACKS}


@pytest.fixture()
def repo_copy(tmp_path: Path) -> Path:
    """A throw-away copy of the repository's project file, stacks, templates and inventories."""
    return copy_repository(tmp_path / "repo")


def copy_repository(dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", dest / "Pulumi.yaml")
    for folder in ("stacks", "templates", "inventories"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a repository copy and its bytes, but gpucloud's own git-ignored state in .gpucloud/."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".gpucloud" not in p.relative_to(root).parts and "__pycache__" not in p.parts
    }


def read_stack(root: Path, stack: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return doc


def write_stack(root: Path, stack: str, doc: dict[str, Any]) -> None:
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def edit_stack(root: Path, stack: str, change: Callable[[dict[str, Any]], None]) -> None:
    doc = read_stack(root, stack)
    change(doc["config"])
    write_stack(root, stack, doc)


@pytest.fixture()
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["COLUMNS"] = "200"
    return env


@pytest.fixture(scope="session")
def lab_sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootlab.Sources]:
    """The booted-node lab's stand-in repository and gpucloud's wheelhouse (tests/bootlab.py), built once a
    session and served while it runs; shared by every module that boots nodes."""
    reason = bootlab.require_boot_lab()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: the repository installs it (make deps); CI must have it")
        pytest.skip(reason)
    with bootlab.lab_sources(tmp_path_factory.mktemp("labsources")) as sources:
        yield sources
