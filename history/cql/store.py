"""The Cassandra store: `live_vh`, one partition per profile, last write wins by Cassandra.

Every write carries the heartbeat's client_request_time as its write timestamp
(`USING TIMESTAMP`, microseconds), so a stale write that arrives late, from any worker,
region or replica, loses inside the database; no read-before-write, no lightweight
transaction. Writes use prepared statements rather than cqlengine saves: cqlengine turns a
None into a DELETE at server time, and cannot put a timestamp on each statement of a batch.

A state that holds the place (`PlayState.significant`) beats any other whatever its time, so
the two kinds are two registers: `state` for significant states, `low_state` for the rest;
each keeps its newest by timestamp, a read takes `state` when it has one (else `low_state`),
and each register's client time is its cell's `writetime`. Writes are UPDATEs (no row
marker), so a row whose cells are all deleted is gone.

On equal timestamps Cassandra keeps, cell by cell, the value whose bytes compare greater
(unsigned, byte by byte, since Cassandra 4.0). Position, device, event type and duration
are therefore one cell, encoded so that this comparison orders it exactly as
`core.domain.ordering_key` does. `position_ms` and `client_request_time` repeat the newest
write's place for operators (`SELECT writetime(position_ms) ...`), from either register: the
hot layer sends a state that does not hold the place only while none does, so it is the
winner too. On an exact-millisecond tie between two different states they may hold the other
one's values; the registers are what reads use.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from cassandra import ConsistencyLevel, DriverException, RequestExecutionException
from cassandra.cluster import NoHostAvailable, ResponseFuture, Session
from cassandra.concurrent import execute_concurrent
from cassandra.cqlengine import CQLEngineException
from cassandra.cqlengine import connection as cqlengine_connection
from cassandra.query import BatchStatement, BatchType, PreparedStatement
from django.conf import settings
from django.db import connections

from core.domain import EventType, PlayState, holds_place, ordering_key
from history import codec
from history.store import (
    HistoryStore,
    Key,
    compacted_records,
    live_or_compacted,
    raises_store_unavailable,
)

# Format 1 (before the two registers) sat in `state` whether or not it held the place.
# Formats 1 and 2 were stored XOR 0x80, for the signed comparison of Cassandra 3.x; on 4.0
# and later that inverts ties wherever a byte crosses 0x80 (a two-data-centre test found
# one), so format 3 is the plain bytes. At an exact-millisecond tie a format-2 cell (first
# byte 0x82) beats a format-3 one whatever the rule says: only while both are written.
FORMAT = 3
XORED_FORMATS = (2, 1)
LEGACY_FORMAT = 1
_U64 = struct.Struct(">Q")


def encode_state(state: PlayState) -> bytes:
    """(position, device, event, duration) as bytes whose unsigned bytewise order is the
    ordering key's order for states of equal client time: fixed-width big-endian numbers,
    then NUL-terminated UTF-8 strings (NUL cannot occur in them; UTF-8 orders as code
    points do)."""
    return b"".join(
        (
            bytes([FORMAT]),
            _U64.pack(state.position_ms),
            state.device_id.encode(),
            b"\0",
            state.event_type.encode(),
            b"\0",
            _U64.pack(0 if state.duration_ms is None else state.duration_ms + 1),
        )
    )


def decode_state(
    blob: bytes,
    *,
    profile_id: str,
    movie_id: str,
    client_request_time: int,
    significant: bool,
    hidden_before: int = 0,
    forgotten_before: int = 0,
) -> PlayState:
    plain = blob if blob[0] == FORMAT else bytes(b ^ 0x80 for b in blob)
    if plain[0] not in (FORMAT, *XORED_FORMATS):
        raise ValueError(f"unknown live_vh state format {blob[0]}")
    (position,) = _U64.unpack_from(plain, 1)
    device, event, rest = plain[9:].split(b"\0", 2)
    (duration,) = _U64.unpack(rest)
    event_type = EventType(event.decode())
    if plain[0] == LEGACY_FORMAT:
        significant = holds_place(
            position, event_type, ignore_start_ms=settings.PLAYSTATE_IGNORE_START_MS
        )
    return PlayState(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=position,
        client_request_time=client_request_time,
        device_id=device.decode(),
        event_type=event_type,
        duration_ms=duration - 1 if duration else None,
        hidden_before=hidden_before,
        significant=significant,
        forgotten_before=forgotten_before,
    )


HIDINGS = ("hidden_before", "forgotten_before")
ROLLUP_CONCURRENCY = 64
# A hiding's cell is written just after the state it hides (its value, the state's client
# time, plus this), so the rollup's tombstone for that state, at the state's own timestamp,
# leaves the hiding in place: the row then holds the hidings of a compacted title.
HIDING_OFFSET_US = 999


def _hidden_as_in(state: PlayState, row: dict[str, Any]) -> PlayState:
    hidings = {h: max(getattr(state, h), row[h] or 0) for h in HIDINGS}
    return replace(state, **hidings)


ROW = (
    "movie_id, state, writetime(state) AS state_time, low_state,"
    " writetime(low_state) AS low_state_time, hidden_before, forgotten_before"
)


@raises_store_unavailable(
    NoHostAvailable, DriverException, RequestExecutionException, CQLEngineException
)
class CassandraStore(HistoryStore):
    def __init__(
        self,
        alias: str = "cassandra",
        *,
        batch_partitions: bool = True,
        session: Session | None = None,
        keyspace: str | None = None,
        write_consistency: str | None = None,
        read_consistency: str | None = None,
    ) -> None:
        self.alias = alias
        # False sends every statement on its own (make bench compares the two).
        self.batch_partitions = batch_partitions
        # A session of one's own (rows as dicts), instead of the alias's: the cluster tests
        # give each data centre's side its own, at its own consistency levels.
        self._session = session
        self._keyspace = keyspace
        self._consistency = (write_consistency, read_consistency)

    @property
    def session(self) -> Session:
        if self._session is not None:
            return self._session
        # The cqlengine connection of the alias, shared by every thread; Django's database
        # wrapper registers it on first use.
        try:
            return cqlengine_connection.get_session(connection=self.alias)
        except CQLEngineException:
            connections[self.alias].connect()
            return cqlengine_connection.get_session(connection=self.alias)

    @property
    def keyspace(self) -> str:
        return self._keyspace or str(connections[self.alias].settings_dict["NAME"])

    @cached_property
    def _statements(self) -> dict[str, PreparedStatement]:
        session, table = self.session, f'"{self.keyspace}".live_vh'
        compressed = f'"{self.keyspace}".compressed_vh'
        write_level, read_level = self._consistency
        write = ConsistencyLevel.name_to_value[write_level or settings.CASSANDRA_WRITE_CONSISTENCY]
        read = ConsistencyLevel.name_to_value[read_level or settings.CASSANDRA_READ_CONSISTENCY]
        statements = {
            "place": (
                f"UPDATE {table} USING TIMESTAMP ? SET position_ms = ?, client_request_time = ?,"
                " state = ? WHERE profile_id = ? AND movie_id = ?",
                write,
            ),
            "low": (
                f"UPDATE {table} USING TIMESTAMP ? SET position_ms = ?, client_request_time = ?,"
                " low_state = ? WHERE profile_id = ? AND movie_id = ?",
                write,
            ),
            # The hidings only grow: each one's own value, in microseconds, is its timestamp.
            "hidden_before": (
                f"UPDATE {table} USING TIMESTAMP ? SET hidden_before = ?"
                " WHERE profile_id = ? AND movie_id = ?",
                write,
            ),
            "forgotten_before": (
                f"UPDATE {table} USING TIMESTAMP ? SET forgotten_before = ?"
                " WHERE profile_id = ? AND movie_id = ?",
                write,
            ),
            "get": (f"SELECT {ROW} FROM {table} WHERE profile_id = ? AND movie_id = ?", read),
            "profile": (f"SELECT {ROW} FROM {table} WHERE profile_id = ?", read),
            # Tombstones at the state's own timestamp: they shadow that state and anything
            # older, never a newer heartbeat that landed during the rollup.
            "delete_place": (
                f"DELETE FROM {table} USING TIMESTAMP ? WHERE profile_id = ? AND movie_id = ?",
                write,
            ),
            # A significant state may have landed meanwhile with an older time (it wins over
            # this one): only this register and the hidings (merged into the rollup) go.
            "delete_low": (
                f"DELETE low_state, position_ms, client_request_time, hidden_before,"
                f" forgotten_before FROM {table}"
                " USING TIMESTAMP ? WHERE profile_id = ? AND movie_id = ?",
                write,
            ),
            "all_times": (
                f"SELECT profile_id, writetime(state) AS placed, writetime(low_state) AS low"
                f" FROM {table}",
                read,
            ),
            "meta": (
                f"SELECT current_version, chunk_count FROM {compressed}"
                " WHERE profile_id = ? LIMIT 1",
                read,
            ),
            "chunks": (
                f"SELECT chunk, data FROM {compressed} WHERE profile_id = ? AND version = ?",
                read,
            ),
            "put_chunk": (
                f"INSERT INTO {compressed} (profile_id, version, chunk, data) VALUES (?, ?, ?, ?)",
                write,
            ),
            "flip": (
                f"UPDATE {compressed} SET current_version = ?, chunk_count = ?"
                " WHERE profile_id = ?",
                write,
            ),
            "drop_version": (
                f"DELETE FROM {compressed} WHERE profile_id = ? AND version = ?",
                write,
            ),
        }
        prepared = {}
        for name, (cql, consistency) in statements.items():
            statement = session.prepare(cql)
            statement.consistency_level = consistency
            prepared[name] = statement
        return prepared

    def _bound(self, state: PlayState) -> Iterable[tuple[PreparedStatement, tuple[Any, ...]]]:
        key = (state.profile_id, state.movie_id)
        timestamp = state.client_request_time * 1000
        register = "place" if state.significant else "low"
        yield (
            self._statements[register],
            (timestamp, state.position_ms, state.client_request_time, encode_state(state), *key),
        )
        for hiding in HIDINGS:
            if value := getattr(state, hiding):
                yield self._statements[hiding], (value * 1000 + HIDING_OFFSET_US, value, *key)

    def write(self, states: Sequence[PlayState]) -> int:
        """One unlogged batch per profile (a single mutation of its partition), all sent
        at once; returns when every partition has answered."""
        by_profile: dict[str, list[tuple[PreparedStatement, tuple[Any, ...]]]] = defaultdict(list)
        for state in states:
            by_profile[state.profile_id].extend(self._bound(state))
        session = self.session
        futures: list[ResponseFuture] = []
        for bound in by_profile.values():
            if len(bound) == 1 or not self.batch_partitions:
                futures.extend(session.execute_async(*b) for b in bound)
                continue
            batch = BatchStatement(
                batch_type=BatchType.UNLOGGED,
                consistency_level=bound[0][0].consistency_level,
            )
            for statement, values in bound:
                batch.add(statement, values)
            futures.append(session.execute_async(batch))
        for future in futures:
            future.result()
        return len(states)

    def _state(self, profile_id: str, row: dict[str, Any]) -> PlayState | None:
        """The row's winner: the greater of its two registers; None when it has neither."""
        # Rows are dicts: cqlengine sets the session's row factory.
        found = [
            decode_state(
                row[cell],
                profile_id=profile_id,
                movie_id=row["movie_id"],
                client_request_time=row[f"{cell}_time"] // 1000,
                significant=cell == "state",
                hidden_before=row["hidden_before"] or 0,
                forgotten_before=row["forgotten_before"] or 0,
            )
            for cell in ("state", "low_state")
            if row[cell] is not None
        ]
        return max(found, key=ordering_key) if found else None

    def get_many(self, keys: Sequence[Key]) -> list[PlayState | None]:
        # One partition each: read side by side, as the rollup deletes.
        replies = execute_concurrent(
            self.session,
            ((self._statements["get"], key) for key in keys),
            concurrency=ROLLUP_CONCURRENCY,
            raise_on_first_error=True,
        )
        rows = [reply.one() for _, reply in replies]
        live = [
            None if row is None else self._state(profile_id, row)
            for (profile_id, _), row in zip(keys, rows, strict=True)
        ]
        return [
            found if row is None or found is None else _hidden_as_in(found, row)
            for found, row in zip(live_or_compacted(self, keys, live), rows, strict=True)
        ]

    def _profile(self, profile_id: str) -> list[PlayState]:
        # A profile's partition holds its recent titles (older ones are rolled up), so it is
        # read whole and filtered here: Cassandra cannot filter on these columns.
        rows = self.session.execute(self._statements["profile"], (profile_id,))
        states, hidings_only = [], []
        for row in rows:
            if (state := self._state(profile_id, row)) is not None:
                states.append(state)
            elif any(row[h] for h in HIDINGS):
                hidings_only.append(row)
        if hidings_only:
            # A compacted title hidden (see HIDING_OFFSET_US): its record, hidden.
            compacted = {r.movie_id: r for r in compacted_records(self, profile_id)}
            for row in hidings_only:
                if (record := compacted.get(row["movie_id"])) is not None:
                    states.append(_hidden_as_in(record, row))
        return states

    def changed_since(self, profile_id: str, since_ms: int) -> list[PlayState]:
        return [s for s in self._profile(profile_id) if s.client_request_time > since_ms]

    def profiles_with_live_older_than(self, cutoff_ms: int) -> list[str]:
        # A full scan, paged by the driver: the rollup is a daily batch job.
        rows = self.session.execute(self._statements["all_times"])
        cutoff = cutoff_ms * 1000
        return sorted(
            {
                r["profile_id"]
                for r in rows
                if any(0 < (r[c] or 0) < cutoff for c in ("placed", "low"))
            }
        )

    def live_older_than(self, profile_id: str, cutoff_ms: int) -> list[PlayState]:
        return [s for s in self._profile(profile_id) if s.client_request_time < cutoff_ms]

    def delete_live(self, states: Sequence[PlayState]) -> None:
        # A bounded number in flight (the driver's own helper): a profile's rollup may delete
        # thousands of rows, and thousands of requests at once time out on a busy node.
        execute_concurrent(
            self.session,
            (
                (
                    self._statements["delete_place" if s.significant else "delete_low"],
                    (s.client_request_time * 1000, s.profile_id, s.movie_id),
                )
                for s in states
            ),
            concurrency=ROLLUP_CONCURRENCY,
            raise_on_first_error=True,
        )

    def compressed_many(self, profile_ids: Sequence[str]) -> dict[str, bytes]:
        return {p: blob for p in profile_ids if (blob := self._compressed(p)) is not None}

    def _compressed(self, profile_id: str) -> bytes | None:
        meta = self.session.execute(self._statements["meta"], (profile_id,)).one()
        if meta is None or meta["current_version"] is None:
            return None
        rows = self.session.execute(
            self._statements["chunks"], (profile_id, meta["current_version"])
        )
        pieces = {r["chunk"]: r["data"] for r in rows if r["chunk"] < meta["chunk_count"]}
        return b"".join(pieces[i] or b"" for i in range(meta["chunk_count"]))

    def write_compressed(self, profile_id: str, blob: bytes, *, chunk_size: int) -> None:
        """Chunks of the new version first, then the static columns that name it (one
        write), then the version before the previous one goes: a reader that read the old
        name a moment ago still finds its chunks."""
        session, s = self.session, self._statements
        meta = session.execute(s["meta"], (profile_id,)).one()
        current = meta["current_version"] if meta and meta["current_version"] else 0
        version = current + 1
        pieces = codec.chunks(blob, chunk_size)
        futures = [
            session.execute_async(s["put_chunk"], (profile_id, version, i, piece))
            for i, piece in enumerate(pieces)
        ]
        for future in futures:
            future.result()
        session.execute(s["flip"], (version, len(pieces), profile_id))
        if current > 1:
            session.execute(s["drop_version"], (profile_id, current - 1))

    def ping(self) -> None:
        # The table itself, not the node alone: on a first start the node answers some
        # seconds before `sync_cassandra` has made the keyspace (ready, then 503s).
        self.session.execute(f'SELECT profile_id FROM "{self.keyspace}".live_vh LIMIT 1')
