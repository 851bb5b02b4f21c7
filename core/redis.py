"""Redis connections: one client per process for sync code, one per event loop for async.

Both fail fast (short timeouts, no retries): a Redis outage must turn into a quick 503 or a
fallback in the caller, never a request that hangs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


def _options() -> dict[str, Any]:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
    }


_client: redis.Redis | None = None
_async_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, **_options())
    return _client


def aclient() -> redis.asyncio.Redis:
    # redis.asyncio connections belong to the event loop that opened them. A loop that has
    # closed (`async_to_sync` runs each call on a loop of its own when none is running) takes
    # its connections with it, so its client is dropped rather than kept alive by this map.
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        for closed in [known for known in _async_clients if known.is_closed()]:
            del _async_clients[closed]
        found = _async_clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, **_options()
        )
    return found


def reset_clients() -> None:
    """Forget connections (tests point the process at another server)."""
    global _client
    _client = None
    _async_clients.clear()
