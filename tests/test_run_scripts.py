"""The scripts `make run` runs its stack with: respawn.py keeps each process alive, ports.py
checks first that its ports are free."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.stack import ROOT


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its new parent has yet to reap it


def test_what_a_dead_command_left_running_is_killed_before_it_starts_again(
    tmp_path: Path,
) -> None:
    """A web server killed under its workers left them holding the port, and each new one
    failed ("Address already in use")."""
    pids = tmp_path / "pids"
    command = f"sleep 300 & echo $! >> {pids}; sleep 0.5; kill -9 $$"
    wrapper = subprocess.Popen(
        [sys.executable, "scripts/respawn.py", "sh", "-c", command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert wrapper.stdout is not None
        assert "exited with -9; starting it again" in wrapper.stdout.readline()
        left = int(pids.read_text().split()[0])
        deadline = time.monotonic() + 5
        while alive(left) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(left)
    finally:
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(10)
    for pid in pids.read_text().split():
        assert not alive(int(pid))


def test_make_run_refuses_a_port_another_stack_listens_on() -> None:
    """A second stack on the first one's embedded Redis port said it was ready, and served
    from the first one's Redis: its data, its workers."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        check = [sys.executable, "scripts/ports.py", "PORT=127.0.0.1:1"]
        busy = subprocess.run(
            [*check, f"EMBEDDED_REDIS_PORT=127.0.0.1:{port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    assert busy.returncode == 1
    assert f"EMBEDDED_REDIS_PORT (127.0.0.1:{port})" in busy.stderr
    assert "PORT (" not in busy.stderr.replace("REDIS_PORT (", "")
    free = subprocess.run([*check, f"EMBEDDED_REDIS_PORT=127.0.0.1:{port}"], cwd=ROOT)
    assert free.returncode == 0
