"""The CompressedVH codec: any profile's records round-trip; linear watching is cheap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from history import codec
from playstate.domain import PlayState

records = st.lists(
    st.builds(
        PlayState,
        profile_id=st.just("p"),
        movie_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
        position_ms=st.integers(0, 10**10),
        client_request_time=st.integers(10**11, 10**13),
        device_id=st.text(min_size=1, max_size=20),
        event_type=st.sampled_from(["START", "HEARTBEAT", "PAUSE", "STOP", "SEEK"]),
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
    assert codec.decode(blob, profile_id="p") == by_time(states)


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
            "p", f"show.s{e // 10:02d}e{e % 10:02d}", 2_580_000, start + e * day, "tv", "STOP"
        )
        for e in range(365)
    ]
    blob = codec.encode(year)
    assert len(blob) / len(year) < 8
    assert codec.decode(blob, profile_id="p") == year
