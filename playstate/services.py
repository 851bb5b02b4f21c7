"""Writes other than ingest: removal from Continue Watching, and support staff's restart."""

from __future__ import annotations

from channels.db import database_sync_to_async

from catalog.durations import durations
from core.clock import now_ms
from core.domain import EventType, PlayState
from history.store import get_store
from playstate import events, hotlayer
from playstate.ingest import nudge, read_through

SUPPORT_DEVICE = "support"


async def continue_watching_remove(*, profile_id: str, movie_id: str) -> None:
    """Hide a title from Continue Watching until a newer heartbeat for it arrives.

    Raises RedisError when the hot layer is down (the API answers 503)."""
    now = now_ms()
    if not await hotlayer.hide(profile_id, movie_id, now_ms=now):
        stored = await database_sync_to_async(get_store().get)(profile_id, movie_id)
        if stored is None:
            return
        await hotlayer.repair(stored)
        await hotlayer.hide(profile_id, movie_id, now_ms=now)
    await events.publish_removed(profile_id, movie_id)


async def position_clear(*, account_id: int, profile_id: str, movie_id: str) -> None:
    """Support staff restart a title from the beginning: a newer state at position 0, sent
    the way a device's SEEK is, so it wins everywhere, is persisted at once and is pushed to
    the profile's devices. Raises RedisError when the hot layer is down."""
    duration = (await durations([movie_id])).get(movie_id)
    now = now_ms()
    state = PlayState(profile_id, movie_id, 0, now, SUPPORT_DEVICE, EventType.SEEK, duration)
    item = hotlayer.IngestItem(state, None)
    await read_through([item])
    limits = hotlayer.Limits(account_id, {profile_id: (1, 1)})  # a SEEK spends no tokens
    outcome = await hotlayer.ingest([item], now_ms=now, counters={}, limits=limits, may_create=True)
    if outcome.nudge:
        await nudge()
