#!/usr/bin/env python3
"""Run a command, and start it again whenever it dies: `make run` keeps each of its
processes alive this way, so a crashed Cassandra node, worker or Redis comes back while the
others go on serving (honcho, which prefixes every process's output, would otherwise stop
them all when one exits). SIGINT or SIGTERM stops the command and this wrapper.

The command runs in a process group of its own, and whatever is left of that group when it
exits is killed before it starts again: a web server killed under its worker processes left
them holding the port, and every new one failed ("Address already in use").

    python scripts/respawn.py COMMAND [ARG...]

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
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
    delay = FIRST_DELAY
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv, process_group=0)
        code = child.wait()
        _kill_group(child.pid)
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


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing was left
        os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
