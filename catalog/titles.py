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
from typing import Final, TypeVar

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


# A title as the caches keep it: `Title`'s fields in order, in a plain tuple of strings and
# numbers, which the garbage collector stops tracking. Kept as `Title` objects, every title
# reloaded since the catalog was loaded was walked by each full collection, which stops the
# event loop (50,000 titles: 17 ms a pass, against 0.7 ms).
TitleFields = tuple[str, str, int, int | None, str | None, int | None, int | None, bool, int | None]
_DURATION: Final = 2  # TitleFields' index of duration_ms


def fields_of(movie: Movie) -> TitleFields:
    added_at = None if movie.added_at is None else int(movie.added_at.timestamp() * 1000)
    return (
        movie.movie_id,
        movie.title,
        movie.duration_ms,
        movie.credits_ms,
        movie.series_id,
        movie.season,
        movie.episode,
        movie.available,
        added_at,
    )


def _load_titles(movie_ids: set[str]) -> dict[str, TitleFields | None]:
    found = {m.movie_id: fields_of(m) for m in Movie.objects.filter(movie_id__in=movie_ids)}
    return {movie_id: found.get(movie_id) for movie_id in movie_ids}


def _load_series(series_ids: set[str]) -> dict[str, tuple[TitleFields, ...]]:
    episodes: dict[str, list[TitleFields]] = {series_id: [] for series_id in series_ids}
    for movie in Movie.objects.filter(series_id__in=series_ids):
        episodes[str(movie.series_id)].append(fields_of(movie))
    return {series_id: tuple(titles) for series_id, titles in episodes.items()}


_titles: _Cache[TitleFields | None] = _Cache(_load_titles, None)
_series: _Cache[tuple[TitleFields, ...]] = _Cache(_load_series, ())


def _load_catalog() -> dict[str, TitleFields | None]:
    """The catalog's newest titles, as many as half the cache holds (a deployment's web
    process meets most of them within minutes)."""
    newest = Movie.objects.order_by("-pk")[: MAX_ENTRIES // 2]
    return {m.movie_id: fields_of(m) for m in newest.iterator(chunk_size=2000)}


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
    return {m: None if f is None else Title(*f) for m, f in (await _fields(movie_ids)).items()}


async def _fields(movie_ids: Collection[str]) -> dict[str, TitleFields | None]:
    global _prefetching
    if _prefetching is None and settings.PLAYSTATE_CATALOG_PREFETCH:
        _prefetching = detached_task(_prefetch())
    return await _titles.get_many(movie_ids)


async def durations(movie_ids: Collection[str]) -> dict[str, int | None]:
    """`movie_id` → `duration_ms`, or None for titles not (yet) in the catalog."""
    fields = await _fields(movie_ids)
    return {m: None if f is None else f[_DURATION] for m, f in fields.items()}


async def series_episodes(series_ids: Collection[str]) -> dict[str, tuple[Title, ...]]:
    """Every episode of each series in the catalog, specials and removed ones included."""
    found = await _series.get_many(series_ids)
    return {s: tuple(Title(*f) for f in episodes) for s, episodes in found.items()}


def clear_cache() -> None:
    global _prefetching
    _titles.reset()
    _series.reset()
    _prefetching = None
