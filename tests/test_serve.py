"""The web server's command (config/serve.py, the Procfile's `web`): its workers share the
connections, a second server cannot take the port, and a worker that dies is replaced."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import ROOT, free_port, wait_for_port, web_workers

CONNECTIONS = 40


async def answer_with_pid(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The application the workers serve here: each answers with its process id."""
    body = str(os.getpid()).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "config.serve", "tests.test_serve:answer_with_pid",
         "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = serve(port)
    try:
        wait_for_port(port, process=process)
        wait_for_workers(process, 2)
        yield process, port
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def wait_for_workers(process: subprocess.Popen[bytes], count: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(workers := web_workers(process.pid)) == count:
            time.sleep(2)  # each loads its application, then listens
            return workers
        time.sleep(0.1)
    raise TimeoutError(f"not {count} workers: {web_workers(process.pid)}")


def who_answers(port: int) -> Counter[int]:
    """The process that answers on each of CONNECTIONS keep-alive connections."""
    connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(CONNECTIONS)]
    answered: Counter[int] = Counter()
    for connection in connections:
        connection.request("GET", "/")
        answered[int(connection.getresponse().read())] += 1
    for connection in connections:
        connection.close()
    return answered


def listening(port: int) -> set[int]:
    """The processes with a socket listening on the port (`/proc/net/tcp`, its inodes
    found among each process's open files)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            if os.readlink(fd) in inodes:
                found.add(int(fd.parts[2]))
    return found


def test_the_workers_share_the_connections(server: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = server
    workers = set(web_workers(process.pid))
    # A listening socket each (uvicorn's own workers all listen on their supervisor's one).
    assert listening(port) == workers
    answered = who_answers(port)
    # Spread by a hash of each connection's address: about half each (a quarter or less has a
    # chance near one in 10,000). On one shared socket one worker took 49 of 50.
    assert set(answered) == workers
    assert min(answered.values()) >= CONNECTIONS // 4, answered


def test_a_second_server_on_the_port_stops_at_once(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    _, port = server
    second = serve(port)
    _, stderr = second.communicate(timeout=30)
    assert second.returncode == 3
    assert f"Cannot bind 127.0.0.1:{port}" in stderr.decode()
    assert len(who_answers(port)) == 2  # the first still serves, alone


def test_a_worker_that_dies_is_replaced_on_the_same_port(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    first, _ = wait_for_workers(process, 2)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (workers := wait_for_workers(process, 2)) and first in workers:
        assert time.monotonic() < deadline, "the worker was not replaced"
    answered = who_answers(port)
    assert first not in answered
    assert set(answered) == set(workers)
