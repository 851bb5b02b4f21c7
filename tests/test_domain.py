"""The ordering rule and the other pure rules, exhaustively with hypothesis."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from playstate.domain import (
    PlayState,
    in_continue_watching,
    is_completed,
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
    event_type=st.sampled_from(["HEARTBEAT", "PAUSE", "SEEK"]),
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


@given(states, states)
def test_the_winner_has_the_greatest_time_then_position_then_device(
    a: PlayState, b: PlayState
) -> None:
    winner = merge(a, b)
    loser = b if winner.ordering_key == a.ordering_key else a
    assert winner.client_request_time >= loser.client_request_time
    assert winner.ordering_key >= loser.ordering_key
    assert winner.hidden_before == max(a.hidden_before, b.hidden_before)
    assert is_newer(a, None)


@given(states)
def test_merge_is_idempotent(state: PlayState) -> None:
    assert merge(state, state) == state


def test_a_deliberate_seek_back_is_newer_and_wins() -> None:
    watching = PlayState("p", "m", 3_000_000, 1_700_000_000_000, "tv", "HEARTBEAT")
    seek_back = PlayState("p", "m", 10_000, 1_700_000_010_000, "phone", "SEEK")
    assert merge(watching, seek_back) == seek_back
    assert merge(seek_back, watching) == seek_back


def test_epoch_values_below_10_to_the_11_are_seconds() -> None:
    assert to_millis(1_705_820_000) == 1_705_820_000_000
    assert to_millis(99_999_999_999) == 99_999_999_999_000
    assert to_millis(100_000_000_000) == 100_000_000_000
    assert to_millis(1_705_820_000_123) == 1_705_820_000_123


def test_completion_is_reached_at_the_ratio() -> None:
    assert not is_completed(949, 1000, 0.95)
    assert is_completed(950, 1000, 0.95)
    assert not is_completed(10**9, None, 0.95)
    assert progress(250, 1000) == 0.25
    assert progress(250, None) is None


def test_a_hidden_title_is_out_of_the_row_until_a_newer_state() -> None:
    state = PlayState("p", "m", 10, 1_000, "tv", "HEARTBEAT", 1000, hidden_before=1_000)
    assert not in_continue_watching(state, 0.95)
    newer = PlayState("p", "m", 20, 1_001, "tv", "HEARTBEAT", 1000)
    assert in_continue_watching(merge(state, newer), 0.95)
