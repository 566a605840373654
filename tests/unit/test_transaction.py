"""All-or-nothing file changes: a change that dies half-way is rolled back by the next command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpucloud import transaction
from gpucloud.transaction import FileTransaction, repository_lock, roll_back_interrupted


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".gpucloud" not in p.parts
    }


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "old.yaml").write_text("old\n")
    return tmp_path


def test_commit_writes_every_file_and_leaves_no_journal(root: Path) -> None:
    txn = FileTransaction(root)
    txn.write("stacks/new.yaml", "new\n")
    txn.write("inventories/tenants/x/a.yml", "a\n")
    txn.write("stacks/old.yaml", "changed\n")
    with repository_lock(root):
        txn.commit()
    assert files(root) == {
        "inventories/tenants/x/a.yml": "a\n",
        "stacks/new.yaml": "new\n",
        "stacks/old.yaml": "changed\n",
    }
    assert not (root / ".gpucloud" / "txn").exists()


def test_a_change_that_dies_between_renames_is_rolled_back(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = files(root)
    renames: list[str] = []
    real_replace = os.replace

    def dying_replace(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith(".json"):  # the journal itself
            real_replace(src, dst)
            return
        renames.append(str(dst))
        if len(renames) == 2:
            raise KeyboardInterrupt("killed")  # as a process killed half-way would leave it
        real_replace(src, dst)

    txn = FileTransaction(root)
    txn.write("inventories/tenants/x/a.yml", "a\n")
    txn.write("stacks/new.yaml", "new\n")
    txn.write("stacks/old.yaml", "changed\n")
    monkeypatch.setattr(transaction.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        txn.commit()
    monkeypatch.setattr(transaction.os, "replace", real_replace)
    assert files(root) != before  # half-written...
    with repository_lock(root):  # ...until the next command takes the lock
        pass
    assert files(root) == before
    assert not (root / "inventories").exists()  # directories it created are gone too
    assert roll_back_interrupted(root) is False


def test_removals_roll_back_too(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "inventories" / "tenants" / "x").mkdir(parents=True)
    (root / "inventories" / "tenants" / "x" / "a.yml").write_text("a\n")
    before = files(root)
    txn = FileTransaction(root, prune_up_to=root / "inventories" / "tenants")
    txn.remove("inventories/tenants/x/a.yml")
    txn.remove("stacks/old.yaml")
    real_unlink = Path.unlink
    calls: list[Path] = []

    def dying_unlink(self: Path, missing_ok: bool = False) -> None:
        calls.append(self)
        if self.name == "old.yaml":
            raise KeyboardInterrupt("killed")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", dying_unlink)
    with pytest.raises(KeyboardInterrupt):
        txn.commit()
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert not (root / "inventories" / "tenants" / "x").exists()  # pruned before the crash
    with repository_lock(root):
        pass
    assert files(root) == before


def test_removal_prunes_emptied_directories_up_to_the_limit(root: Path) -> None:
    (root / "inventories" / "tenants" / "x").mkdir(parents=True)
    (root / "inventories" / "tenants" / "x" / "a.yml").write_text("a\n")
    txn = FileTransaction(root, prune_up_to=root / "inventories" / "tenants")
    txn.remove("inventories/tenants/x/a.yml")
    with repository_lock(root):
        txn.commit()
    assert (root / "inventories" / "tenants").is_dir()
    assert not (root / "inventories" / "tenants" / "x").exists()


def test_paths_outside_the_repository_are_refused(root: Path) -> None:
    txn = FileTransaction(root)
    for bad in ("../x", "/etc/passwd", "stacks/../../x"):
        with pytest.raises(ValueError, match="not a file inside"):
            txn.write(bad, "x")


def test_the_lock_excludes_a_second_holder(root: Path) -> None:
    from gpucloud.transaction import LockTimeoutError

    with repository_lock(root):
        import subprocess
        import sys

        code = (
            "import sys; from pathlib import Path; from gpucloud.transaction import repository_lock\n"
            "with repository_lock(Path(sys.argv[1]), wait_s=0.3): pass"
        )
        result = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True)
        assert result.returncode != 0 and "LockTimeoutError" in result.stderr
    assert LockTimeoutError.exit_code == 2


def test_a_change_that_dies_while_staging_leaves_no_temporary_file(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = files(root)
    real_write = transaction._write_durably
    written: list[Path] = []

    def dying_write(path: Path, data: bytes) -> None:
        if path.name.startswith(".") and ".gpucloud-" in path.name:
            written.append(path)
            if len(written) == 2:
                raise KeyboardInterrupt("killed")
        real_write(path, data)

    txn = FileTransaction(root)
    txn.write("inventories/tenants/x/a.yml", "a\n")
    txn.write("stacks/new.yaml", "new\n")
    monkeypatch.setattr(transaction, "_write_durably", dying_write)
    with pytest.raises(KeyboardInterrupt):
        txn.commit()
    monkeypatch.setattr(transaction, "_write_durably", real_write)
    assert written[0].exists()  # a staged file was left by the dead process...
    with repository_lock(root):
        pass
    assert files(root) == before  # ...and the next command removed it, and the directories it made
    assert not (root / "inventories").exists()
    assert not [p for p in root.rglob(".*gpucloud-*")]
