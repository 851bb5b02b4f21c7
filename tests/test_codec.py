"""The CompressedVH codec: any profile's records round-trip; linear watching is cheap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.domain import EventType, PlayState
from history import codec

IGNORE_START = 180_000

records = st.lists(
    st.builds(
        PlayState,
        profile_id=st.just("p"),
        movie_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
        position_ms=st.integers(0, 10**10),
        client_request_time=st.integers(10**11, 10**13),
        device_id=st.text(min_size=1, max_size=20),
        event_type=st.sampled_from(list(EventType)),
        duration_ms=st.none() | st.integers(1, 10**10),
        hidden_before=st.just(0) | st.integers(10**11, 10**13),
    ),
    max_size=60,
    unique_by=lambda s: s.movie_id,
)


def by_time(states: list[PlayState]) -> list[PlayState]:
    return sorted(states, key=lambda s: (s.client_request_time, s.movie_id))


@given(records, st.sampled_from([codec.ZLIB, codec.ZSTD]))
def test_any_records_round_trip(states: list[PlayState], compressor: int) -> None:
    blob = codec.encode(states, compressor=compressor)
    assert list(codec.decode(blob, profile_id="p", ignore_start_ms=IGNORE_START)) == by_time(states)


@given(st.binary(min_size=1, max_size=5000), st.integers(1, 700))
def test_chunks_join_back_into_the_blob(blob: bytes, size: int) -> None:
    pieces = codec.chunks(blob, size)
    assert b"".join(pieces) == blob
    assert all(len(p) <= size for p in pieces)


def test_linear_watching_costs_a_few_bytes_a_record() -> None:
    # A year of a series, one episode an evening: times a day apart, similar positions.
    start, day = 1_700_000_000_000, 86_400_000
    year = [
        PlayState(
            "p",
            f"show.s{e // 10:02d}e{e % 10:02d}",
            2_580_000,
            start + e * day,
            "tv",
            EventType.STOP,
        )
        for e in range(365)
    ]
    blob = codec.encode(year)
    assert len(blob) / len(year) < 8
    assert list(codec.decode(blob, profile_id="p", ignore_start_ms=IGNORE_START)) == year


def test_a_state_newer_than_its_hiding_by_one_millisecond_keeps_it() -> None:
    # Hypothesis found this: the first layout wrote "hidden a millisecond before" as "never".
    state = PlayState(
        "p", "m", 0, 100_000_000_001, "tv", EventType.START, hidden_before=100_000_000_000
    )
    assert list(
        codec.decode(codec.encode([state]), profile_id="p", ignore_start_ms=IGNORE_START)
    ) == [state]


def test_blobs_of_the_first_layout_still_read() -> None:
    # Written by version 1 (zlib): m1 hidden up to 5 ms after its state, m2 never hidden.
    blob = bytes.fromhex(
        "505648010178da6362e6f470750c0a7172750c610d700c0d76652a296bb830f5ff1ec3032bd999720d"
        "99180f9e57e1e1da0be2183131303000007ec10ecc"
    )
    assert list(codec.decode(blob, profile_id="p", ignore_start_ms=IGNORE_START)) == [
        PlayState(
            "p", "m1", 60_000, 1_700_000_000_000, "tv", EventType.PAUSE, 600_000, 1_700_000_000_005
        ),
        PlayState("p", "m2", 1, 1_700_000_000_010, "tv", EventType.HEARTBEAT, None),
    ]
