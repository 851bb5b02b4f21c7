"""The contract every HistoryStore keeps, run against each store: SQL (SQLite here) and
Cassandra (a real node)."""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import replace

import pytest
from django.db import connections

from core.domain import EventType, PlayState
from history.store import HistoryStore

T = 1_700_000_000_000


def state(
    movie: str = "m1", pos: int = 1_000, crt: int = T, dev: str = "tv", **kw: object
) -> PlayState:
    values: dict[str, object] = {
        "event_type": EventType.HEARTBEAT,
        "duration_ms": 100_000,
        "hidden_before": 0,
    }
    values.update(kw)
    return PlayState("p1", movie, pos, crt, dev, **values)  # type: ignore[arg-type]


def test_it_reads_back_what_it_wrote(store: HistoryStore) -> None:
    written = state(pos=5_000, event_type=EventType.PAUSE)
    assert store.write([written]) == 1
    assert store.get("p1", "m1") == written
    assert store.get("p1", "nothing") is None
    assert store.get("someone-else", "m1") is None


def test_an_older_write_never_replaces_a_newer_one(store: HistoryStore) -> None:
    store.write([state(pos=9_000, crt=T + 10)])
    store.write([state(pos=1_000, crt=T)])
    stored = store.get("p1", "m1")
    assert stored is not None
    assert (stored.position_ms, stored.client_request_time) == (9_000, T + 10)


def test_ties_break_on_position_then_device(store: HistoryStore) -> None:
    store.write([state(pos=5, dev="tv")])
    store.write([state(pos=4, dev="zz")])
    store.write([state(pos=5, dev="Tv")])  # "Tv" < "tv" bytewise
    stored = store.get("p1", "m1")
    assert stored is not None
    assert (stored.position_ms, stored.device_id) == (5, "tv")
    store.write([state(pos=5, dev="tw")])
    assert store.get("p1", "m1").device_id == "tw"  # type: ignore[union-attr]
    store.write([state(pos=5, dev="tw", event_type=EventType.PAUSE)])
    store.write([state(pos=5, dev="tw", event_type=EventType.HEARTBEAT)])
    assert store.get("p1", "m1").event_type == "PAUSE"  # type: ignore[union-attr]


@pytest.mark.parametrize("seed", range(5))
def test_any_order_of_writes_ends_in_the_newest(store: HistoryStore, seed: int) -> None:
    writes = [
        state(pos=p, crt=T + c, dev=d, significant=sig)
        for p, c, d, sig in itertools.product([1, 2], [0, 1, 2], ["a", "b"], [False, True])
    ]
    random.Random(seed).shuffle(writes)
    for chunk in (writes[:4], writes[4:9], writes[9:]):
        store.write(chunk)
    assert store.get("p1", "m1") == max(writes, key=lambda s: s.ordering_key)


def test_two_workers_racing_on_one_title_keep_the_newest(store: HistoryStore) -> None:
    writes = [state(pos=i, crt=T + i) for i in range(60)]
    halves = [writes[0::2][::-1], writes[1::2][::-1]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(mine: list[PlayState]) -> None:
        try:
            barrier.wait()
            for s in mine:
                store.write([s])
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get("p1", "m1") == writes[-1]


def test_hidden_before_only_grows_and_survives_newer_states(store: HistoryStore) -> None:
    store.write([state(pos=10, crt=T + 5)])
    store.write([state(pos=10, crt=T + 5, hidden_before=T + 5)])
    assert store.get("p1", "m1").hidden_before == T + 5  # type: ignore[union-attr]
    store.write([state(pos=1, crt=T, hidden_before=T)])
    assert store.get("p1", "m1").hidden_before == T + 5  # type: ignore[union-attr]
    store.write([state(pos=20, crt=T + 6)])
    stored = store.get("p1", "m1")
    assert stored is not None
    assert (stored.position_ms, stored.hidden_before) == (20, T + 5)


def test_a_failed_start_never_replaces_a_place_worth_keeping(store: HistoryStore) -> None:
    place = state(pos=1_200_000, crt=T, dev="phone", significant=True)
    failed = [state(pos=0, crt=T + 60_000), state(pos=3_000, crt=T + 63_000)]
    store.write([failed[1]])
    store.write([place])
    store.write([failed[0]])
    assert store.get("p1", "m1") == place
    deliberate = state(pos=300_000, crt=T + 360_000, significant=True)
    store.write([deliberate])
    assert store.get("p1", "m1") == deliberate


def test_forgotten_before_only_grows_and_survives_newer_states(store: HistoryStore) -> None:
    store.write([state(pos=10, crt=T + 5, forgotten_before=T + 5)])
    store.write([state(pos=1, crt=T, forgotten_before=T)])
    assert store.get("p1", "m1").forgotten_before == T + 5  # type: ignore[union-attr]
    store.write([state(pos=20, crt=T + 6)])
    stored = store.get("p1", "m1")
    assert stored is not None
    assert (stored.position_ms, stored.forgotten_before) == (20, T + 5)
    assert store.changed_since("p1", T) == [stored]


def test_a_failed_start_after_the_rollup_loses_to_the_compacted_place(
    store: HistoryStore,
) -> None:
    from history import codec

    place = state(pos=1_200_000, crt=T - 10**9, significant=True)
    store.write_compressed("p1", codec.encode([place]), chunk_size=1024)
    store.write([state(pos=3_000, crt=T)])
    assert store.get("p1", "m1") == place


def test_delete_live_of_a_lesser_state_spares_a_place_that_landed_meanwhile(
    store: HistoryStore,
) -> None:
    low = state(pos=3_000, crt=T)
    store.write([low])
    place = state(pos=1_200_000, crt=T - 5, significant=True)  # older, yet it wins
    store.write([place])
    store.delete_live([low])
    assert store.get("p1", "m1") == place


def test_a_hiding_written_after_the_rollup_of_its_title_holds(store: HistoryStore) -> None:
    from history import codec
    from history.selectors import stored_records

    rolled = state(pos=1_200_000, crt=T - 10**9, significant=True)
    store.write([rolled])
    store.write_compressed("p1", codec.encode([rolled]), chunk_size=1024)
    store.delete_live([rolled])
    # The hot layer still had the title: the hiding is flushed with the same state.
    store.write([replace(rolled, forgotten_before=rolled.client_request_time)])
    hidden = replace(rolled, forgotten_before=rolled.client_request_time)
    assert store.get("p1", "m1") == hidden
    live = store.changed_since("p1", -1)
    assert stored_records(store, "p1", live) == {"m1": hidden}


def test_it_lists_what_changed_since_a_time(store: HistoryStore) -> None:
    store.write([state("a", crt=T), state("b", crt=T + 5), state("c", crt=T + 9, pos=99_000)])
    assert sorted(s.movie_id for s in store.changed_since("p1", T)) == ["b", "c"]
    assert store.changed_since("p1", T + 9) == []
    assert len(store.changed_since("p1", 0)) == 3


@pytest.mark.parametrize("size", [1, 7, 700])
def test_compressed_blobs_come_back_whole_and_a_new_version_replaces_the_old(
    store: HistoryStore, size: int
) -> None:
    assert store.compressed("p1") is None
    first = bytes(range(256)) * 3
    store.write_compressed("p1", first, chunk_size=size)
    assert store.compressed("p1") == first
    for second in (b"shorter", b"x" * 1401, b""):
        store.write_compressed("p1", second, chunk_size=size)
        assert store.compressed("p1") == second
    assert store.compressed("p2") is None


def test_a_title_only_in_compressed_history_is_still_found(store: HistoryStore) -> None:
    from history import codec

    old = state("old", crt=T - 10**9, pos=42_000)
    store.write_compressed("p1", codec.encode([old]), chunk_size=1024)
    assert store.get("p1", "old") == old
    newer = state("old", crt=T, pos=43_000)
    store.write([newer])
    assert store.get("p1", "old") == newer


def test_many_titles_read_at_once_come_back_each_as_read_alone(store: HistoryStore) -> None:
    from history import codec

    place = state("rolled", pos=1_200_000, crt=T - 10**9, significant=True)
    only_compacted = state("old", crt=T - 10**9, pos=42_000)
    store.write_compressed("p1", codec.encode([place, only_compacted]), chunk_size=64)
    live = state("live", pos=9_000, significant=True)
    other_profile = replace(state("live", pos=7_000), profile_id="p2")
    store.write([live, state("rolled", pos=3_000, crt=T), other_profile])
    keys = [
        ("p1", "live"), ("p1", "rolled"), ("p1", "old"), ("p1", "never"), ("p2", "live"),
        ("p2", "old"), ("p1", "live"),
    ]  # fmt: skip
    expected = [live, place, only_compacted, None, other_profile, None, live]
    assert store.get_many(keys) == expected
    assert [store.get(*key) for key in keys] == expected
    assert store.get_many([]) == []


def test_many_profiles_blobs_read_at_once_come_back_whole(store: HistoryStore) -> None:
    blobs = {f"p{i}": bytes(range(i, 256)) * 3 for i in (1, 2, 4)}
    for profile_id, blob in blobs.items():
        store.write_compressed(profile_id, blob, chunk_size=100)
    assert store.compressed_many(["p4", "p3", "p1", "p2"]) == blobs
    assert store.compressed("p3") is None


def test_a_read_of_more_titles_than_one_statement_holds_finds_them_all(
    store: HistoryStore,
) -> None:
    states = [state(f"m{i}", pos=1_000 + i) for i in range(1_200)]
    store.write(states)
    keys = [("p1", f"m{i}") for i in range(1_300)]
    assert store.get_many(keys) == [*states, *[None] * 100]


def test_delete_live_spares_a_row_that_changed(store: HistoryStore) -> None:
    read = [state("a", crt=T), state("b", crt=T)]
    store.write(read)
    store.write([state("b", crt=T + 1, pos=5)])  # a heartbeat lands during the rollup
    store.delete_live(read)
    assert store.get("p1", "a") is None
    assert store.get("p1", "b") == state("b", crt=T + 1, pos=5)
    assert store.live_older_than("p1", T + 10) == [state("b", crt=T + 1, pos=5)]
    assert store.profiles_with_live_older_than(T + 1) == []
    assert store.profiles_with_live_older_than(T + 2) == ["p1"]


def test_it_answers_a_ping(store: HistoryStore) -> None:
    store.ping()
