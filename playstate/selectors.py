"""Reads: resume position and Continue Watching. Cache first, then the store; a backend
that is down degrades the answer, never fails it."""

from __future__ import annotations

import logging
from typing import Literal

from django.conf import settings
from redis.exceptions import RedisError

from history.store import get_store
from playstate import hotlayer
from playstate.domain import PlayState, in_continue_watching, merge

logger = logging.getLogger(__name__)

Source = Literal["cache", "store", "default"]


def position_get(*, profile_id: str, movie_id: str) -> tuple[PlayState | None, Source]:
    cache_up = True
    try:
        if (state := hotlayer.get_state(profile_id, movie_id)) is not None:
            return state, "cache"
    except RedisError:
        cache_up = False
        logger.warning("redis unreachable; reading %s/%s from the store", profile_id, movie_id)
    store = get_store()
    try:
        state = store.get(profile_id, movie_id)
    except store.errors:
        logger.warning("store unreachable; answering the default position", exc_info=True)
        return None, "default"
    if state is None:
        return None, "default"
    if cache_up:
        try:
            hotlayer.repair(state)
        except RedisError:
            logger.warning("read repair of %s/%s failed", profile_id, movie_id)
    return state, "store"


def continue_watching_list(*, profile_id: str, limit: int) -> list[PlayState]:
    """In-progress titles, most recent first: the store's rows overlaid with the hot layer's
    newer states (which may have completed, hidden or revived a title)."""
    hot: list[PlayState] = []
    try:
        hot = hotlayer.recent_states(profile_id)
    except RedisError:
        logger.warning("redis unreachable; Continue Watching from the store only")
    store = get_store()
    try:
        stored = store.continue_watching(profile_id, limit=limit + len(hot))
    except store.errors:
        logger.warning("store unreachable; Continue Watching from the cache only")
        stored = []
    merged: dict[str, PlayState] = {}
    for state in [*stored, *hot]:
        merged[state.movie_id] = merge(merged.get(state.movie_id), state)
    ratio = settings.PLAYSTATE_COMPLETION_RATIO
    row = [s for s in merged.values() if in_continue_watching(s, ratio)]
    row.sort(key=lambda s: s.client_request_time, reverse=True)
    return row[:limit]
