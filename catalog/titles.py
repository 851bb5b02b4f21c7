"""The catalog as the rules see it (`core.series.Title`), cached per process: checking a
heartbeat or drawing a Continue Watching row costs no SQL query for titles seen in the last
`PLAYSTATE_CATALOG_CACHE_SECONDS`, and an imported or changed title is seen within that time.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

from catalog.models import Movie
from core.series import Title

# Clients name any movie id they like; past this many entries a cache starts over.
MAX_ENTRIES = 100_000
V = TypeVar("V")


class _Cache(dict[str, tuple[V, float]]):
    def fresh(self, keys: Iterable[str]) -> tuple[dict[str, V], set[str]]:
        now = time.monotonic()
        found: dict[str, V] = {}
        missing: set[str] = set()
        for key in keys:
            entry = self.get(key)
            if entry is not None and entry[1] > now:
                found[key] = entry[0]
            else:
                missing.add(key)
        return found, missing

    def keep(self, values: dict[str, V]) -> None:
        if len(self) + len(values) > MAX_ENTRIES:
            self.clear()
        expires = time.monotonic() + settings.PLAYSTATE_CATALOG_CACHE_SECONDS
        for key, value in values.items():
            self[key] = (value, expires)


_titles: _Cache[Title | None] = _Cache()
_series: _Cache[tuple[Title, ...]] = _Cache()


def title_of(movie: Movie) -> Title:
    return Title(
        movie_id=movie.movie_id,
        title=movie.title,
        duration_ms=movie.duration_ms,
        credits_ms=movie.credits_ms,
        series_id=movie.series_id,
        season=movie.season,
        episode=movie.episode,
        available=movie.available,
        added_at=None if movie.added_at is None else int(movie.added_at.timestamp() * 1000),
    )


def _load_titles(movie_ids: set[str]) -> dict[str, Title | None]:
    found = {m.movie_id: title_of(m) for m in Movie.objects.filter(movie_id__in=movie_ids)}
    return {movie_id: found.get(movie_id) for movie_id in movie_ids}


def _load_series(series_ids: set[str]) -> dict[str, tuple[Title, ...]]:
    episodes: dict[str, list[Title]] = {series_id: [] for series_id in series_ids}
    for movie in Movie.objects.filter(series_id__in=series_ids):
        episodes[str(movie.series_id)].append(title_of(movie))
    return {series_id: tuple(titles) for series_id, titles in episodes.items()}


async def titles(movie_ids: Collection[str]) -> dict[str, Title | None]:
    """`movie_id` → its title, or None for titles not (yet) in the catalog."""
    found, missing = _titles.fresh(movie_ids)
    if missing:
        loaded: dict[str, Title | None] = await database_sync_to_async(_load_titles)(missing)
        _titles.keep(loaded)
        found.update(loaded)
    return found


async def durations(movie_ids: Collection[str]) -> dict[str, int | None]:
    """`movie_id` → `duration_ms`, or None for titles not (yet) in the catalog."""
    return {m: None if t is None else t.duration_ms for m, t in (await titles(movie_ids)).items()}


async def series_episodes(series_ids: Collection[str]) -> dict[str, tuple[Title, ...]]:
    """Every episode of each series in the catalog, specials and removed ones included."""
    found, missing = _series.fresh(series_ids)
    if missing:
        loaded: dict[str, tuple[Title, ...]] = await database_sync_to_async(_load_series)(missing)
        _series.keep(loaded)
        found.update(loaded)
    return found


def clear_cache() -> None:
    _titles.clear()
    _series.clear()
