"""All-or-nothing changes to several files of the repository, under one lock.

A change (onboarding writes a stack config, an inventory and a handover note; offboarding removes
them) either lands whole or not at all:

1. what each target holds now is kept in ``.gpucloud/txn/``, and a journal listing the targets, their
   temporary names and the directories to create is written (and fsync'ed);
2. every new file is written and fsync'ed beside its target under its temporary name;
3. the temporary files are renamed over their targets and removed targets are unlinked;
4. the journal is deleted: that is the commit point.

A process that dies before step 4 leaves the journal behind. The next gpucloud command that takes the
lock (``repository_lock``) rolls the change back, so the repository is exactly as it was before. Two
processes never interleave: the lock is an exclusive ``flock`` on ``.gpucloud/lock``, a file git
ignores (the lock disappears with its process, so a crash never leaves it held).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from gpucloud import interrupt
from gpucloud.errors import GpucloudError

STATE_DIR = ".gpucloud"
LOCK_FILE = "lock"
TXN_DIR = "txn"
JOURNAL = "journal.json"
LOCK_WAIT_S = 60.0


class LockTimeoutError(GpucloudError):
    """Another gpucloud process held the repository lock for too long."""


def state_dir(root: Path) -> Path:
    path = root / STATE_DIR
    path.mkdir(exist_ok=True)
    return path


@contextlib.contextmanager
def repository_lock(root: Path, *, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the repository's lock; roll back any change a crashed process left half-done first."""
    path = state_dir(root) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"another gpucloud command has held {path} for over {wait_s:.0f} s; try again when it ends"
                    ) from None
                time.sleep(0.02)
        if roll_back_interrupted(root):
            sys.stderr.write(f"gpucloud: rolled back a change that an interrupted command left half-done in {root}\n")
        with interrupt.holding(root, roll_back_interrupted):
            yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def roll_back_interrupted(root: Path) -> bool:
    """Undo a change whose process died before committing; True when there was one. Call under the lock."""
    txn = root / STATE_DIR / TXN_DIR
    journal = txn / JOURNAL
    if not journal.is_file():
        if txn.is_dir():
            shutil.rmtree(txn)  # leftovers from before a journal was written: nothing reached the targets
        return False
    entries = json.loads(journal.read_text(encoding="utf-8"))
    for entry in entries["targets"]:
        target = root / entry["path"]
        if entry.get("staged"):
            with contextlib.suppress(FileNotFoundError):
                (root / entry["staged"]).unlink()
        if entry.get("backup"):
            target.parent.mkdir(parents=True, exist_ok=True)  # offboarding may have pruned it
            os.replace(txn / entry["backup"], target)  # the file as it was
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()  # it did not exist before
    for created in reversed(entries.get("created_dirs", [])):
        with contextlib.suppress(OSError):
            (root / created).rmdir()  # only when empty
    journal.unlink()
    shutil.rmtree(txn)
    return True


@dataclass
class FileTransaction:
    """Collects writes and removals of files under ``root``; ``commit`` applies them all or none."""

    root: Path
    writes: dict[Path, str] = field(default_factory=dict)
    removals: list[Path] = field(default_factory=list)
    prune_up_to: Path | None = None  # removing files also removes emptied directories below this one

    def write(self, relpath: str | PurePath, text: str) -> None:
        self.writes[self._inside(relpath)] = text

    def remove(self, relpath: str | PurePath) -> None:
        self.removals.append(self._inside(relpath))

    def _inside(self, relpath: str | PurePath) -> Path:
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root.resolve()) or path == self.root.resolve():
            raise ValueError(f"{relpath}: not a file inside {self.root}")
        return path

    def commit(self) -> None:
        """Apply every change; call under ``repository_lock``."""
        root = self.root.resolve()
        txn = state_dir(root) / TXN_DIR
        shutil.rmtree(txn, ignore_errors=True)
        txn.mkdir()
        # The journal comes first, before anything is created in the repository: whatever moment the process
        # dies at, the journal names every file and directory that may have appeared, and what was there.
        created: list[Path] = []
        targets: list[dict[str, str | None]] = []
        staged: list[tuple[Path, Path, str]] = []
        for i, (path, text) in enumerate(sorted(self.writes.items())):
            for directory in reversed([path.parent, *path.parent.parents]):
                if directory.is_relative_to(root) and not directory.exists() and directory not in created:
                    created.append(directory)
            tmp = path.parent / f".{path.name}.gpucloud-{os.getpid()}-{i}"
            staged.append((tmp, path, text))
            targets.append({"path": str(path.relative_to(root)), "staged": str(tmp.relative_to(root)), "backup": None})
        created_dirs = [str(d.relative_to(root)) for d in created]
        for path in self.removals:
            targets.append({"path": str(path.relative_to(root)), "staged": None, "backup": None})
        for i, entry in enumerate(targets):
            target = root / str(entry["path"])
            if target.exists():
                backup = f"{i}.bak"
                shutil.copy2(target, txn / backup)
                entry["backup"] = backup
        _write_durably(txn / f"{JOURNAL}.tmp", json.dumps({"targets": targets, "created_dirs": created_dirs}).encode())
        os.replace(txn / f"{JOURNAL}.tmp", txn / JOURNAL)
        _fsync_dir(txn)
        for directory in created:
            directory.mkdir()
        for tmp, _, text in staged:
            _write_durably(tmp, text.encode("utf-8"))
        for tmp, path, _ in staged:
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        for path in self.removals:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._prune(path.parent)
        (txn / JOURNAL).unlink()  # committed
        _fsync_dir(txn)
        shutil.rmtree(txn)

    def _prune(self, directory: Path) -> None:
        stop = (self.prune_up_to or self.root).resolve()
        while directory != stop and directory.is_relative_to(stop):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
