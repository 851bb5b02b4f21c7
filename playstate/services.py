"""Writes other than ingest: removal from Continue Watching, and support staff's restart."""

from __future__ import annotations

from channels.db import database_sync_to_async

from catalog.titles import durations, titles
from core.clock import now_ms
from core.domain import EventType, PlayState
from history.store import get_store
from playstate import events, hotlayer
from playstate.ingest import nudge, read_through
from playstate.selectors import shelf

SUPPORT_DEVICE = "support"


async def _hide(profile_id: str, movie_id: str, *, now: int) -> bool:
    """Hide a title up to its current state, wherever that state is; False if there is none."""
    if await hotlayer.hide(profile_id, movie_id, now_ms=now):
        return True
    stored = await database_sync_to_async(get_store().get)(profile_id, movie_id)
    if stored is None:
        return False
    await hotlayer.repair(stored)
    return await hotlayer.hide(profile_id, movie_id, now_ms=now)


async def continue_watching_remove(*, profile_id: str, movie_id: str) -> None:
    """Hide a title from Continue Watching until a newer heartbeat for it arrives; a show's
    tile (any of its episodes) hides the show, until a newer heartbeat for any episode.

    Raises RedisError when the hot layer is down (the API answers 503)."""
    title = (await titles([movie_id]))[movie_id]
    targets = [movie_id]
    if title is not None and title.series_id is not None:
        found = await shelf(profile_id, reading="removal from Continue Watching")
        targets = [m for m in found.states if found.show_of(m) == title.series_id] or targets
    now = now_ms()
    hidden = [await _hide(profile_id, target, now=now) for target in targets]
    if any(hidden):
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
