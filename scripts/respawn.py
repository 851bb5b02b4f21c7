#!/usr/bin/env python3
"""Run a command, and start it again whenever it dies: `make run` keeps each of its
processes alive this way, so a crashed Cassandra node, worker or Redis comes back while the
others go on serving (honcho, which prefixes every process's output, would otherwise stop
them all when one exits). SIGINT or SIGTERM stops the command and this wrapper.

What the command leaves running when it dies is killed before it starts again: a web server
killed under its worker processes left them holding the port, and every new one failed
("Address already in use"). This wrapper is their "subreaper" (Linux), so such orphans become
its children rather than init's; they stay in honcho's process group, which Ctrl-C stops.

    python scripts/respawn.py COMMAND [ARG...]

Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

FIRST_DELAY, MAX_DELAY = 1.0, 30.0
# A command that ran this long before it died starts again after the first delay.
STABLE_SECONDS = 60.0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _adopt_orphans()
    delay = FIRST_DELAY
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        code = child.wait()
        _kill_orphans()
        if stopping:
            return code
        delay = FIRST_DELAY if time.monotonic() - started > STABLE_SECONDS else delay
        name = " ".join(argv[:3])
        print(
            f"respawn: {name} … exited with {code}; starting it again in {delay:.0f} s", flush=True
        )
        time.sleep(delay)
        if stopping:
            return code
        delay = min(delay * 2, MAX_DELAY)


PR_SET_CHILD_SUBREAPER = 36


def _adopt_orphans() -> None:
    """Orphaned descendants become this process's children (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _kill_orphans() -> None:
    """Kill and reap this process's remaining children (the dead command's orphans)."""
    me, orphans = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:  # its parent
                orphans.append(int(stat.parent.name))
    for pid in orphans:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
