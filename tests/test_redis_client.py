"""The Redis clients fail fast: a server that stops taking commands costs a request at most
the socket timeout, then a Redis error the caller turns into a 503 or a fallback."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions

from core import redis as core_redis
from tests.cases import Run
from tests.stack import RedisServer


def test_a_send_to_a_redis_that_stopped_fails_within_the_timeout(
    tmp_path: Path, settings: Any, run: Run
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    assert server.process is not None
    settings.REDIS_URL = settings.PLAYSTATE_HOT_REDIS_URL = server.url
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    core_redis.reset_clients()
    big = "x" * 32 * 1024 * 1024  # more than the kernel buffers on both ends hold

    async def send() -> None:
        client = core_redis.hot_client()
        await client.ping()  # connected while the server still answers
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)  # wedged: it reads nothing more
        await client.set("k", big)

    started = time.monotonic()
    try:
        with pytest.raises(redis.exceptions.TimeoutError, match="writing"):
            run(asyncio.wait_for(send(), 10))
        assert time.monotonic() - started < 5
    finally:
        server.process.send_signal(signal.SIGCONT)
        server.stop()
        core_redis.reset_clients()
