"""Reads: resume position, Continue Watching, history, a device's catch-up, the support view.

Cache first, then the store; a backend that is down degrades the answer, never fails it
(except history, which is the store's to give: it raises StoreUnavailable).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from channels.db import database_sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from catalog.titles import series_episodes, titles
from core.domain import (
    EventType,
    PlayState,
    is_forgotten,
    is_hidden,
    latest_per_title,
    merge,
    newest_first,
)
from core.outages import OutageLog
from core.series import NextUp, Title, next_up, state_completed
from core.versions import Point, resume_points, sessions
from history.selectors import stored_records
from history.store import StoreUnavailable, compacted_records, get_store
from playstate import events, hotlayer
from playstate.schemas import Cursor, Position, Source
from playstate.stored import stored_get

logger = logging.getLogger(__name__)
# Reads fall back to what still answers; an outage is said once, not per read.
outages = OutageLog(logger, "reads answer from what still answers")


def ratio() -> float:
    return float(settings.PLAYSTATE_COMPLETION_RATIO)


async def _from_store(profile_id: str, movie_id: str) -> PlayState | None:
    try:
        found = await stored_get(profile_id, movie_id)
    except StoreUnavailable as error:
        outages.failed("store", error)
        return None
    outages.answered("store")
    return found


async def position_get(*, profile_id: str, movie_id: str) -> tuple[PlayState | None, Source]:
    """The title's state and where it came from: cache → store (repairing the cache) → none."""
    try:
        state = await hotlayer.get_state(profile_id, movie_id)
    except RedisError as error:
        outages.failed("hot layer", error)
        state = await _from_store(profile_id, movie_id)
        return state, Source.DEFAULT if state is None else Source.STORE
    outages.answered("hot layer")
    if state is not None:
        return state, Source.CACHE
    state = await _from_store(profile_id, movie_id)
    if state is None:
        return None, Source.DEFAULT
    try:
        await hotlayer.repair(state)
    except RedisError:
        logger.warning("read repair of %s/%s failed", profile_id, movie_id)
    return state, Source.STORE


def nothing_known(*, profile_id: str, movie_id: str, duration_ms: int | None = None) -> Position:
    """The resume answer when nothing is known of the title (or it was hidden): play from
    the start."""
    return Position(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=0,
        duration_ms=duration_ms,
        completed=False,
        client_request_time=None,
        device_id=None,
        event_type=None,
        source=Source.DEFAULT,
    )


async def position_answer(*, profile_id: str, movie_id: str) -> Position:
    """The resume answer (contract section 5); a completed title resumes at 0."""
    state, source = await position_get(profile_id=profile_id, movie_id=movie_id)
    title = (await titles([movie_id]))[movie_id]
    if state is None or is_forgotten(state):
        duration = None if title is None else title.duration_ms
        return nothing_known(profile_id=profile_id, movie_id=movie_id, duration_ms=duration)
    completed = state_completed(state, title, ratio())
    return Position(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=0 if completed else state.position_ms,
        duration_ms=state.duration_ms,
        completed=completed,
        client_request_time=state.client_request_time,
        device_id=state.device_id,
        event_type=state.event_type,
        source=source,
    )


async def hot_states(profile_id: str) -> list[PlayState]:
    """The profile's states in the hot layer, or none while Redis is down (the reading is
    then served from the store alone)."""
    return [state for state, _ in await hot_arrivals(profile_id)]


async def hot_arrivals(profile_id: str) -> list[tuple[PlayState, int]]:
    """`hot_states`, each with when it arrived (`hotlayer.recent_arrivals`)."""
    try:
        return await hotlayer.recent_arrivals(profile_id)
    except RedisError as error:
        outages.failed("hot layer", error)
        return []


def _stored(profile_id: str, hot: list[PlayState]) -> tuple[dict[str, PlayState], set[str]]:
    """The profile's LiveVH rows and CompressedVH records merged with `hot`, and the titles
    that have a LiveVH row. Raises StoreUnavailable."""
    store = get_store()
    live = store.changed_since(profile_id, -1)
    return stored_records(store, profile_id, [*live, *hot]), {s.movie_id for s in live}


async def history_page(
    *, profile_id: str, limit: int, after: Cursor | None
) -> tuple[list[PlayState], Cursor | None]:
    """Every title the profile watched, newest first: LiveVH, CompressedVH and the hot layer
    merged, one entry per title (the newer state wins). Raises StoreUnavailable."""
    hot = await hot_states(profile_id)
    records, _ = await database_sync_to_async(_stored)(profile_id, hot)
    ordered = newest_first(s for s in records.values() if not is_forgotten(s))
    if after is not None:
        ordered = [s for s in ordered if (s.client_request_time, s.movie_id) < after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, (page[-1].client_request_time, page[-1].movie_id) if more else None


@dataclass(frozen=True)
class Shelf:
    """What a profile's rows are made of: its state of every title it watched (store and cache
    merged), which of those are recent (LiveVH or the cache), the catalog's word on each, and
    every episode of each show among them."""

    states: dict[str, PlayState]
    recent: set[str]
    titles: dict[str, Title | None]
    episodes: dict[str, tuple[Title, ...]]

    def show_of(self, movie_id: str) -> str | None:
        title = self.titles.get(movie_id)
        return None if title is None else title.series_id

    def next_ups(self) -> dict[str, NextUp]:
        shows = {series for m in self.states if (series := self.show_of(m)) is not None}
        found = {s: next_up(self.episodes.get(s, ()), self.states, ratio()) for s in shows}
        return {show: entry for show, entry in found.items() if entry is not None}


async def shelf(profile_id: str) -> Shelf:
    """The profile's shelf; with the store down, what the cache holds."""
    hot = await hot_states(profile_id)
    try:
        states, live = await database_sync_to_async(_stored)(profile_id, hot)
    except StoreUnavailable as error:
        outages.failed("store", error)
        states, live = latest_per_title(hot), set()
    # A title hidden from history is in no row, as if never watched.
    states = {m: s for m, s in states.items() if not is_forgotten(s)}
    catalog = await titles(states)
    shows = {t.series_id for t in catalog.values() if t is not None and t.series_id}
    return Shelf(
        states=states,
        recent=(live | {s.movie_id for s in hot}) & states.keys(),
        titles=catalog,
        episodes=await series_episodes(shows),
    )


async def next_up_list(*, profile_id: str, limit: int) -> list[NextUp]:
    """One entry per show the profile watched, most recent activity first."""
    entries = (await shelf(profile_id)).next_ups().values()
    ordered = sorted(entries, key=lambda e: (e.last_watched, e.episode.movie_id), reverse=True)
    return ordered[:limit]


@dataclass(frozen=True)
class RowItem:
    """A tile of Continue Watching: a film in progress, or a show's Next Up entry."""

    movie_id: str
    title: str | None
    position_ms: int
    duration_ms: int | None
    last_watched: int
    device_id: str
    series_id: str | None = None
    next_up: bool = False


async def continue_watching_list(*, profile_id: str, limit: int) -> list[RowItem]:
    """In-progress films and one tile per show, most recent activity first: titles active
    recently (LiveVH or the cache), the cache's newer states overlaid (which may have completed,
    hidden or revived a title). A show's tile is its Next Up entry; removing the tile hides
    the show's episodes, so it is back with a newer heartbeat for any of them."""
    found = await shelf(profile_id)
    items: list[RowItem] = []
    for movie_id in found.recent:
        state, title = found.states[movie_id], found.titles.get(movie_id)
        if (
            found.show_of(movie_id)
            or is_hidden(state)
            or state.event_type == EventType.UNWATCHED  # back to "not started"
            or state_completed(state, title, ratio())
        ):
            continue
        items.append(
            RowItem(
                movie_id,
                None if title is None else title.title,
                state.position_ms,
                state.duration_ms,
                state.client_request_time,
                state.device_id,
            )
        )
    for show, entry in found.next_ups().items():
        watched = [s for m, s in found.states.items() if found.show_of(m) == show]
        if not any(s.movie_id in found.recent for s in watched) or all(map(is_hidden, watched)):
            continue
        items.append(
            RowItem(
                entry.episode.movie_id,
                entry.episode.title,
                entry.position_ms,
                entry.episode.duration_ms,
                entry.last_watched,
                entry.device_id,
                series_id=show,
                next_up=not entry.started,
            )
        )
    items.sort(key=lambda i: (i.last_watched, i.movie_id), reverse=True)
    return items[:limit]


async def catch_up(*, profile_id: str, since: int, device_id: str) -> list[events.Message]:
    """What a device that was away since `since` missed, oldest first: the latest state of
    every title whose winner is newer or arrived later (the store's, overlaid with the hot
    layer's: newer, or not yet persisted), except its own and hidden ones, then each title
    hidden meanwhile."""
    try:
        stored = await database_sync_to_async(get_store().changed_since)(profile_id, since)
    except StoreUnavailable as error:
        outages.failed("store", error)
        stored = []
    arrivals = await hot_arrivals(profile_id)
    # Newer than `since`, or arrived after it: a device's late heartbeat (sent once it was
    # back online) that wins with an older time is news too.
    hot = [s for s, arrived in arrivals if s.client_request_time > since or arrived > since]
    latest = newest_first(latest_per_title([*stored, *hot]).values())[::-1]
    catalog = await titles({s.movie_id for s in latest})
    messages: list[events.Message] = [
        events.update_message(s, catalog[s.movie_id])
        for s in latest
        if not events.is_echo(s.device_id, s.event_type, device_id) and not is_hidden(s)
    ]
    try:
        removed = await hotlayer.removed_since(profile_id, since)
    except RedisError as error:
        outages.failed("hot layer", error)
        removed = []
    shown = {s.movie_id for s in latest if not is_hidden(s)}
    messages += [
        events.PlaystateRemoved(profile_id=profile_id, movie_id=m)
        for m in removed
        if m not in shown
    ]
    return messages


@dataclass(frozen=True)
class SupportRow:
    """One title on a profile's support page: what the store and the cache each hold."""

    stored: PlayState | None
    cached: PlayState | None
    compacted: bool
    title: Title | None

    @property
    def state(self) -> PlayState:
        candidates = [s for s in (self.stored, self.cached) if s is not None]
        return max(candidates, key=lambda s: s.ordering_key)

    @property
    def last_watched(self) -> datetime:
        return datetime.fromtimestamp(self.state.client_request_time / 1000, tz=UTC)

    @property
    def completed(self) -> bool:
        return state_completed(self.state, self.title, ratio())

    @property
    def forgotten(self) -> bool:
        return is_forgotten(self.state)


async def support_history(profile_id: str) -> tuple[list[SupportRow], list[str]]:
    """Every title of the profile, newest first, with what went wrong reading it."""
    problems: list[str] = []
    records: dict[str, PlayState] = {}
    in_live: set[str] = set()
    try:
        records, in_live = await database_sync_to_async(_stored)(profile_id, [])
    except StoreUnavailable as error:
        problems.append(f"The store is unreachable ({error}).")
    cached: dict[str, PlayState] = {}
    try:
        cached = {s.movie_id: s for s in await hotlayer.recent_states(profile_id)}
    except RedisError as error:
        problems.append(f"Redis is unreachable ({type(error).__name__}).")
    movies = records.keys() | cached.keys()
    catalog = await titles(movies)
    rows = [
        SupportRow(records.get(m), cached.get(m), m in records and m not in in_live, catalog[m])
        for m in movies
    ]
    rows.sort(key=lambda r: (r.state.client_request_time, r.state.movie_id), reverse=True)
    return rows, problems


VERSIONS_SHOWN = 20


def _points(raw: dict[str, str]) -> list[Point]:
    """A title's resume points as the hot layer keeps them (hotlayer.versions_key)."""
    points = []
    for field, value in raw.items():
        device_id = field.split("|", 1)[0]  # then its buckets: of time, of position
        crt, position, event = value.split("|", 2)
        points.append(Point(int(crt), int(position), device_id, EventType(event)))
    return points


async def position_versions(*, profile_id: str, movie_id: str) -> list[Point]:
    """The title's recent distinct resume points, newest first (raises RedisError: they
    live in the hot layer; the title's state, a point of its own, is read from the store
    once the cache has let the title go)."""
    kept, state = await hotlayer.versions(profile_id, movie_id)
    if state is None:
        state = await _from_store(profile_id, movie_id)
    return resume_points(_points(hotlayer.with_state(kept, state)), limit=VERSIONS_SHOWN)


@dataclass(frozen=True)
class Session:
    """A stretch of watching one title on one device, for the support timeline."""

    device_id: str
    movie_id: str
    title: str | None
    first: Point
    last: Point


async def activity(*, profile_id: str, since_ms: int) -> list[Session]:
    """What the profile watched since `since_ms`, on which device, as sessions, oldest first
    (from the resume points of the titles in the hot layer; raises RedisError)."""
    movies = [s.movie_id for s in await hotlayer.recent_states(profile_id)]
    catalog = await titles(movies)
    found = []
    for movie_id in movies:
        points = hotlayer.with_state(*await hotlayer.versions(profile_id, movie_id))
        for first, last in sessions(_points(points)):
            if last.client_request_time >= since_ms:
                title = catalog[movie_id]
                label = None if title is None else title.title
                found.append(Session(first.device_id, movie_id, label, first, last))
    return sorted(found, key=lambda s: (s.first.client_request_time, s.device_id))


EXPORT_BATCH = 500


def _export_states(profile_id: str, hot: list[PlayState]) -> Iterator[PlayState]:
    """Every title of the profile not hidden from history: the CompressedVH records one at a
    time (oldest first; the part of a history that grows without bound), then the recent
    titles (LiveVH and the cache, which are bounded by the rollup's age), oldest first."""
    store = get_store()
    recent = latest_per_title([*store.changed_since(profile_id, -1), *hot])
    for record in compacted_records(store, profile_id):
        if record.movie_id in recent:
            recent[record.movie_id] = merge(recent[record.movie_id], record)
        elif not is_forgotten(record):
            yield record
    yield from (s for s in newest_first(recent.values())[::-1] if not is_forgotten(s))


async def history_export(*, profile_id: str) -> AsyncIterator[list[tuple[PlayState, Title | None]]]:
    """The whole history in batches of titles with their catalog entries, read lazily.
    Raises StoreUnavailable (before the first batch, or during the stream)."""
    hot = await hot_states(profile_id)
    states = _export_states(profile_id, hot)
    take = database_sync_to_async(lambda: list(islice(states, EXPORT_BATCH)))
    while batch := await take():
        catalog = await titles({s.movie_id for s in batch})
        yield [(s, catalog[s.movie_id]) for s in batch]
