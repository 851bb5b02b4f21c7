"""The rollup: LiveVH rows older than N days move into the profile's CompressedVH.

Safe while heartbeats keep arriving, and after a crash:

1. read the profile's old LiveVH rows and its current CompressedVH records;
2. merge them (`core.domain.merge`: the newer state of a title wins), encode, and store
   the blob as a new version, which readers switch to all at once;
3. delete the old LiveVH rows, each only while it still holds the state that was read, so a
   heartbeat that landed meanwhile stays in LiveVH (and wins on read: it is newer).

Killed after 2, a rerun merges the same rows again (merging is idempotent) and deletes them;
killed during 2, readers still use the previous version. One rollup runs at a time (a lock
in Redis), whether started by Celery beat or by `manage.py compact_history`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings

from core.domain import PlayState
from core.redis import client
from history import codec
from history.selectors import stored_records
from history.store import HistoryStore, get_store

logger = logging.getLogger(__name__)

LOCK = "v1:compaction:lock"
DAY_MS = 86_400_000


@dataclass
class Rollup:
    profiles: int = 0
    rows: int = 0
    live_bytes: int = 0  # the moved rows' field bytes, as LiveVH keeps them uncompressed
    compressed_bytes: int = 0  # the profiles' CompressedVH blobs after the rollup


def live_bytes(states: Iterable[PlayState]) -> int:
    """What the rows hold in LiveVH form: their text fields plus five 8-byte numbers."""
    return sum(
        len(s.profile_id) + len(s.movie_id) + len(s.device_id) + len(s.event_type) + 5 * 8
        for s in states
    )


def compact_profile(store: HistoryStore, profile_id: str, *, cutoff_ms: int) -> Rollup:
    old = store.live_older_than(profile_id, cutoff_ms)
    if not old:
        return Rollup()
    blob = codec.encode(stored_records(store, profile_id, old).values())
    store.write_compressed(profile_id, blob, chunk_size=settings.PLAYSTATE_COMPRESSED_CHUNK_BYTES)
    store.delete_live(old)
    return Rollup(1, len(old), live_bytes(old), len(blob))


def compact_history(
    *,
    older_than_days: int,
    now_ms: int,
    progress: Callable[[list[str]], Iterable[str]] = iter,
) -> Rollup | None:
    """Roll every profile up; None when another rollup holds the lock. `progress` wraps the
    list of profiles (a progress bar, for the command)."""
    redis = client()
    if not redis.set(LOCK, "1", nx=True, ex=6 * 3600):
        return None
    try:
        store, total = get_store(), Rollup()
        cutoff = now_ms - older_than_days * DAY_MS
        for profile_id in progress(store.profiles_with_live_older_than(cutoff)):
            done = compact_profile(store, profile_id, cutoff_ms=cutoff)
            total.profiles += done.profiles
            total.rows += done.rows
            total.live_bytes += done.live_bytes
            total.compressed_bytes += done.compressed_bytes
        return total
    finally:
        redis.delete(LOCK)
