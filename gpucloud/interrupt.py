"""Ctrl-C (SIGINT) and SIGTERM: stop at once, clean up, say so in one line, exit 130 (143 for SIGTERM).

A KeyboardInterrupt raised wherever the main thread happens to be is not a way to stop an offline plan: the
Pulumi SDK's mock runtime runs the program on an asyncio loop, and an exception raised inside one of its
callbacks is logged and dropped ("Exception ignored in ..."), leaves coroutines never awaited, or leaves the loop
waiting on a future nobody will complete (seen: ten minutes in epoll_wait until a second Ctrl-C). So the handler
does not raise. It undoes what this process has half-written, then ends the process:

- a repository change under way (``gpucloud.transaction``): rolled back from its journal, exactly as the next
  command would (the journal is written before anything reaches the repository, so any moment is safe);
- temporary files and directories registered with :func:`removed_on_interrupt` (an atomic write's temporary
  file, ansible-runner's private directory): removed.

Nothing else this process did outlives it: plans and dry runs write nothing. A child process in our process
group (the Pulumi CLI of ``--apply`` and rollouts) gets the terminal's Ctrl-C itself and stops as it does.

Installed first thing by the console entry point (``gpucloud.console``), before the heavy imports, so an
interrupt while Python loads Pulumi is handled the same way. Library users are not affected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

# Repositories whose lock this process holds (innermost last), each with what rolls a half-done change back there.
# The handler imports nothing: it may run in the middle of an import (of dataclasses, say), where importing the
# transaction module would fail.
_repositories: list[tuple[Path, Callable[[Path], bool]]] = []
_temporary: list[Path] = []
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal, as shells report it


def install() -> None:
    for signum in EXIT_STATUS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # as Python itself does: a job started with the
            signal.signal(signum, _on_signal)  # signal ignored (nohup, `cmd &` in a script) keeps ignoring it


def block() -> None:
    """Hold SIGINT and SIGTERM back from here on (they stay pending, and die with the process). For the end of a
    command: Python's shutdown puts the default actions back, and a Ctrl-C then killed the finished command by
    the signal, with no word."""
    signal.pthread_sigmask(signal.SIG_BLOCK, set(EXIT_STATUS))


@contextlib.contextmanager
def holding(root: Path, roll_back: Callable[[Path], bool]) -> Iterator[None]:
    """While this process holds ``root``'s repository lock: an interrupt calls ``roll_back(root)`` (true when a
    change was under way)."""
    entry = (root, roll_back)
    _repositories.append(entry)
    try:
        yield
    finally:
        _repositories.remove(entry)


@contextlib.contextmanager
def removed_on_interrupt(path: Path) -> Iterator[Path]:
    """``path`` is a temporary file or directory of this process: an interrupt removes it."""
    _temporary.append(path)
    try:
        yield path
    finally:
        _temporary.remove(path)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while cleaning up changes nothing
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    said = "gpucloud: interrupted"
    try:
        rolled_back = [root for root, roll_back in reversed(_repositories) if roll_back(root)]
        for path in _temporary:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
        if rolled_back:
            said += f"; the change under way was rolled back: {rolled_back[0]} is as it was"
    except Exception as err:  # noqa: BLE001  (whatever it is, the process still ends and says why)
        said += f"; cleaning up failed ({err}): the next gpucloud command rolls back what is left"
    with contextlib.suppress(OSError):
        os.write(2, (said + "\n").encode())
    os._exit(EXIT_STATUS.get(signal.Signals(signum), 130))
