"""The catalog as the rules see it (`core.series.Title`), cached per process: checking a
heartbeat or drawing a Continue Watching row costs no SQL query for a title this process has
seen; an imported title is seen at once (within ABSENT_SECONDS by a process that met it
absent), a changed one within `PLAYSTATE_CATALOG_CACHE_SECONDS`
(an entry past that time is answered from once more while a background task reloads it:
core/refresh.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable
from typing import TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from catalog.models import Movie
from core.loops import detached_task
from core.memory import freeze_loaded
from core.outages import OutageLog, store_deadline
from core.refresh import BackgroundRefresh, stale_at
from core.series import Title

# Clients name any movie id they like; past this many entries a cache starts over.
MAX_ENTRIES = 100_000
# A title not in the catalog is looked for again (in the background) after this long: one
# imported after a process met it absent is checked within seconds, not the cache's time.
ABSENT_SECONDS = 10.0
V = TypeVar("V")
logger = logging.getLogger(__name__)
outages = OutageLog(logger, "titles this process has not met go without the catalog's details")


class _Cache(dict[str, tuple[V, float]]):
    """Keys to values loaded by `load` (in the database thread), kept for
    `PLAYSTATE_CATALOG_CACHE_SECONDS`; an entry past that time is answered from while a
    background task reloads it."""

    def __init__(self, load: Callable[[set[str]], dict[str, V]], unknown: V) -> None:
        super().__init__()
        self._load, self._unknown = load, unknown
        self._refresh = BackgroundRefresh(self._reload)

    def fresh(self, keys: Iterable[str]) -> tuple[dict[str, V], set[str], set[str]]:
        """What is cached (stale entries too), what is not, and what is stale."""
        now = time.monotonic()
        found: dict[str, V] = {}
        missing: set[str] = set()
        stale: set[str] = set()
        for key in keys:
            entry = self.get(key)
            if entry is None:
                missing.add(key)
                continue
            found[key] = entry[0]
            if entry[1] <= now:
                stale.add(key)
        return found, missing, stale

    def keep(self, values: dict[str, V]) -> None:
        if len(self) + len(values) > MAX_ENTRIES:
            self.clear()
        seconds = settings.PLAYSTATE_CATALOG_CACHE_SECONDS
        absent = min(seconds, ABSENT_SECONDS)
        for key, value in values.items():
            self[key] = (value, stale_at(absent if value == self._unknown else seconds))

    async def get_many(self, keys: Collection[str]) -> dict[str, V]:
        """Each key's value: cached, or loaded now if this process never met the key. While
        the database does not answer, such a key is unknown (and asked for again next time):
        a heartbeat goes without a duration to check, a resume read without a title, rather
        than failing."""
        found, missing, stale = self.fresh(keys)
        self._refresh.add(stale)
        if missing:
            try:
                async with store_deadline():
                    loaded: dict[str, V] = await database_sync_to_async(self._load)(missing)
            except (DatabaseError, TimeoutError) as error:
                outages.failed("catalog's database", error)
                found.update(dict.fromkeys(missing, self._unknown))
                return found
            outages.answered("catalog's database")
            self.keep(loaded)
            found.update(loaded)
        return found

    async def _reload(self, keys: set[str]) -> None:
        self.keep(await database_sync_to_async(self._load)(keys))

    def reset(self) -> None:
        self.clear()
        self._refresh.clear()


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


_titles: _Cache[Title | None] = _Cache(_load_titles, None)
_series: _Cache[tuple[Title, ...]] = _Cache(_load_series, ())


def _load_catalog() -> dict[str, Title | None]:
    """The catalog's newest titles, as many as half the cache holds (a deployment's web
    process meets most of them within minutes)."""
    newest = Movie.objects.order_by("-pk")[: MAX_ENTRIES // 2]
    return {m.movie_id: title_of(m) for m in newest.iterator(chunk_size=2000)}


async def _prefetch() -> None:
    try:
        _titles.keep(await database_sync_to_async(_load_catalog)())
    except DatabaseError:
        logger.warning("could not load the catalog ahead; titles load as they are met")
        return
    freeze_loaded()  # the titles, for the next full collections to pass over


_prefetching: asyncio.Task[None] | None = None


async def titles(movie_ids: Collection[str]) -> dict[str, Title | None]:
    """`movie_id` → its title, or None for titles not (yet) in the catalog. The first call
    of a process also loads the catalog in the background, so titles met later cost the
    request no query."""
    global _prefetching
    if _prefetching is None and settings.PLAYSTATE_CATALOG_PREFETCH:
        _prefetching = detached_task(_prefetch())
    return await _titles.get_many(movie_ids)


async def durations(movie_ids: Collection[str]) -> dict[str, int | None]:
    """`movie_id` → `duration_ms`, or None for titles not (yet) in the catalog."""
    return {m: None if t is None else t.duration_ms for m, t in (await titles(movie_ids)).items()}


async def series_episodes(series_ids: Collection[str]) -> dict[str, tuple[Title, ...]]:
    """Every episode of each series in the catalog, specials and removed ones included."""
    return await _series.get_many(series_ids)


def clear_cache() -> None:
    global _prefetching
    _titles.reset()
    _series.reset()
    _prefetching = None
