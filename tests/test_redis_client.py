"""The Redis clients fail fast: a server that stops taking commands costs a request at most
the socket timeout, then a Redis error the caller turns into a 503 or a fallback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis.exceptions

from core import redis as core_redis

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture
def deaf_server(settings: Any) -> Iterator[None]:
    """A Redis address whose server accepts connections and never reads from them, as a
    wedged or overloaded Redis (the kernel's buffers fill, then sends block)."""
    listener = socket.create_server(("127.0.0.1", 0))
    settings.REDIS_URL = settings.PLAYSTATE_HOT_REDIS_URL = (
        f"redis://127.0.0.1:{listener.getsockname()[1]}/0?lib_name=&lib_version="
    )
    core_redis.reset_clients()
    yield
    listener.close()
    core_redis.reset_clients()


def test_a_send_to_a_server_that_stops_reading_fails_within_the_timeout(
    deaf_server: None, settings: Any, run: Run
) -> None:
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    big = "x" * 32 * 1024 * 1024  # more than the kernel buffers on both ends hold

    async def send() -> None:
        await core_redis.hot_client().set("k", big)

    started = time.monotonic()
    with pytest.raises(redis.exceptions.TimeoutError, match="writing"):
        run(asyncio.wait_for(send(), 10))
    assert time.monotonic() - started < 5
