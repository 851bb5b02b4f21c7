"""Reads across a profile's stored history: LiveVH rows and the CompressedVH records merged."""

from __future__ import annotations

from collections.abc import Iterable

from core.domain import PlayState, latest_per_title
from history import codec
from history.store import HistoryStore


def stored_records(
    store: HistoryStore, profile_id: str, extra: Iterable[PlayState] = ()
) -> dict[str, PlayState]:
    """movie_id → the winning state among the profile's CompressedVH records and `extra`
    (its LiveVH rows, cached states). Raises StoreUnavailable."""
    blob = store.compressed(profile_id)
    compacted = codec.decode(blob, profile_id=profile_id) if blob else []
    return latest_per_title([*compacted, *extra])
