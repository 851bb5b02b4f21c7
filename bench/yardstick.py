"""The yardstick `make bench` reads Playstate against: a bare ASGI callable, no framework, no
authentication, doing the Redis work the contract requires of a heartbeat (last write wins by
client time then position, the TTL, scheduling the title for persistence: one script call) and
of a resume read (one HGETALL). Served the same way as the service (`config/serve.py`, same
workers), on the same Redis, in the same run.

    YARDSTICK_REDIS_URL=redis://… python -m config.serve bench.yardstick:app --workers 2
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import redis.asyncio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TTL_SECONDS = 48 * 3600
WINDOW_MS = 10_000
# KEYS: hot, pending; ARGV: crt, pos, dev, evt, member, due, ttl
APPLY = """
local cur = redis.call('HMGET', KEYS[1], 'crt', 'pos')
local crt, pos = tonumber(ARGV[1]), tonumber(ARGV[2])
local old_crt, old_pos = tonumber(cur[1]), tonumber(cur[2])
if old_crt == nil or crt > old_crt or (crt == old_crt and pos > old_pos) then
  redis.call('HSET', KEYS[1], 'crt', ARGV[1], 'pos', ARGV[2], 'dev', ARGV[3], 'evt', ARGV[4])
  redis.call('ZADD', KEYS[2], 'LT', ARGV[6], ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[7])
return 1
"""
ACCEPTED = orjson.dumps({"accepted": 1})
JSON = [(b"content-type", b"application/json")]
_clients: dict[asyncio.AbstractEventLoop, tuple[redis.asyncio.Redis, Any]] = {}


def _redis() -> tuple[redis.asyncio.Redis, Any]:
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        client = redis.asyncio.Redis.from_url(
            os.environ.get("YARDSTICK_REDIS_URL", "redis://127.0.0.1:6379/0"),
            decode_responses=True,
        )
        _clients[loop] = (client, client.register_script(APPLY))
    return _clients[loop]


async def _respond(send: Send, status: int, body: bytes) -> None:
    # With its length, as the service answers (without it, uvicorn would frame it in chunks).
    headers = [*JSON, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    client, apply = _redis()
    if scope["method"] == "POST" and path == "/api/v1/heartbeats":
        try:
            beat = orjson.loads(await _body(receive))
            profile, movie = str(beat["profile_id"]), str(beat["movie_id"])
            crt, pos = int(beat["client_request_time"]), int(beat["video_timestamp_ms"])
            dev, evt = str(beat["device_id"]), str(beat["event_type"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            await _respond(send, 400, b'{"detail":"bad heartbeat"}')
            return
        now = int(time.time() * 1000)
        keys = [f"yard:playstats:{{{profile}}}:{movie}", "yard:pending"]
        await apply(keys, [crt, pos, dev, evt, f"{profile}/{movie}", now + WINDOW_MS, TTL_SECONDS])
        await _respond(send, 202, ACCEPTED)
        return
    parts = path.split("/")  # /api/v1/profiles/{p}/positions/{m}
    if scope["method"] == "GET" and len(parts) == 7 and parts[5] == "positions":
        fields = await client.hgetall(f"yard:playstats:{{{parts[4]}}}:{parts[6]}")
        position = int(fields.get("pos", 0))
        await _respond(send, 200, orjson.dumps({"movie_id": parts[6], "position_ms": position}))
        return
    await _respond(send, 404, b'{"detail":"not found"}')
