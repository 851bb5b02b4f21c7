"""The persistent viewing-history store: one interface, one implementation per database.

Every implementation keeps, per (profile, movie), the state that wins by
`core.domain.is_newer`, whatever order writes arrive in and however many workers write at
once; `hidden_before` only ever grows. Every one raises `StoreUnavailable`, and only that,
when its database cannot answer. `tests/test_store_contract.py` holds each implementation
to all of this.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.domain import PlayState, merge

# A title of a profile: (profile_id, movie_id).
Key = tuple[str, str]


class StoreUnavailable(Exception):
    """The store's database cannot answer now: readers fall back, writers retry later."""


class HistoryStore(Protocol):
    def write(self, states: Sequence[PlayState]) -> int:
        """Upsert each state unless the stored one is newer; return how many were sent."""
        ...

    def get_many(self, keys: Sequence[Key]) -> list[PlayState | None]:
        """Each title's state, in the order asked: its LiveVH row, else its record in
        CompressedVH (see `live_or_compacted`); None for a title never stored."""
        ...

    def get(self, profile_id: str, movie_id: str) -> PlayState | None:
        """One title's state, as `get_many` gives it."""
        return self.get_many([(profile_id, movie_id)])[0]

    def changed_since(self, profile_id: str, since_ms: int) -> list[PlayState]:
        """Every LiveVH title of the profile whose state is newer than `since_ms` (client time)."""
        ...

    # The rollup (history/compaction.py) -------------------------------------------------

    def profiles_with_live_older_than(self, cutoff_ms: int) -> list[str]: ...

    def live_older_than(self, profile_id: str, cutoff_ms: int) -> list[PlayState]: ...

    def delete_live(self, states: Sequence[PlayState]) -> None:
        """Remove these LiveVH rows, each only while it still holds exactly that state."""
        ...

    def compressed_many(self, profile_ids: Sequence[str]) -> dict[str, bytes]:
        """profile_id → its current CompressedVH blob, whole, for those of them that have one."""
        ...

    def compressed(self, profile_id: str) -> bytes | None:
        """The profile's current CompressedVH blob, whole, or None."""
        return self.compressed_many([profile_id]).get(profile_id)

    def write_compressed(self, profile_id: str, blob: bytes, *, chunk_size: int) -> None:
        """Store a new version in chunks; readers switch to it all at once."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...


OPERATIONS = tuple(name for name in vars(HistoryStore) if not name.startswith("_"))
S = TypeVar("S")


def raises_store_unavailable(*errors: type[Exception]) -> Callable[[type[S]], type[S]]:
    """Class decorator: the store's operations raise StoreUnavailable for these driver errors."""

    def wrap(operation: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(operation)
        def translated(*args: Any, **kwargs: Any) -> Any:
            try:
                return operation(*args, **kwargs)
            except errors as error:
                raise StoreUnavailable(f"{type(error).__name__}: {error}") from error

        return translated

    def decorate(store: type[S]) -> type[S]:
        for name in OPERATIONS:
            setattr(store, name, wrap(getattr(store, name)))
        return store

    return decorate


def _decoded(blob: bytes | None, profile_id: str) -> Iterator[PlayState]:
    from history import codec

    if blob is None:
        return iter(())
    return codec.decode(
        blob, profile_id=profile_id, ignore_start_ms=settings.PLAYSTATE_IGNORE_START_MS
    )


def compacted_records(store: HistoryStore, profile_id: str) -> Iterator[PlayState]:
    """The profile's CompressedVH records, decoded one at a time. Raises StoreUnavailable."""
    return _decoded(store.compressed(profile_id), profile_id)


def _first_records(blob: bytes | None, profile_id: str, movies: set[str]) -> dict[str, PlayState]:
    """The first record of each of these titles in the blob, decoding no further than needed."""
    found: dict[str, PlayState] = {}
    for record in _decoded(blob, profile_id):
        if record.movie_id in movies and record.movie_id not in found:
            found[record.movie_id] = record
            if len(found) == len(movies):
                break
    return found


def live_or_compacted(
    store: HistoryStore, keys: Sequence[Key], live: Sequence[PlayState | None]
) -> list[PlayState | None]:
    """Titles' states from their LiveVH rows (None where a title has none): a row that holds
    a place worth keeping stands (the rollup only ever moves older states); any other is
    merged with the title's CompressedVH record, which may hold one (the row then is a failed
    start after the rollup). The blobs are read in one call, each decoded once."""

    def settled(row: PlayState | None) -> bool:
        return row is not None and row.significant

    wanted: dict[str, set[str]] = {}
    for (profile_id, movie_id), row in zip(keys, live, strict=True):
        if not settled(row):
            wanted.setdefault(profile_id, set()).add(movie_id)
    blobs = store.compressed_many(list(wanted)) if wanted else {}
    records = {p: _first_records(blobs.get(p), p, movies) for p, movies in wanted.items()}
    found: list[PlayState | None] = []
    for (profile_id, movie_id), row in zip(keys, live, strict=True):
        if settled(row):
            found.append(row)
            continue
        compacted = records[profile_id].get(movie_id)
        found.append(compacted if row is None else merge(compacted, row))
    return found


@cache
def get_store() -> HistoryStore:
    kind = settings.PLAYSTATE_STORE
    if kind == "sql":
        from history.sql import SqlStore

        return SqlStore()
    if kind == "cassandra":
        from history.cql.store import CassandraStore

        return CassandraStore()
    raise ImproperlyConfigured(f"PLAYSTATE_STORE={kind!r}: use 'sql' or 'cassandra'.")
