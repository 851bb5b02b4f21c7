"""Reads: resume position and Continue Watching. Cache first, then the store; a backend
that is down degrades the answer, never fails it."""

from __future__ import annotations

import logging
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from history.compaction import merged_records
from history.store import get_store
from playstate import hotlayer
from playstate.domain import PlayState, in_continue_watching, is_completed, latest_per_title

logger = logging.getLogger(__name__)

Source = Literal["cache", "store", "default"]


def position_get(*, profile_id: str, movie_id: str) -> tuple[PlayState | None, Source]:
    try:
        if (state := hotlayer.get_state(profile_id, movie_id)) is not None:
            return state, "cache"
    except RedisError:
        logger.warning("redis unreachable; reading %s/%s from the store", profile_id, movie_id)
        return _position_from_store(profile_id, movie_id, repair=False)
    return _position_from_store(profile_id, movie_id, repair=True)


async def aposition_get(*, profile_id: str, movie_id: str) -> tuple[PlayState | None, Source]:
    """`position_get` for the fast path's event loop."""
    try:
        if (state := await hotlayer.aget_state(profile_id, movie_id)) is not None:
            return state, "cache"
    except RedisError:
        logger.warning("redis unreachable; reading %s/%s from the store", profile_id, movie_id)
        return await sync_to_async(_position_from_store)(profile_id, movie_id, repair=False)
    return await sync_to_async(_position_from_store)(profile_id, movie_id, repair=True)


def _position_from_store(
    profile_id: str, movie_id: str, *, repair: bool
) -> tuple[PlayState | None, Source]:
    store = get_store()
    try:
        state = store.get(profile_id, movie_id)
    except store.errors:
        logger.warning("store unreachable; answering the default position", exc_info=True)
        return None, "default"
    if state is None:
        return None, "default"
    if repair:
        try:
            hotlayer.repair(state)
        except RedisError:
            logger.warning("read repair of %s/%s failed", profile_id, movie_id)
    return state, "store"


def position_view(
    *,
    profile_id: str,
    movie_id: str,
    state: PlayState | None,
    source: Source,
    catalog_duration_ms: int | None,
) -> dict[str, Any]:
    """The resume answer (contract section 5); a completed title resumes at 0."""
    if state is None:
        return {
            "profile_id": profile_id,
            "movie_id": movie_id,
            "position_ms": 0,
            "duration_ms": catalog_duration_ms,
            "completed": False,
            "client_request_time": None,
            "device_id": None,
            "event_type": None,
            "source": source,
        }
    completed = is_completed(
        state.position_ms, state.duration_ms, settings.PLAYSTATE_COMPLETION_RATIO
    )
    return {
        "profile_id": profile_id,
        "movie_id": movie_id,
        "position_ms": 0 if completed else state.position_ms,
        "duration_ms": state.duration_ms,
        "completed": completed,
        "client_request_time": state.client_request_time,
        "device_id": state.device_id,
        "event_type": state.event_type,
        "source": source,
    }


Cursor = tuple[int, str]  # (client time, movie id) of the last item of a page


def hot_states(profile_id: str, *, reading: str) -> list[PlayState]:
    """The profile's states in the hot layer, or none while Redis is down (then `reading`,
    for the log, is served from the store alone)."""
    try:
        return hotlayer.recent_states(profile_id)
    except RedisError:
        logger.warning("redis unreachable; %s from the store only", reading)
        return []


def history_page(
    *, profile_id: str, limit: int, after: Cursor | None
) -> tuple[list[PlayState], Cursor | None]:
    """Every title the profile watched, newest first: LiveVH, CompressedVH and the hot layer
    merged, one entry per title (the newer state wins). Raises the store's errors."""
    hot = hot_states(profile_id, reading="history")
    store = get_store()
    live = store.changed_since(profile_id, -1)
    records = merged_records(store, profile_id, [*live, *hot])
    ordered = sorted(
        records.values(), key=lambda s: (s.client_request_time, s.movie_id), reverse=True
    )
    if after is not None:
        ordered = [s for s in ordered if (s.client_request_time, s.movie_id) < after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, (page[-1].client_request_time, page[-1].movie_id) if more else None


def continue_watching_list(*, profile_id: str, limit: int) -> list[PlayState]:
    """In-progress titles, most recent first: the store's rows overlaid with the hot layer's
    newer states (which may have completed, hidden or revived a title)."""
    hot = hot_states(profile_id, reading="Continue Watching")
    store = get_store()
    try:
        stored = store.continue_watching(profile_id, limit=limit + len(hot))
    except store.errors:
        logger.warning("store unreachable; Continue Watching from the cache only")
        stored = []
    ratio = settings.PLAYSTATE_COMPLETION_RATIO
    latest = latest_per_title([*stored, *hot])
    row = [s for s in latest.values() if in_continue_watching(s, ratio)]
    row.sort(key=lambda s: s.client_request_time, reverse=True)
    return row[:limit]
