"""What is particular to the Cassandra store: Cassandra itself resolves last-write-wins
from the write timestamps, and the state cell's bytes order ties as the rule does."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import EventType, PlayState
from history.cql.store import CassandraStore, decode_state, encode_state
from history.store import StoreUnavailable
from tests.conftest import CassandraCluster

T = 1_705_820_000_000

tied = st.builds(
    PlayState,
    profile_id=st.just("p"),
    movie_id=st.just("m"),
    position_ms=st.integers(0, 2**40),
    client_request_time=st.just(T),
    device_id=st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=8),
    event_type=st.sampled_from(list(EventType)),
    duration_ms=st.none() | st.integers(1, 2**40),
)


@given(tied, tied)
def test_the_state_cell_orders_ties_as_the_rule_under_unsigned_comparison(
    a: PlayState, b: PlayState
) -> None:
    # Python compares bytes as Cassandra (4.0 on) compares cell values on equal timestamps:
    # unsigned, byte by byte, a prefix first.
    assert (encode_state(a) > encode_state(b)) == (a.ordering_key > b.ordering_key)


@given(tied)
def test_a_state_cell_of_the_earlier_format_still_reads(state: PlayState) -> None:
    earlier = bytes(b ^ 0x80 for b in bytes([2]) + encode_state(state)[1:])
    decoded = decode_state(
        earlier,
        profile_id="p",
        movie_id="m",
        client_request_time=T,
        significant=state.significant,
    )
    assert decoded == state


@given(tied)
def test_the_state_cell_round_trips(state: PlayState) -> None:
    decoded = decode_state(
        encode_state(state),
        profile_id="p",
        movie_id="m",
        client_request_time=T,
        significant=state.significant,
    )
    assert decoded == state


def test_the_write_timestamp_is_the_winning_client_time_in_microseconds(
    cassandra_store: CassandraStore, cassandra: CassandraCluster
) -> None:
    late = PlayState(
        "u123", "m456", 540_500, T + 15_000, "phone_01", EventType.PAUSE, 600_000, significant=True
    )
    stale = PlayState("u123", "m456", 100_000, T, "tv", EventType.HEARTBEAT, 600_000)
    cassandra_store.write([late])
    cassandra_store.write([stale])  # arrives late: Cassandra ignores it
    row = cassandra_store.session.execute(
        f"SELECT position_ms, writetime(position_ms) AS written, client_request_time"
        f' FROM "{cassandra.keyspace}".live_vh WHERE profile_id = %s AND movie_id = %s',
        ("u123", "m456"),
    ).one()
    assert row == {
        "position_ms": 540_500,
        "written": (T + 15_000) * 1000,
        "client_request_time": T + 15_000,
    }
    assert cassandra_store.get("u123", "m456") == late


def test_a_place_in_the_first_minutes_shows_in_position_ms_too(
    cassandra_store: CassandraStore, cassandra: CassandraCluster
) -> None:
    """A state below the no-lost-place threshold goes to the other register; the operator's
    columns showed nothing for it (`position_ms` null)."""
    early = PlayState("u1", "m1", 60_000, T, "tv", EventType.PAUSE, 600_000)
    assert not early.significant
    cassandra_store.write([early])
    row = cassandra_store.session.execute(
        f"SELECT position_ms, writetime(position_ms) AS written, client_request_time"
        f' FROM "{cassandra.keyspace}".live_vh WHERE profile_id = %s AND movie_id = %s',
        ("u1", "m1"),
    ).one()
    assert row == {"position_ms": 60_000, "written": T * 1000, "client_request_time": T}
    cassandra_store.delete_live([early])  # a rollup: the row goes, mirror and all
    assert (
        cassandra_store.session.execute(
            f'SELECT * FROM "{cassandra.keyspace}".live_vh WHERE profile_id = %s', ("u1",)
        ).one()
        is None
    )


def test_the_store_is_ready_once_its_tables_are_there_not_when_the_node_answers(
    cassandra_store: CassandraStore,
) -> None:
    cassandra_store.ping()
    missing = CassandraStore(session=cassandra_store.session, keyspace="not_made_yet")
    with pytest.raises(StoreUnavailable):
        missing.ping()


def test_a_tie_on_the_write_timestamp_keeps_the_rules_winner_in_either_order(
    cassandra_store: CassandraStore,
) -> None:
    # 600_001 and 637_638 differ first in a byte below 0x80 against one above it, where
    # signed and unsigned comparison disagree (the partition tests found it).
    further = PlayState("u1", "m1", 637_638, T, "phone", EventType.PAUSE, significant=True)
    nearer = PlayState("u1", "m1", 600_001, T, "tv", EventType.START, significant=True)
    for movie, order in (("m1", (further, nearer)), ("m2", (nearer, further))):
        for state in order:
            cassandra_store.write([replace(state, movie_id=movie)])
        assert cassandra_store.get("u1", movie) == replace(further, movie_id=movie)


def test_requests_time_out_as_configured(cassandra_store: CassandraStore, settings: object) -> None:
    assert cassandra_store.session.default_timeout == settings.CASSANDRA_REQUEST_TIMEOUT  # type: ignore[attr-defined]
    assert cassandra_store.session.default_timeout <= 3


def test_a_flush_of_many_profiles_is_one_batch_per_partition(
    cassandra_store: CassandraStore,
) -> None:
    states = [
        PlayState(
            f"p{p}",
            f"m{m}",
            m * 1_000,
            T + m,
            "tv",
            EventType.HEARTBEAT,
            None,
            hidden_before=T if m == 0 else 0,
        )
        for p in range(5)
        for m in range(20)
    ]
    assert cassandra_store.write(states) == 100
    for p in range(5):
        written = cassandra_store.changed_since(f"p{p}", -1)
        assert sorted(s.position_ms for s in written) == [m * 1_000 for m in range(20)]
        assert [s.hidden_before for s in written if s.movie_id == "m0"] == [T]
