"""Run the CLI under a pseudo-terminal, as a person at a terminal runs it, and answer its prompts."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TtyResult:
    returncode: int
    output: str  # stdout and stderr together, as the terminal shows them


def run_in_pty(args: list[str], *, answer: str | None = None, columns: int = 160, timeout: float = 120) -> TtyResult:
    """``python -m gpucloud ARGS`` on a terminal ``columns`` wide; ``answer`` is typed at the first prompt."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucloud", *args], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    answered = answer is None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
                if not answered and b"[y/N]" in b"".join(chunks):
                    os.write(leader, (answer or "").encode() + b"\r")
                    answered = True
            elif proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return TtyResult(proc.returncode, b"".join(chunks).decode(errors="replace"))
