"""The ordering rule and the other pure rules, exhaustively with hypothesis."""

from __future__ import annotations

from dataclasses import replace
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from core.domain import (
    EventType,
    PlayerEvent,
    PlayState,
    holds_place,
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
    significant=st.booleans(),
    forgotten_before=st.sampled_from([0, 0, 1_700_000_000_003]),
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
    """The rule as the README states it, written out: a state that holds the place first,
    then later client time, then further position, then greater device id (bytewise), then
    event type by name, then the greater known duration."""
    if a.significant != b.significant:
        return a.significant
    if a.client_request_time != b.client_request_time:
        return a.client_request_time > b.client_request_time
    if a.position_ms != b.position_ms:
        return a.position_ms > b.position_ms
    if a.device_id != b.device_id:
        return a.device_id.encode() > b.device_id.encode()
    if a.event_type != b.event_type:
        return a.event_type.encode() > b.event_type.encode()
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
    forgotten = max(a.forgotten_before, b.forgotten_before)
    expected = replace(winner, hidden_before=hidden, forgotten_before=forgotten)
    assert merge(a, b) == expected
    assert merge(b, a) == expected
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


IGNORE_START = 180_000
T0 = 1_700_000_000_000


def heard(position_ms: int, at_s: int, device: str, event: EventType) -> PlayState:
    """A heartbeat as the ingest judges it."""
    significant = holds_place(position_ms, event, ignore_start_ms=IGNORE_START)
    return PlayState(
        "p", "m", position_ms, T0 + at_s * 1000, device, event, 7_200_000, 0, significant
    )


def resume_point(heartbeats: list[PlayState]) -> PlayState:
    return reduce(merge, heartbeats[1:], heartbeats[0])


def test_a_failed_start_on_the_tv_leaves_the_phones_place_everywhere() -> None:
    phone = heard(1_200_000, 0, "phone", EventType.PAUSE)
    tv = [heard(0, 60, "tv", EventType.START), heard(3_000, 63, "tv", EventType.STOP)]
    for order in ([phone, *tv], [*tv, phone], [tv[1], phone, tv[0]]):
        assert resume_point(order) == phone


def test_watching_from_the_start_past_the_threshold_moves_the_place() -> None:
    phone = heard(1_200_000, 0, "phone", EventType.PAUSE)
    restart = [heard(s * 1000, 60 + s, "tv", EventType.HEARTBEAT) for s in range(0, 301, 15)]
    assert resume_point([phone, *restart]).position_ms == 300_000
    assert resume_point([*restart[::-1], phone]).position_ms == 300_000


def test_a_seek_back_beyond_the_threshold_wins_and_one_below_it_does_not() -> None:
    watching = heard(3_000_000, 0, "tv", EventType.HEARTBEAT)
    assert resume_point([watching, heard(200_000, 10, "tv", EventType.SEEK)]).position_ms == 200_000
    assert resume_point([watching, heard(60_000, 10, "tv", EventType.SEEK)]) == watching


def test_a_mark_holds_the_place_wherever_it_is() -> None:
    watching = heard(3_000_000, 0, "tv", EventType.HEARTBEAT)
    unwatched = heard(0, 10, "mark", EventType.UNWATCHED)
    assert resume_point([unwatched, watching]) == unwatched


positions = st.sampled_from([0, 3_000, 179_999, 180_000, 1_200_000, 2_000_000])


@given(
    st.lists(
        st.builds(
            heard,
            positions,
            st.integers(0, 5),
            st.sampled_from(["phone", "tv"]),
            st.sampled_from(list(PlayerEvent)).map(EventType),
        ),
        min_size=1,
        max_size=12,
    ),
    st.randoms(),
)
def test_the_resume_point_is_the_latest_place_beyond_the_threshold_in_any_order(
    heartbeats: list[PlayState], rnd: object
) -> None:
    delivered = heartbeats + heartbeats[:3]
    rnd.shuffle(delivered)  # type: ignore[attr-defined]
    winner = resume_point(delivered)
    places = [h for h in heartbeats if h.position_ms >= IGNORE_START]
    candidates = places or heartbeats
    assert winner == max(candidates, key=lambda h: h.ordering_key)
    assert winner.client_request_time == max(h.client_request_time for h in candidates)
