"""Series: what "watched" means, and what to watch next. Pure functions over a profile's
states (one per title, as every layer keeps them) and the catalog's titles.

- A title is completed once its position reaches its credits, or the completion ratio of its
  duration if that comes sooner (Plex's rule).
- Next Up, per show: the show's latest activity if that episode is still in progress; else the
  first regular episode after the most recently completed regular one, in (season, episode)
  order, skipping specials (season 0), episodes already completed and episodes no longer in the
  library. When every later episode was completed before, the anchor was a rewatch: the one
  after it is offered again. A show with nothing after its anchor has no entry, until the
  catalog gains an episode there (`new_episode`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.domain import EventType, PlayState, recency


@dataclass(frozen=True, slots=True)
class Title:
    """What the catalog says of a title, as far as the rules need it."""

    movie_id: str
    title: str
    duration_ms: int
    credits_ms: int | None = None
    series_id: str | None = None
    season: int | None = None
    episode: int | None = None
    # Still in the library: removed episodes keep their place in the order, but are not offered.
    available: bool = True
    added_at: int | None = None  # epoch ms; unknown for titles imported before it was kept

    @property
    def is_regular_episode(self) -> bool:
        return self.series_id is not None and self.season != 0

    @property
    def order(self) -> tuple[int, int]:
        return (self.season or 0, self.episode or 0)


def completion_ms(duration_ms: int | None, credits_ms: int | None, ratio: float) -> float | None:
    """Where a title counts as watched: its credits, or `ratio` of its duration if sooner."""
    at = ratio * duration_ms if duration_ms else None
    if credits_ms is None:
        return at
    return credits_ms if at is None else min(at, credits_ms)


def is_completed(
    position_ms: int, duration_ms: int | None, ratio: float, credits_ms: int | None = None
) -> bool:
    at = completion_ms(duration_ms, credits_ms, ratio)
    return at is not None and position_ms >= at


def state_completed(state: PlayState, title: Title | None, ratio: float) -> bool:
    """By the catalog's word on the title when it has one, else by the duration the state was
    checked against."""
    if title is None:
        return is_completed(state.position_ms, state.duration_ms, ratio)
    return is_completed(state.position_ms, title.duration_ms, ratio, title.credits_ms)


class Reason(StrEnum):
    IN_PROGRESS = "in_progress"
    NEXT = "next"
    NEW_SEASON = "new_season"
    NEW_EPISODE = "new_episode"


@dataclass(frozen=True, slots=True)
class NextUp:
    episode: Title
    position_ms: int  # where to start it: its position when in progress, else 0
    last_watched: int  # the show's latest activity
    device_id: str  # where that was
    reason: Reason

    @property
    def started(self) -> bool:
        return self.reason == Reason.IN_PROGRESS


def in_progress(state: PlayState, title: Title, ratio: float) -> bool:
    """Started and not finished; a title marked unwatched is back to not started."""
    return state.event_type != EventType.UNWATCHED and not state_completed(state, title, ratio)


def next_up(
    episodes: Iterable[Title], states: Mapping[str, PlayState], ratio: float
) -> NextUp | None:
    """The show's entry for a profile, from every episode of the show in the catalog and the
    profile's state of each title; None when the profile never watched the show, or nothing
    is left to watch."""
    catalog = {e.movie_id: e for e in episodes}
    watched = [(states[m], e) for m, e in catalog.items() if m in states]
    if not watched:
        return None
    latest, latest_episode = max(watched, key=lambda pair: recency(pair[0]))

    def entry(episode: Title, reason: Reason) -> NextUp:
        state = states.get(episode.movie_id)
        started = state is not None and in_progress(state, episode, ratio)
        return NextUp(
            episode=episode,
            position_ms=state.position_ms if started and state is not None else 0,
            last_watched=latest.client_request_time,
            device_id=latest.device_id,
            reason=Reason.IN_PROGRESS if started else reason,
        )

    if latest_episode.available and in_progress(latest, latest_episode, ratio):
        return entry(latest_episode, Reason.IN_PROGRESS)
    regular = sorted((e for e in catalog.values() if e.is_regular_episode), key=lambda e: e.order)
    finished = [
        (state, e)
        for state, e in watched
        if e.is_regular_episode and state_completed(state, e, ratio)
    ]
    if not finished:  # only specials, or episodes left unfinished long ago: from the start
        first = next((e for e in regular if e.available), None)
        return None if first is None else entry(first, Reason.NEXT)
    anchor_state, anchor = max(finished, key=lambda pair: recency(pair[0]))
    later = [e for e in regular if e.order > anchor.order and e.available]
    unseen = [
        e
        for e in later
        if e.movie_id not in states or not state_completed(states[e.movie_id], e, ratio)
    ]
    # Nothing unseen after the anchor, but episodes were: a rewatch, so offer the next again.
    candidates = unseen or later
    if not candidates:
        return None
    chosen = candidates[0]
    if chosen.added_at is not None and chosen.added_at > anchor_state.client_request_time:
        return entry(chosen, Reason.NEW_EPISODE)
    return entry(chosen, Reason.NEW_SEASON if chosen.season != anchor.season else Reason.NEXT)
