"""The SQL store (SQLite, PostgreSQL): LiveVH rows with a conditional upsert."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections, transaction
from django.utils import timezone

from core.domain import EventType, PlayState
from history import codec
from history.models import CompressedVH, CompressedVHMeta, LiveVH
from history.store import HistoryStore, Key, live_or_compacted, raises_store_unavailable

STATE_COLUMNS = (
    "significant",
    "position_ms",
    "client_request_time",
    "device_id",
    "event_type",
    "duration_ms",
    "updated_at",
)
# Each only grows, apart from the state.
HIDINGS = ("hidden_before", "forgotten_before")
# What a row holds of its PlayState besides the keys: all but when it was written.
READ_COLUMNS = tuple(c for c in (*STATE_COLUMNS, *HIDINGS) if c != "updated_at")
# Titles read per statement (two parameters each; SQLite allows 32,766).
GET_MANY_CHUNK = 500
T = TypeVar("T")


def _in_chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """The items in runs of at most GET_MANY_CHUNK, one statement each."""
    for start in range(0, len(items), GET_MANY_CHUNK):
        yield items[start : start + GET_MANY_CHUNK]


def _newer_sql(vendor: str) -> str:
    """`core.domain.ordering_key` of the incoming row greater than the stored one's."""
    # Strings compare bytewise as in Python and Lua; PostgreSQL would otherwise use the
    # database's locale collation.
    collate = ' COLLATE "C"' if vendor == "postgresql" else ""
    terms = [
        ("excluded.significant", "t.significant"),
        ("excluded.client_request_time", "t.client_request_time"),
        ("excluded.position_ms", "t.position_ms"),
        (f"excluded.device_id{collate}", f"t.device_id{collate}"),
        (f"excluded.event_type{collate}", f"t.event_type{collate}"),
        ("COALESCE(excluded.duration_ms, -1)", "COALESCE(t.duration_ms, -1)"),
    ]
    condition = "FALSE"
    for new, old in reversed(terms):
        condition = f"({new} > {old} OR ({new} = {old} AND {condition}))"
    return condition


def _upsert_sql(table: str, vendor: str) -> str:
    newer = _newer_sql(vendor)
    columns = ("profile_id", "movie_id", *STATE_COLUMNS, *HIDINGS)
    assignments = [
        f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE t.{c} END" for c in STATE_COLUMNS
    ]
    assignments += [
        f"{c} = CASE WHEN excluded.{c} > t.{c} THEN excluded.{c} ELSE t.{c} END" for c in HIDINGS
    ]
    grown = " OR ".join(f"excluded.{c} > t.{c}" for c in HIDINGS)
    # The WHERE makes a stale write a no-op under the row lock the upsert takes, so two
    # workers racing on one title cannot let the older state win.
    return (
        f"INSERT INTO {table} AS t ({', '.join(columns)})"
        f" VALUES ({', '.join(['%s'] * len(columns))})"
        " ON CONFLICT (profile_id, movie_id) DO UPDATE SET "
        + ", ".join(assignments)
        + f" WHERE {newer} OR {grown}"
    )


def _get_sql(quote: Callable[[str], str], count: int) -> str:
    # ORed pairs: both databases answer each from the unique index on the two columns.
    return (
        f"SELECT profile_id, movie_id, {', '.join(READ_COLUMNS)}"
        f" FROM {quote(LiveVH._meta.db_table)} WHERE "
        + " OR ".join(["(profile_id = %s AND movie_id = %s)"] * count)
    )


def _compressed_sql(quote: Callable[[str], str], count: int) -> str:
    return (
        f"SELECT m.profile_id, c.data FROM {quote(CompressedVH._meta.db_table)} c"
        f" JOIN {quote(CompressedVHMeta._meta.db_table)} m ON m.profile_id = c.profile_id"
        " AND c.version = m.current_version AND c.chunk < m.chunk_count"
        f" WHERE m.profile_id IN ({', '.join(['%s'] * count)}) ORDER BY m.profile_id, c.chunk"
    )


def _state_of(profile_id: str, movie_id: str, values: Sequence[Any]) -> PlayState:
    """A row's state from its READ_COLUMNS, in that order."""
    column = dict(zip(READ_COLUMNS, values, strict=True))
    return PlayState(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=column["position_ms"],
        client_request_time=column["client_request_time"],
        device_id=column["device_id"],
        event_type=EventType(column["event_type"]),
        duration_ms=column["duration_ms"],
        hidden_before=column["hidden_before"],
        significant=bool(column["significant"]),  # (SQLite's cursor answers 0 or 1)
        forgotten_before=column["forgotten_before"],
    )


def _state(row: LiveVH) -> PlayState:
    return _state_of(row.profile_id, row.movie_id, [getattr(row, c) for c in READ_COLUMNS])


@raises_store_unavailable(OperationalError, InterfaceError)
class SqlStore(HistoryStore):
    def __init__(self, using: str = "default") -> None:
        self.using = using

    def write(self, states: Sequence[PlayState]) -> int:
        if not states:
            return 0
        now = timezone.now()
        rows = [
            (
                s.profile_id,
                s.movie_id,
                s.significant,
                s.position_ms,
                s.client_request_time,
                s.device_id,
                s.event_type,
                s.duration_ms,
                now,
                s.hidden_before,
                s.forgotten_before,
            )
            # In one order (the rows' keys): two workers writing overlapping titles take
            # their row locks in the same order, where any order could deadlock on PostgreSQL.
            for s in sorted(states, key=lambda s: (s.profile_id, s.movie_id))
        ]
        connection = connections[self.using]
        sql = _upsert_sql(LiveVH._meta.db_table, connection.vendor)
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        return len(rows)

    def get_many(self, keys: Sequence[Key]) -> list[PlayState | None]:
        # Every session start and resume miss reads this, so it is written as SQL: the ORM
        # spent ≈ 400 µs of CPU building each query here; a never-watched title's two
        # statements (this and the rollup's) now cost ≈ 50 µs together.
        connection = connections[self.using]
        rows: dict[Key, PlayState] = {}
        wanted = list(dict.fromkeys(keys))
        with connection.cursor() as cursor:
            for chunk in _in_chunks(wanted):
                sql = _get_sql(connection.ops.quote_name, len(chunk))
                cursor.execute(sql, [value for key in chunk for value in key])
                for profile_id, movie_id, *values in cursor.fetchall():
                    rows[profile_id, movie_id] = _state_of(profile_id, movie_id, values)
        return live_or_compacted(self, keys, [rows.get(key) for key in keys])

    def changed_since(self, profile_id: str, since_ms: int) -> list[PlayState]:
        rows = LiveVH.objects.using(self.using).filter(
            profile_id=profile_id, client_request_time__gt=since_ms
        )
        return [_state(row) for row in rows]

    def profiles_with_live_older_than(self, cutoff_ms: int) -> list[str]:
        rows = LiveVH.objects.using(self.using).filter(client_request_time__lt=cutoff_ms)
        return list(rows.values_list("profile_id", flat=True).distinct().order_by("profile_id"))

    def live_older_than(self, profile_id: str, cutoff_ms: int) -> list[PlayState]:
        rows = LiveVH.objects.using(self.using).filter(
            profile_id=profile_id, client_request_time__lt=cutoff_ms
        )
        return [_state(row) for row in rows]

    def delete_live(self, states: Sequence[PlayState]) -> None:
        # A newer heartbeat (or a removal) that landed meanwhile changed the row: it stays.
        with transaction.atomic(using=self.using):
            for s in states:
                LiveVH.objects.using(self.using).filter(
                    profile_id=s.profile_id,
                    movie_id=s.movie_id,
                    client_request_time=s.client_request_time,
                    position_ms=s.position_ms,
                    device_id=s.device_id,
                    hidden_before=s.hidden_before,
                    forgotten_before=s.forgotten_before,
                ).delete()

    def compressed_many(self, profile_ids: Sequence[str]) -> dict[str, bytes]:
        # One statement, so one snapshot: the chunks of the version the metadata names at
        # that moment (a rollup commits a version whole). Not a transaction: on SQLite each
        # takes the write lock up front (IMMEDIATE), and a session start that reads this
        # would queue behind the workers' writes and the other starts.
        connection = connections[self.using]
        pieces: dict[str, list[bytes]] = {}
        with connection.cursor() as cursor:
            for chunk in _in_chunks(profile_ids):
                cursor.execute(_compressed_sql(connection.ops.quote_name, len(chunk)), chunk)
                for profile_id, piece in cursor.fetchall():
                    pieces.setdefault(profile_id, []).append(bytes(piece))
        return {profile_id: b"".join(chunks) for profile_id, chunks in pieces.items()}

    def write_compressed(self, profile_id: str, blob: bytes, *, chunk_size: int) -> None:
        # One transaction: other connections see the old version or the new one, whole.
        chunks = CompressedVH.objects.using(self.using)
        with transaction.atomic(using=self.using):
            meta = (
                CompressedVHMeta.objects.using(self.using)
                .select_for_update()
                .filter(profile_id=profile_id)
                .first()
            )
            version = meta.current_version + 1 if meta else 1
            chunks.filter(profile_id=profile_id).exclude(
                version=version - 1
            ).delete()  # keep only the version readers may still be on
            pieces = codec.chunks(blob, chunk_size)
            chunks.bulk_create(
                CompressedVH(profile_id=profile_id, version=version, chunk=i, data=piece)
                for i, piece in enumerate(pieces)
            )
            CompressedVHMeta.objects.using(self.using).update_or_create(
                profile_id=profile_id,
                defaults={"current_version": version, "chunk_count": len(pieces)},
            )

    def ping(self) -> None:
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT 1")
