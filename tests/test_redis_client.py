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
from redis.connection import HiredisRespSerializer
from redis.typing import EncodableT

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


def test_commands_are_packed_by_hiredis_and_every_kind_of_value_round_trips(
    redis_client: redis.Redis, settings: Any, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed: list[object] = []
    pack = HiredisRespSerializer.pack

    def spy(self: HiredisRespSerializer, *args: Any) -> Any:
        packed.append(args[0])
        return pack(self, *args)

    monkeypatch.setattr(HiredisRespSerializer, "pack", spy)
    values: dict[str, EncodableT] = {
        "text": "héllo",
        "big": 12345678901234,
        "negative": -3,
        "float": 1.5,
        "raw": b"ok",
    }

    async def round_trip() -> list[object]:
        client = core_redis.hot_client()
        for name, value in values.items():
            await client.set(f"pack:{name}", value)
        with pytest.raises(redis.exceptions.DataError):
            await client.set("pack:bool", True)
        return [await client.get(f"pack:{name}") for name in values]

    assert run(round_trip()) == ["héllo", "12345678901234", "-3", "1.5", "ok"]
    assert packed.count("SET") == len(values) + 1
    assert "GET" in packed
    assert redis_client.exists("pack:bool") == 0

    # A Unix socket's connections pack the same way (nothing is sent: no server there).
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    core_redis.reset_clients()

    async def pack_for_a_unix_socket() -> None:
        pool = core_redis.aclient().connection_pool
        pool.make_connection().pack_command("PING")  # type: ignore[no-untyped-call]

    packed.clear()
    run(pack_for_a_unix_socket())
    assert packed == ["PING"]
