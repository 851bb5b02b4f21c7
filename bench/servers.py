"""`make bench-servers`: the same application (config.asgi:application) under uvicorn, granian
and daphne, one process each (daphne has no worker processes), beside a seeded stack whose
Redis and database they share; each warmed on the whole population, then measured in
alternating rounds (medians) on `/healthz`, steady ingest and the resume read. Which server
`make run` uses is chosen by these figures (README, "Performance and capacity").
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import record
from bench.run import ROOT, ROUNDS, running, warm
from tests.stack import free_port, wait_for_port

BIN = Path(sys.executable).parent
APP = "config.asgi:application"


def command(server: str, port: int) -> list[str]:
    """Each server as it would serve the stack: the event loop and parser it is fastest with,
    no access log."""
    address = ["127.0.0.1", str(port)]
    if server == "uvicorn":
        return [
            str(BIN / "uvicorn"), APP, "--host", address[0], "--port", address[1],
            "--workers", "1", "--no-access-log", "--lifespan", "off", "--loop", "uvloop",
            "--http", "config.http:CoalescingHttpToolsProtocol",
        ]  # fmt: skip
    if server == "granian":
        return [
            str(BIN / "granian"), "--interface", "asgi", "--host", address[0], "--port",
            address[1], "--workers", "1", "--loop", "uvloop", "--no-access-log", APP,
        ]  # fmt: skip
    return [str(BIN / "daphne"), "-b", address[0], "-p", address[1], APP]


SERVERS = ("uvicorn", "granian", "daphne")
PATHS = {"healthz": "healthz", "ingest steady": "steady", "resume hit": "hit"}


def main() -> int:
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        server: {name: [] for name in PATHS} for server in SERVERS
    }
    with (
        tempfile.TemporaryDirectory(prefix="playstate-servers-") as tmp,
        running(Path(tmp) / "stack") as (stack, _, population),
    ):
        servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        try:
            for server in SERVERS:
                port = free_port()
                process = subprocess.Popen(
                    command(server, port),
                    cwd=ROOT,
                    env=stack.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                wait_for_port(port, process=process)
                servers[server] = process, f"http://127.0.0.1:{port}"
                # Every profile's token and title cached in the server's process.
                warm(population, servers[server][1], passes=2)
            for _ in range(ROUNDS):
                for server, (_, url) in servers.items():
                    for name, mode in PATHS.items():
                        runs[server][name].append(population.wrk(url, mode))
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(10)
    figures = {
        server: {
            name: {key: statistics.median(r[key] for r in results) for key in results[0]}
            for name, results in by_path.items()
        }
        for server, by_path in runs.items()
    }
    for by_path in figures.values():
        for name, f in by_path.items():
            f["x_uvicorn"] = round(
                f["requests_per_s"] / figures["uvicorn"][name]["requests_per_s"], 2
            )
    path = record.save(
        "servers",
        {"processes_each": 1, "figures": figures},
    )
    print(f"{'server':<10}" + "".join(f"{name:>24}" for name in PATHS))
    for server, by_path in figures.items():
        cells = [
            f"{f['requests_per_s']:>8.0f}/s x{f['x_uvicorn']:.2f} p99 {f['p99']:>5.0f}"
            for f in by_path.values()
        ]
        print(f"{server:<10}" + "".join(f"{cell:>24}" for cell in cells))
    print(f"figures written to {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
