"""The Redis clients (core/redis.py): they fail fast (a server that stops taking commands
costs a request at most the socket timeout, then a Redis error the caller turns into a 503 or
a fallback); the hot layer's commands of one turn go in one pipeline, each caller with its own
reply or error; commands are packed by hiredis."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis.exceptions
from redis.typing import EncodableT

from config.settings import channel_layers
from core import redis as core_redis
from core.layers import RedisChannelLayer
from playstate import scripts
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

    async def pipelined() -> list[Any]:
        commands = [core_redis.hot_command("INCR", "n") for _ in range(3)]
        return list(await asyncio.gather(*commands, return_exceptions=True))

    started = time.monotonic()
    try:
        with pytest.raises(redis.exceptions.TimeoutError, match="writing"):
            run(asyncio.wait_for(send(), 10))
        assert time.monotonic() - started < 5
        # The commands the service sends pipelined: small, so sent; no reply comes.
        started = time.monotonic()
        errors = run(asyncio.wait_for(pipelined(), 10))
        assert all(isinstance(e, redis.exceptions.TimeoutError) for e in errors), errors
        assert time.monotonic() - started < 5
    finally:
        server.process.send_signal(signal.SIGCONT)
        server.stop()
        core_redis.reset_clients()


def test_commands_are_packed_by_hiredis_and_every_kind_of_value_round_trips(
    redis_client: redis.Redis, settings: Any, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed: list[object] = []
    pack = hiredis.pack_command

    def spy(command: tuple[Any, ...]) -> Any:
        packed.append(command[0])
        return pack(command)

    monkeypatch.setattr(hiredis, "pack_command", spy)
    values: dict[str, EncodableT] = {
        "text": "héllo",
        "big": 12345678901234,
        "negative": -3,
        "float": 1.5,
        "raw": b"ok",
        # hiredis refuses these two; redis-py's serializer converts them
        "view": memoryview(b"seen"),
        "array": bytearray(b"arr"),
    }

    async def round_trip() -> list[object]:
        client = core_redis.hot_client()
        for name, value in values.items():
            await client.set(f"pack:{name}", value)
        for refused in (True, None):
            with pytest.raises(redis.exceptions.DataError):
                await client.set("pack:refused", refused)  # type: ignore[arg-type]
        await client.execute_command("SCRIPT LOAD", "return 1")  # a name of two words
        return [await client.get(f"pack:{name}") for name in values]

    assert run(round_trip()) == ["héllo", "12345678901234", "-3", "1.5", "ok", "seen", "arr"]
    # Every SET reached hiredis: directly, or through the serializer for the last four.
    assert packed.count("SET") == len(values) + 2
    assert "GET" in packed
    assert b"SCRIPT" in packed
    assert redis_client.exists("pack:refused") == 0

    # A Unix socket's connections pack the same way (nothing is sent: no server there).
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    core_redis.reset_clients()

    async def pack_for_a_unix_socket() -> None:
        pool = core_redis.aclient().connection_pool
        pool.make_connection().pack_command("PING")  # type: ignore[no-untyped-call]

    packed.clear()
    run(pack_for_a_unix_socket())
    assert packed == ["PING"]


def test_more_commands_at_once_than_the_pool_has_connections_wait_for_one(
    redis_client: redis.Redis, settings: Any, run: Run
) -> None:
    """Past the pool's size a command waits for a free connection (redis-py 8's own pool
    refused it at once with `MaxConnectionsError`, a 503 or a lost push), beside the hot
    layer's pipelines, which keep one of the ten between them."""
    settings.REDIS_MAX_CONNECTIONS = 10
    core_redis.reset_clients()

    async def at_once() -> list[Any]:
        client = core_redis.aclient()
        # The hot layer's pipelines on the same pool, each turn's in one, between them.
        pipelined = (core_redis.hot_command("INCR", "n") for _ in range(3))
        return list(
            await asyncio.gather(
                *pipelined, *(client.incr("n") for _ in range(300)), return_exceptions=True
            )
        )

    for _ in range(3):
        replies = run(at_once())
        assert not [r for r in replies if isinstance(r, Exception)], replies
    assert redis_client.get("n") == "909"
    core_redis.reset_clients()


def test_commands_sent_in_one_turn_go_in_one_pipeline_each_caller_its_own_reply(
    redis_client: redis.Redis, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipelines: list[int] = []
    send_and_read = core_redis._send_and_read

    async def counted(*args: Any) -> Any:
        pipelines.append(len(args[-1]))
        return await send_and_read(*args)

    monkeypatch.setattr(core_redis, "_send_and_read", counted)
    redis_client.set("text", "not a hash")

    async def together() -> list[object]:
        increments = [core_redis.hot_command("INCR", "n") for _ in range(20)]
        wrong = core_redis.hot_command("HGETALL", "text")
        return await asyncio.gather(*increments, wrong, return_exceptions=True)

    *counts, wrong = run(together())
    assert sorted(counts) == list(range(1, 21))
    assert isinstance(wrong, redis.exceptions.ResponseError)
    assert "WRONGTYPE" in str(wrong)
    assert pipelines == [21]
    assert run(core_redis.hot_command("GET", "n")) == "20"  # later turns: pipelines of their own
    assert pipelines == [21, 1]


def test_a_value_that_cannot_be_sent_fails_only_its_own_command(
    redis_client: redis.Redis, run: Run
) -> None:
    async def together() -> list[Any]:
        commands = [
            core_redis.hot_command("INCR", "n"),
            core_redis.hot_command("SET", "k", None),  # type: ignore[arg-type]
            core_redis.hot_command("INCR", "n"),
        ]
        return list(await asyncio.gather(*commands, return_exceptions=True))

    first, refused, second = run(together())
    assert isinstance(refused, redis.exceptions.DataError)
    assert sorted([first, second]) == [1, 2]
    assert redis_client.exists("k") == 0


def test_a_caller_that_gave_up_leaves_the_others_their_replies(
    redis_client: redis.Redis, run: Run
) -> None:
    async def one_cancelled() -> list[Any]:
        first = asyncio.ensure_future(core_redis.hot_command("INCR", "n"))
        second = asyncio.ensure_future(core_redis.hot_command("INCR", "n"))
        await asyncio.sleep(0)  # both queued; the pipeline not sent yet
        first.cancel()
        return list(await asyncio.gather(first, second, return_exceptions=True))

    gone, reply = run(one_cancelled())
    assert isinstance(gone, asyncio.CancelledError)
    assert reply == 2  # the cancelled one was sent already: it still counted
    assert redis_client.get("n") == "2"


def test_every_command_of_a_pipeline_fails_as_a_redis_error_when_redis_is_gone(
    tmp_path: Path, settings: Any, run: Run
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    settings.REDIS_URL = settings.PLAYSTATE_HOT_REDIS_URL = server.url
    core_redis.reset_clients()
    try:
        assert run(core_redis.hot_command("PING")) is True
        server.stop()

        async def together() -> list[Any]:
            commands = [core_redis.hot_command("INCR", "n") for _ in range(5)]
            return await asyncio.gather(*commands, return_exceptions=True)

        errors = run(together())
        assert all(isinstance(e, redis.exceptions.ConnectionError) for e in errors), errors
    finally:
        server.stop()
        core_redis.reset_clients()


def test_after_redis_restarts_no_command_fails_on_a_connection_to_the_old_server(
    tmp_path: Path, settings: Any, run: Run
) -> None:
    """Connections left in the pool from before a restart are found closed when taken and
    opened again: the first requests after Redis comes back get their replies. (redis-py
    skipped that check on its default pools, for maintenance notifications it enables as
    "auto": each stale connection failed one command.)"""
    server = RedisServer(tmp_path)
    server.start()
    settings.REDIS_URL = settings.PLAYSTATE_HOT_REDIS_URL = server.url
    core_redis.reset_clients()

    async def together() -> list[Any]:
        pipe = core_redis.aclient().pipeline(transaction=False)
        pipe.ping()
        commands = [core_redis.hot_command("PING") for _ in range(3)]
        replies = [core_redis.aclient().ping() for _ in range(3)]
        return list(await asyncio.gather(*commands, *replies, pipe.execute()))

    try:
        assert run(together()) == [True] * 6 + [[True]]
        server.kill()
        server.start()
        run(asyncio.sleep(0.1))  # (a running server's loop reads the old sockets' end)
        assert run(together()) == [True] * 6 + [[True]]
    finally:
        server.stop()
        core_redis.reset_clients()


def test_after_redis_restarts_the_first_push_reaches_its_group(tmp_path: Path, run: Run) -> None:
    """The same for the Channels layer's pools: a push is not lost to a stale connection."""
    server = RedisServer(tmp_path)
    server.start()
    layer = RedisChannelLayer(**channel_layers(server.url)["default"]["CONFIG"])

    async def joined() -> str:
        channel: str = await layer.new_channel()
        await layer.group_add("devices", channel)
        return channel

    async def pushed(channel: str, number: int) -> list[Any]:
        # At once, so that the pool has several connections.
        sends = (layer.group_send("devices", {"type": "update", "n": number}) for _ in range(3))
        await asyncio.gather(*sends)
        return [(await layer.receive(channel))["n"] for _ in range(3)]

    try:
        channel = run(joined())
        assert run(pushed(channel, 1)) == [1, 1, 1]
        run(asyncio.sleep(0.1))  # (the receive's clean-up of its backup)
        server.kill()
        server.start()
        run(asyncio.sleep(0.1))
        assert run(pushed(channel, 2)) == [2, 2, 2]
    finally:
        server.stop()


def test_a_script_the_server_lost_is_loaded_again(redis_client: redis.Redis, run: Run) -> None:
    script = scripts.Script("ack", scripts.AckKeys, scripts.AckArgs)
    keys, args = scripts.AckKeys("inflight"), scripts.AckArgs(deadline=0)
    run(script(keys, args))
    redis_client.script_flush()  # as a restarted Redis without persistence has forgotten it
    assert redis_client.script_exists(script.sha) == [False]
    run(script(keys, args))
    assert redis_client.script_exists(script.sha) == [True]
    redis_client.script_flush()  # and with the WAIT for replicas after it, on one connection
    assert run(script.replicated(keys, args, replicas=0, timeout_ms=10)) == (1, 0)
    assert redis_client.script_exists(script.sha) == [True]
