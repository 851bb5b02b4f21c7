"""The rules of playback state, as plain functions without I/O.

The Redis script (`playstate/lua/compare.lua`), the SQL upsert (`history/sql.py`) and the
Cassandra state cell (`history/cql/store.py`) implement `ordering_key` again in their own
terms; the tests hold all of them to this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

# Profile and movie ids. `\Z`, not `$`: in Python `$` also matches before a final newline.
ID_REGEX = r"[A-Za-z0-9_.:-]{1,64}"
ID_PATTERN = re.compile(rf"\A{ID_REGEX}\Z")
# Epoch values below this are seconds; from here on they are milliseconds (10^11 s is the
# year 5138, 10^11 ms is March 1973, so no real clock is ambiguous).
SECONDS_MILLIS_BOUNDARY = 10**11


class EventType(StrEnum):
    START = "START"
    HEARTBEAT = "HEARTBEAT"
    PAUSE = "PAUSE"
    STOP = "STOP"
    SEEK = "SEEK"
    # Marks: set by the service on a person's request, never sent by a player.
    WATCHED = "WATCHED"
    UNWATCHED = "UNWATCHED"
    RESTORE = "RESTORE"


class PlayerEvent(StrEnum):
    """The events a player sends (EventType without the marks)."""

    START = "START"
    HEARTBEAT = "HEARTBEAT"
    PAUSE = "PAUSE"
    STOP = "STOP"
    SEEK = "SEEK"


MARKS = frozenset({EventType.WATCHED, EventType.UNWATCHED, EventType.RESTORE})
# Events that carry a user's deliberate action: persisted (and pushed) promptly, not
# coalesced into the window like plain heartbeats.
URGENT_EVENTS = frozenset({EventType.PAUSE, EventType.STOP, EventType.SEEK}) | MARKS

OrderingKey = tuple[bool, int, int, str, str, int]


@dataclass(frozen=True, slots=True)
class PlayState:
    """The winning heartbeat of one (profile, movie), as kept in every layer."""

    profile_id: str
    movie_id: str
    position_ms: int
    client_request_time: int  # epoch milliseconds
    device_id: str
    event_type: EventType
    duration_ms: int | None = None
    # Hidden from Continue Watching while client_request_time <= hidden_before.
    hidden_before: int = 0
    # A place worth keeping (`holds_place`): beaten only by another such state.
    significant: bool = False
    # Hidden from history, Continue Watching and Next Up while client_request_time <= this.
    forgotten_before: int = 0

    @property
    def ordering_key(self) -> OrderingKey:
        return ordering_key(self)


def to_millis(epoch: int) -> int:
    return epoch * 1000 if epoch < SECONDS_MILLIS_BOUNDARY else epoch


def holds_place(position_ms: int, event_type: EventType, *, ignore_start_ms: int) -> bool:
    """Whether a heartbeat is a place worth keeping: past the first `ignore_start_ms` of the
    title (a stream that failed to start reports 0:00 or 0:03, not 20:00), or a mark a person
    asked for (watched, unwatched, restore), wherever it is."""
    return event_type in MARKS or position_ms >= ignore_start_ms


def ordering_key(state: PlayState) -> OrderingKey:
    """Greater wins: a significant state over any other (so a failed start never replaces
    a place worth keeping), then the later client time, then the further position, then the
    greater device id (the contract's rule). Two heartbeats equal in all of these still
    differ in event type (by name) or in the catalog duration they were checked against;
    comparing those too makes the order total, so no tie depends on arrival order."""
    return (
        state.significant,
        state.client_request_time,
        state.position_ms,
        state.device_id,
        str(state.event_type),
        -1 if state.duration_ms is None else state.duration_ms,
    )


def is_newer(candidate: PlayState, current: PlayState | None) -> bool:
    return current is None or ordering_key(candidate) > ordering_key(current)


def merge(current: PlayState | None, incoming: PlayState) -> PlayState:
    """Apply one heartbeat (or stored state) to the current state of the same title.

    Commutative, associative and idempotent, so any delivery order gives the same result.
    """
    if current is None:
        return incoming
    winner = incoming if is_newer(incoming, current) else current
    hidden_before = max(current.hidden_before, incoming.hidden_before)
    forgotten_before = max(current.forgotten_before, incoming.forgotten_before)
    if winner.hidden_before == hidden_before and winner.forgotten_before == forgotten_before:
        return winner
    return replace(winner, hidden_before=hidden_before, forgotten_before=forgotten_before)


def latest_per_title(states: Iterable[PlayState]) -> dict[str, PlayState]:
    """`merge` folded over states of one profile: movie_id → its winning state."""
    latest: dict[str, PlayState] = {}
    for state in states:
        latest[state.movie_id] = merge(latest.get(state.movie_id), state)
    return latest


def recency(state: PlayState) -> tuple[int, str]:
    """When the title was last active (states of different titles compare by this)."""
    return state.client_request_time, state.movie_id


def newest_first(states: Iterable[PlayState]) -> list[PlayState]:
    """Most recent activity first; equal times by movie id, so pages are stable."""
    return sorted(states, key=recency, reverse=True)


def progress(position_ms: int, duration_ms: int | None) -> float | None:
    if not duration_ms:
        return None
    return min(1.0, position_ms / duration_ms)


def is_forgotten(state: PlayState) -> bool:
    """Hidden from history, and so from every row, until watched again after the hiding."""
    return state.client_request_time <= state.forgotten_before


def is_hidden(state: PlayState) -> bool:
    """Hidden from Continue Watching (a removed tile, or a title hidden from history)."""
    return state.client_request_time <= max(state.hidden_before, state.forgotten_before)
