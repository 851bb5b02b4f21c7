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


# Events that carry a user's deliberate action: persisted (and pushed) promptly, not
# coalesced into the window like plain heartbeats.
URGENT_EVENTS = frozenset({EventType.PAUSE, EventType.STOP, EventType.SEEK})

OrderingKey = tuple[int, int, str, str, int]


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

    @property
    def ordering_key(self) -> OrderingKey:
        return ordering_key(self)


def to_millis(epoch: int) -> int:
    return epoch * 1000 if epoch < SECONDS_MILLIS_BOUNDARY else epoch


def ordering_key(state: PlayState) -> OrderingKey:
    """Greater wins: the later client time, then the further position, then the greater
    device id (the contract's rule). Two heartbeats equal in all three still differ in event
    type (STOP > START > SEEK > PAUSE > HEARTBEAT) or in the catalog duration they were
    checked against; comparing those too makes the order total, so no tie depends on
    arrival order."""
    return (
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
    if winner.hidden_before == hidden_before:
        return winner
    return replace(winner, hidden_before=hidden_before)


def latest_per_title(states: Iterable[PlayState]) -> dict[str, PlayState]:
    """`merge` folded over states of one profile: movie_id → its winning state."""
    latest: dict[str, PlayState] = {}
    for state in states:
        latest[state.movie_id] = merge(latest.get(state.movie_id), state)
    return latest


def newest_first(states: Iterable[PlayState]) -> list[PlayState]:
    """Most recent activity first; equal times by movie id, so pages are stable."""
    return sorted(states, key=lambda s: (s.client_request_time, s.movie_id), reverse=True)


def progress(position_ms: int, duration_ms: int | None) -> float | None:
    if not duration_ms:
        return None
    return min(1.0, position_ms / duration_ms)


def is_hidden(state: PlayState) -> bool:
    return state.client_request_time <= state.hidden_before
