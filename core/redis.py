"""Redis connections: one client per process for sync code, one per event loop for async,
and the hot layer's client (PLAYSTATE_HOT_REDIS_URL: the same server by default, or a Redis
Cluster).

All fail fast (short timeouts, no retries): a Redis outage must turn into a quick 503 or a
fallback in the caller, never a request that hangs.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any, cast

import hiredis
import redis
import redis.asyncio
from django.conf import settings
from redis.asyncio.cluster import ClusterPipeline
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import RedisClusterException
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry
from redis.typing import EncodableT

from core.hotsettings import hot_settings
from core.loops import TurnBatch, per_loop

# Redis Enterprise's notices of maintenance, off: redis-py 8 turns them on as "auto" (RESP3 is
# its default), and a pool with them on skips its check of a connection taken from it, so each
# connection left from before a Redis restart failed one command (redis/redis-py#4128).
NO_MAINTENANCE_NOTICES = MaintNotificationsConfig(enabled=False)


def _options() -> dict[str, Any]:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
        "maint_notifications_config": NO_MAINTENANCE_NOTICES,
    }


class _HiredisPacking:
    """Commands packed by hiredis, as redis-py's sync connections already do when it is
    installed; its asyncio connections pack in Python (redis/redis-py#4176, fix proposed in
    #4191). The ingest script's 41 arguments took 76 µs to pack in Python here, 10 µs through
    redis-py's hiredis serializer, 5.6 µs calling hiredis directly: the serializer looks at
    each argument for a memoryview first. What hiredis refuses (a memoryview, a bool, None)
    and a command name of two words ("SCRIPT LOAD") go through that serializer, which
    converts the first and refuses the others as redis-py does (`DataError`)."""

    _serializer = HiredisRespSerializer()

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        name = args[0]
        if isinstance(name, str) and " " not in name:
            try:
                # (its stub types the argument as a tuple of one item)
                return [hiredis.pack_command(cast("Any", args))]
            except TypeError:
                pass
        # (its annotation says each argument is a list; they are what redis-py encodes)
        packed: list[bytes] = self._serializer.pack(*cast("list[Any]", args))
        return packed


class _Connection(_HiredisPacking, redis.asyncio.Connection):
    pass


class _UnixConnection(_HiredisPacking, redis.asyncio.UnixDomainSocketConnection):
    pass


class _SSLConnection(_HiredisPacking, redis.asyncio.SSLConnection):
    pass


_PACKED_BY_HIREDIS: dict[type[redis.asyncio.connection.AbstractConnection], type[Any]] = {
    redis.asyncio.Connection: _Connection,
    redis.asyncio.UnixDomainSocketConnection: _UnixConnection,
    redis.asyncio.SSLConnection: _SSLConnection,
}


def _async_from_url(url: str) -> redis.asyncio.Redis:
    """`redis.asyncio.Redis.from_url`, its connections packing commands with hiredis, on a
    pool where a command past REDIS_MAX_CONNECTIONS waits for a free connection (up to the
    socket timeout); redis-py 8's plain pool refuses it at once past 100."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        timeout=settings.REDIS_SOCKET_TIMEOUT,
        **_options(),
    )
    pool.connection_class = _PACKED_BY_HIREDIS.get(pool.connection_class, pool.connection_class)
    return redis.asyncio.Redis(connection_pool=pool)


class _HotCluster(redis.asyncio.RedisCluster):
    """redis-py's cluster client with two of its failure paths made like its others, so that
    a node that fails turns into a Redis error for the caller (a quick 503 or a fallback) and
    then heals by itself:
    - A cluster it cannot reach at all raised `RedisClusterException`, which is no
      `RedisError`: here it is a `ConnectionError`.
    - A single command that meets a dead node marks the client to ask for the slots again;
      a pipeline, with no retries, did not (redis/redis-py#3130, fix proposed in #3513). So a
      process that last read the slots before a failover, and then reached the dead primary
      only through pipelines (the hot layer's `WAIT`), kept sending them to it.
    - When the client starts over (see `_hot_client`) it closes the connections it had,
      under the commands still using them; those failed with an `AttributeError` (the stream
      gone), a `500` on the resume read: here they are a `ConnectionError` too."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except AttributeError as error:
            raise redis.ConnectionError(f"connection closed under the command: {error}") from error

    async def initialize(
        self,
        additional_startup_nodes_info: list[tuple[str, int]] | None = None,
        last_failed_node_name: str | None = None,
    ) -> _HotCluster:
        try:
            await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except RedisClusterException as error:
            raise redis.ConnectionError(str(error)) from error
        return self

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # (which refuses it)
        # (its typing declares an abstract attribute that the class sets in __init__)
        return _HotClusterPipeline(self, transaction)  # type: ignore[abstract]


class _HotClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except redis.asyncio.RedisCluster.ERRORS_ALLOW_RETRY:
            # What `RedisCluster.execute_command` does on the same errors: the next command
            # or pipeline reads the slots first.
            self.cluster_client._initialize = True
            raise


_client: redis.Redis | None = None
_async_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}
HotClient = redis.asyncio.Redis | redis.asyncio.RedisCluster
_hot_clients: dict[asyncio.AbstractEventLoop, HotClient] = {}


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, **_options())
    return _client


def aclient() -> redis.asyncio.Redis:
    return per_loop(_async_clients, lambda: _async_from_url(settings.REDIS_URL))


def hot_clustered() -> bool:
    return hot_settings().hot_redis_cluster


def _hot_client() -> HotClient:
    url = settings.PLAYSTATE_HOT_REDIS_URL
    if not hot_clustered():
        if url == settings.REDIS_URL:
            return aclient()
        return _async_from_url(url)
    options = _options()
    del options["health_check_interval"]  # per node in a cluster; its pings cost a round trip
    # A primary that dies is replaced by its replica within the cluster's node timeout; in
    # between, a command fails at once (503, the player retries) instead of waiting for it.
    # After a failure the client asks the cluster for its slots again. A MOVED reply patches
    # the slot; only every fifth (redis-py's default) makes it start over, closing every
    # connection, those other commands are using too: on each one (`reinitialize_steps=1`)
    # ten resume reads at once lost eight of their commands (tests/test_api.py on a cluster).
    options["retry"] = Retry(NoBackoff(), 0)
    # (per node; past it a command fails at once: the cluster client has no waiting pool)
    options["max_connections"] = settings.REDIS_MAX_CONNECTIONS
    return _HotCluster.from_url(url, **options)


def hot_client() -> HotClient:
    return per_loop(_hot_clients, _hot_client)


async def _pipeline(commands: list[tuple[EncodableT, ...]]) -> list[Any]:
    """A turn's hot-layer commands sent as one pipeline (no transaction): one connection,
    one write and one read for all of them, as ioredis's `enableAutoPipelining` does
    (redis-py has nothing like it: redis/redis-py#3767). Sent one by one, each paid a
    connection from the pool, a send with its own timeout task, and a wake-up for its reply.
    Each command gets its own reply or its own error; a failure of the connection (Redis down,
    the socket timeout) fails every command alike, each as a Redis error."""
    client = cast("redis.asyncio.Redis", hot_client())
    pool = client.connection_pool
    connection = await _take(pool)
    try:
        packed = connection.pack_commands(commands)
    except redis.DataError:
        # A value that cannot be sent (None, a bool), found while packing, before anything
        # was sent: each command goes alone, so that only its own caller gets the error.
        await _give_back(pool, connection)
        alone = (hot_client().execute_command(*command) for command in commands)
        return await asyncio.gather(*alone, return_exceptions=True)
    try:
        return await _send_and_read(client, connection, packed, commands)
    except BaseException:
        # Replies may be left unread on it (a timeout, a cancelled caller).
        await connection.disconnect()
        raise
    finally:
        await _give_back(pool, connection)


Pool = redis.asyncio.ConnectionPool
Connection = redis.asyncio.connection.AbstractConnection
# Connections the pipelines keep between them, per pool (so per event loop), rather than
# give each back: taking one from redis-py's waiting pool and giving it back cost 27 µs here
# (its condition, a timer, its events), checking a kept one 1.4 µs. A few only (a tenth of
# the pool, at most IDLE_KEPT), so that its other users always find theirs.
IDLE_KEPT = 4
_idle: weakref.WeakKeyDictionary[Pool, list[Connection]] = weakref.WeakKeyDictionary()


async def _take(pool: Pool) -> Connection:
    kept = _idle.get(pool)
    if not kept:
        return cast("Connection", await pool.get_connection())  # type: ignore[no-untyped-call]
    connection = kept.pop()
    try:
        # As the pool does: connected again if it was closed, refused if a reply is unread.
        await pool.ensure_connection(connection)
    except BaseException:
        await pool.release(connection)
        raise
    return connection


async def _give_back(pool: Pool, connection: Connection) -> None:
    kept = _idle.setdefault(pool, [])
    if len(kept) < min(IDLE_KEPT, pool.max_connections // 10):
        kept.append(connection)
    else:
        await pool.release(connection)


async def _send_and_read(
    client: redis.asyncio.Redis,
    connection: redis.asyncio.connection.AbstractConnection,
    packed: list[bytes],
    commands: list[tuple[EncodableT, ...]],
) -> list[Any]:
    """What redis-py's pipeline does with one of its connections, less what costs here
    (about 15 µs a call; README, "What was cut"): one read timeout for all the replies
    instead of a timer per reply, and no preparing for `HIMPORT`, never sent here.
    Replies go through the client's callbacks (`HGETALL` gives a dict) as in a pipeline."""
    await connection.send_packed_command(packed)
    callbacks = client.response_callbacks
    replies: list[Any] = []
    try:
        async with asyncio.timeout(settings.REDIS_SOCKET_TIMEOUT):
            for command in commands:
                try:
                    # (math.inf: no timer of its own; the one above covers every reply)
                    reply = await connection.read_response(timeout=math.inf)
                except redis.ResponseError as error:
                    replies.append(error)
                    continue
                name = cast("str", command[0])
                replies.append(callbacks[name](reply) if name in callbacks else reply)
    except TimeoutError as error:
        raise redis.TimeoutError("Timeout reading from the hot layer's Redis") from error
    return replies


_auto_pipelines: dict[asyncio.AbstractEventLoop, TurnBatch[tuple[EncodableT, ...], Any]] = {}


async def hot_command(*command: EncodableT, batched: bool = True) -> Any:
    """One command on the hot layer, pipelined with the others this process sends in the same
    turn of the event loop (on a Redis Cluster, sent alone to the node of its slot). A caller
    that already serves a turn's batch (the merged ingest call) sends at once (`batched=False`):
    waiting for the end of the next turn cost it one more turn and one more task."""
    if hot_clustered():
        return await hot_client().execute_command(*command)
    if not batched:
        (reply,) = await _pipeline([command])
        if isinstance(reply, Exception):
            raise reply
        return reply
    return await per_loop(_auto_pipelines, lambda: TurnBatch(_pipeline)).submit(command)


def reset_clients() -> None:
    """Forget connections (tests point the process at another server)."""
    global _client
    _client = None
    _async_clients.clear()
    _hot_clients.clear()
    _auto_pipelines.clear()
    _idle.clear()
