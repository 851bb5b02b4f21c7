"""The Channels layer: channels-redis, on connection pools that wait for a free connection,
and able to tell which groups have anyone in them.

channels-redis makes redis-py's plain pool, which since redis-py 8 refuses a command at once
past 100 connections (`MaxConnectionsError`). A worker's flush tells hundreds of profiles at
the same moment, and a web process's sockets reconnect together after a restart: each
`group_send` or `group_add` past the hundredth failed, and its push or its socket was lost.
Here they wait for a connection (the host's `timeout`, seconds), as the hot layer's do
(`core/redis.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

import channels_redis.core
import redis.asyncio

from core.redis import NO_MAINTENANCE_NOTICES


class RedisChannelLayer(channels_redis.core.RedisChannelLayer):  # type: ignore[misc]
    def create_pool(self, index: int) -> redis.asyncio.BlockingConnectionPool:
        host: dict[str, Any] = dict(self.hosts[index])
        # (checking each connection it hands out: after a Redis restart none fails a push)
        host.setdefault("maint_notifications_config", NO_MAINTENANCE_NOTICES)
        return redis.asyncio.BlockingConnectionPool.from_url(host.pop("address"), **host)

    async def groups_with_members(self, groups: Collection[str]) -> set[str]:
        """Those of `groups` that some channel joined: one pipeline per server. A
        `group_send` costs two round trips even to a group no one is in (most profiles have
        no other device open while they watch). A group's key goes when its last channel
        leaves; a channel of a process that died stays until `group_expiry`, and only costs
        a send to no one."""
        by_server: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            by_server[self.consistent_hash(group)].append(group)
        found: set[str] = set()
        for index, names in by_server.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for name in names:
                pipe.exists(self._group_key(name))
            replies = await pipe.execute()
            found.update(name for name, n in zip(names, replies, strict=True) if n)
        return found
