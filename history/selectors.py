"""Reads across a profile's stored history: LiveVH rows and the CompressedVH records merged."""

from __future__ import annotations

from collections.abc import Iterable

from core.domain import PlayState, latest_per_title
from history.store import HistoryStore, compacted_records


def stored_records(
    store: HistoryStore, profile_id: str, extra: Iterable[PlayState] = ()
) -> dict[str, PlayState]:
    """movie_id → the winning state among the profile's CompressedVH records and `extra`
    (its LiveVH rows, cached states). Raises StoreUnavailable."""
    return latest_per_title([*compacted_records(store, profile_id), *extra])
