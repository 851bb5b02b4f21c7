"""The persistent viewing-history store: one interface, one implementation per database.

Every implementation keeps, per (profile, movie), the state that wins by
`playstate.domain.is_newer`, whatever order writes arrive in and however many workers
write at once; `hidden_before` only ever grows. `tests/test_store_contract.py` holds
each implementation to that.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from playstate.domain import PlayState


class HistoryStore(Protocol):
    # What this store raises when its database is unreachable; readers fall back on it.
    errors: tuple[type[Exception], ...]

    def write(self, states: Sequence[PlayState]) -> int:
        """Upsert each state unless the stored one is newer; return how many were sent."""
        ...

    def get(self, profile_id: str, movie_id: str) -> PlayState | None: ...

    def continue_watching(self, profile_id: str, *, limit: int) -> list[PlayState]:
        """In-progress, not hidden titles of the profile, most recent first."""
        ...

    def changed_since(self, profile_id: str, since_ms: int) -> list[PlayState]:
        """Every title of the profile whose state is newer than `since_ms` (client time)."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...


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
