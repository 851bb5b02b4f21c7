"""Catalog durations with a per-process cache: validating a heartbeat costs no SQL query.

An imported or changed title is seen by every process within `PLAYSTATE_CATALOG_CACHE_SECONDS`.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from channels.db import database_sync_to_async
from django.conf import settings

from catalog.models import Movie

_cache: dict[str, tuple[int | None, float]] = {}
# Clients name any movie id they like; past this many entries the cache starts over.
MAX_ENTRIES = 100_000


def _from_cache(movie_ids: Collection[str]) -> tuple[dict[str, int | None], set[str]]:
    now = time.monotonic()
    found: dict[str, int | None] = {}
    missing: set[str] = set()
    for movie_id in movie_ids:
        entry = _cache.get(movie_id)
        if entry is not None and entry[1] > now:
            found[movie_id] = entry[0]
        else:
            missing.add(movie_id)
    return found, missing


def _load(movie_ids: set[str]) -> dict[str, int | None]:
    rows = dict(Movie.objects.filter(movie_id__in=movie_ids).values_list("movie_id", "duration_ms"))
    if len(_cache) + len(movie_ids) > MAX_ENTRIES:
        _cache.clear()
    expires = time.monotonic() + settings.PLAYSTATE_CATALOG_CACHE_SECONDS
    loaded = {movie_id: rows.get(movie_id) for movie_id in movie_ids}
    for movie_id, duration in loaded.items():
        _cache[movie_id] = (duration, expires)
    return loaded


async def durations(movie_ids: Collection[str]) -> dict[str, int | None]:
    """`movie_id` → `duration_ms`, or None for titles not (yet) in the catalog."""
    found, missing = _from_cache(movie_ids)
    if missing:
        found.update(await database_sync_to_async(_load)(missing))
    return found


def clear_cache() -> None:
    _cache.clear()
