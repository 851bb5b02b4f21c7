"""The ordering rule and the other pure rules, exhaustively with hypothesis."""

from __future__ import annotations

from dataclasses import replace
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from core.domain import (
    EventType,
    PlayState,
    is_hidden,
    is_newer,
    merge,
    progress,
    to_millis,
)

states = st.builds(
    PlayState,
    profile_id=st.just("p"),
    movie_id=st.just("m"),
    # Few distinct values, so ties on time and position are common.
    position_ms=st.integers(0, 5),
    client_request_time=st.integers(1_700_000_000_000, 1_700_000_000_004),
    device_id=st.sampled_from(["phone", "tv", "tv2", "Tv", "é"]),
    event_type=st.sampled_from(list(EventType)),
    duration_ms=st.sampled_from([None, 5, 6]),
    hidden_before=st.sampled_from([0, 0, 1_700_000_000_002]),
)


def in_time_order(heartbeats: list[PlayState]) -> PlayState:
    ordered = sorted(heartbeats, key=lambda s: s.ordering_key)
    return reduce(merge, ordered[1:], ordered[0])


@given(st.lists(states, min_size=1, max_size=12), st.randoms())
def test_any_order_and_duplication_gives_the_time_ordered_state(
    heartbeats: list[PlayState], rnd: object
) -> None:
    expected = in_time_order(heartbeats)
    delivered = heartbeats + [heartbeats[i % len(heartbeats)] for i in range(3)]
    rnd.shuffle(delivered)  # type: ignore[attr-defined]
    assert reduce(merge, delivered[1:], delivered[0]) == expected


def beats(a: PlayState, b: PlayState) -> bool:
    """The rule as the README states it, written out: later client time, then further
    position, then greater device id (bytewise), then event type STOP > START > SEEK > PAUSE
    > HEARTBEAT, then the greater known duration."""
    if a.client_request_time != b.client_request_time:
        return a.client_request_time > b.client_request_time
    if a.position_ms != b.position_ms:
        return a.position_ms > b.position_ms
    if a.device_id != b.device_id:
        return a.device_id.encode() > b.device_id.encode()
    rank = ["HEARTBEAT", "PAUSE", "SEEK", "START", "STOP"]
    if a.event_type != b.event_type:
        return rank.index(a.event_type) > rank.index(b.event_type)
    return (a.duration_ms or -1) > (b.duration_ms or -1)


@given(states, states)
def test_the_winner_is_the_one_the_written_rule_picks(a: PlayState, b: PlayState) -> None:
    if beats(a, b):
        winner = a
    elif beats(b, a):
        winner = b
    else:  # equal in every field the rule reads: they differ at most in hidden_before
        winner = a
    hidden = max(a.hidden_before, b.hidden_before)
    assert merge(a, b) == replace(winner, hidden_before=hidden)
    assert merge(b, a) == replace(winner, hidden_before=hidden)
    assert is_newer(winner, None)


@given(states)
def test_merge_is_idempotent(state: PlayState) -> None:
    assert merge(state, state) == state


def test_a_deliberate_seek_back_is_newer_and_wins() -> None:
    watching = PlayState("p", "m", 3_000_000, 1_700_000_000_000, "tv", EventType.HEARTBEAT)
    seek_back = PlayState("p", "m", 10_000, 1_700_000_010_000, "phone", EventType.SEEK)
    assert merge(watching, seek_back) == seek_back
    assert merge(seek_back, watching) == seek_back


def test_epoch_values_below_10_to_the_11_are_seconds() -> None:
    assert to_millis(1_705_820_000) == 1_705_820_000_000
    assert to_millis(99_999_999_999) == 99_999_999_999_000
    assert to_millis(100_000_000_000) == 100_000_000_000
    assert to_millis(1_705_820_000_123) == 1_705_820_000_123


def test_progress_is_the_share_of_the_duration() -> None:
    assert progress(250, 1000) == 0.25
    assert progress(2000, 1000) == 1.0
    assert progress(250, None) is None


def test_a_hidden_title_is_out_of_the_row_until_a_newer_state() -> None:
    state = PlayState("p", "m", 10, 1_000, "tv", EventType.HEARTBEAT, 1000, hidden_before=1_000)
    assert is_hidden(state)
    newer = PlayState("p", "m", 20, 1_001, "tv", EventType.HEARTBEAT, 1000)
    assert not is_hidden(merge(state, newer))
