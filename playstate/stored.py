"""The store read from request handlers: the titles every request of one event-loop turn asks
for go to the database together, one `get_many` on its thread, instead of a thread hop and a
statement each. Session starts and resume misses come in bursts: one Redis pipeline answers a
turn's requests at once (core/redis.py), and those it finds cold read the store next."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from channels.db import database_sync_to_async
from django.conf import settings

from core.domain import PlayState
from core.loops import TurnBatch, per_loop
from core.outages import store_deadline
from history.store import Key, StoreUnavailable, get_store

# Titles per database call; a turn's further titles go in calls of their own beside it.
MAX_BATCH = 100


async def _get_many(keys: list[Key]) -> list[PlayState | None]:
    found: list[PlayState | None] = await database_sync_to_async(get_store().get_many)(keys)
    return found


_batches: dict[asyncio.AbstractEventLoop, TurnBatch[Key, PlayState | None]] = {}


def _batch() -> TurnBatch[Key, PlayState | None]:
    return per_loop(_batches, lambda: TurnBatch(_get_many, max_size=MAX_BATCH))


async def stored_get(profile_id: str, movie_id: str) -> PlayState | None:
    """The title's stored state, read with the other reads of this turn. Raises
    StoreUnavailable."""
    return (await stored_get_many([(profile_id, movie_id)]))[0]


async def stored_get_many(keys: Sequence[Key]) -> list[PlayState | None]:
    """The titles' stored states, read with the other reads of this turn, within
    PLAYSTATE_STORE_READ_TIMEOUT. Raises StoreUnavailable."""
    batch = _batch()
    try:
        async with store_deadline():
            return list(await asyncio.gather(*(batch.submit(key) for key in keys)))
    except TimeoutError:
        seconds = settings.PLAYSTATE_STORE_READ_TIMEOUT
        raise StoreUnavailable(f"no answer within {seconds} s") from None
