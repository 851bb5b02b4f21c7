"""The rollup of LiveVH into CompressedVH, on each store."""

from __future__ import annotations

import sqlite3
from io import StringIO
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection

from core.domain import EventType, PlayState
from history.compaction import DAY_MS, compact_profile
from history.selectors import stored_records
from history.sql import SqlStore
from history.store import HistoryStore, compacted_records

NOW = 1_800_000_000_000
CUTOFF = NOW - 30 * DAY_MS


def state(movie: str, days_ago: float, pos: int = 1_000, **kw: Any) -> PlayState:
    crt = NOW - int(days_ago * DAY_MS)
    return PlayState("p1", movie, pos, crt, kw.pop("device", "tv"), EventType.STOP, 100_000, **kw)


def everything(store: HistoryStore) -> dict[str, PlayState]:
    """What a reader sees: LiveVH over CompressedVH, newest state per title."""
    return stored_records(store, "p1", store.changed_since("p1", -1))


def test_old_rows_move_and_recent_ones_stay(store: HistoryStore) -> None:
    old, recent = state("old", 40), state("recent", 3)
    store.write([old, recent])
    done = compact_profile(store, "p1", cutoff_ms=CUTOFF)
    assert (done.rows, done.profiles) == (1, 1)
    assert done.compressed_bytes == len(store.compressed("p1") or b"")
    assert store.changed_since("p1", -1) == [recent]
    assert list(compacted_records(store, "p1")) == [old]
    assert store.get("p1", "old") == old
    assert everything(store) == {"old": old, "recent": recent}


def test_a_second_rollup_changes_nothing_and_a_later_one_adds(store: HistoryStore) -> None:
    store.write([state("a", 40), state("b", 35)])
    compact_profile(store, "p1", cutoff_ms=CUTOFF)
    before = store.compressed("p1")
    assert compact_profile(store, "p1", cutoff_ms=CUTOFF).rows == 0
    assert store.compressed("p1") == before
    store.write([state("c", 31), state("a", 30.5, pos=9_000)])  # "a" watched again since
    compact_profile(store, "p1", cutoff_ms=CUTOFF)
    assert everything(store) == {
        "a": state("a", 30.5, pos=9_000),
        "b": state("b", 35),
        "c": state("c", 31),
    }


def test_a_heartbeat_during_the_rollup_is_neither_lost_nor_undone(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write([state("film", 40), state("other", 41)])
    newer = state("film", 0, pos=55_000, device="phone")
    write_compressed = store.write_compressed

    def with_a_heartbeat_meanwhile(*args: Any, **kwargs: Any) -> None:
        write_compressed(*args, **kwargs)
        store.write([newer])

    monkeypatch.setattr(store, "write_compressed", with_a_heartbeat_meanwhile)
    compact_profile(store, "p1", cutoff_ms=CUTOFF)
    assert store.get("p1", "film") == newer
    assert everything(store)["film"] == newer
    assert store.get("p1", "other") == state("other", 41)


def test_a_rollup_killed_midway_is_finished_by_the_next(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [state(f"t{i}", 40 + i) for i in range(5)]
    store.write(rows)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(store, "delete_live", killed)
        with pytest.raises(KeyboardInterrupt):
            compact_profile(store, "p1", cutoff_ms=CUTOFF)
    assert everything(store) == {s.movie_id: s for s in rows}  # nothing lost, nothing doubled
    compact_profile(store, "p1", cutoff_ms=CUTOFF)
    assert store.changed_since("p1", -1) == []
    assert sorted(compacted_records(store, "p1"), key=lambda s: s.movie_id) == rows


def test_big_histories_are_chunked_and_read_back(store: HistoryStore, settings: Any) -> None:
    settings.PLAYSTATE_COMPRESSED_CHUNK_BYTES = 4096
    titles = [state(f"title-{i:05d}", 31 + i / 1000, pos=i * 7) for i in range(10_000)]
    store.write(titles)
    done = compact_profile(store, "p1", cutoff_ms=CUTOFF)
    assert done.rows == 10_000
    assert done.compressed_bytes > 4096  # several chunks
    assert done.compressed_bytes < done.live_bytes / 5
    assert store.changed_since("p1", -1) == []
    assert len(list(compacted_records(store, "p1"))) == 10_000
    assert store.get("p1", "title-04321") == titles[4321]


@pytest.mark.django_db
def test_the_command_reports_what_it_did(redis_client: redis.Redis, settings: Any) -> None:
    from history.sql import SqlStore

    settings.PLAYSTATE_STORE = "sql"
    SqlStore().write(
        [state("old", 10**4), PlayState("p2", "x", 5, NOW - 400 * DAY_MS, "tv", EventType.STOP)]
    )
    out = StringIO()
    call_command("compact_history", "--older-than-days", "30", stdout=out)
    assert out.getvalue().startswith("rolled up 2 rows of 2 profiles older than 30 days: ")
    redis_client.set("v1:compaction:lock", "1")
    with pytest.raises(CommandError, match="another rollup"):
        call_command("compact_history", stdout=StringIO())


def test_a_rolled_up_title_is_read_while_a_worker_holds_the_write_lock(
    transactional_db: None,
) -> None:
    """SQLite: a session start reads the store (LiveVH, then the rollup) while the workers
    write; its read must not queue for the write lock, which a flush holds for its batch."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's readers never wait for its writers")
    store = SqlStore()
    old = state("old", 40)
    store.write([old])
    compact_profile(store, "p1", cutoff_ms=CUTOFF)
    with connection.cursor() as cursor:  # fail in a second, not after the 20-s busy timeout
        cursor.execute("PRAGMA busy_timeout = 1000")
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # as a worker's flush does
    try:
        assert store.get("p1", "old") == old
        assert store.get("p1", "never-watched") is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()
