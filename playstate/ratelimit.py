"""Which rate limit is in force for a profile, cached per process for a few seconds so that
admin changes apply everywhere within `PLAYSTATE_RATE_LIMIT_CACHE_SECONDS`, with no SQL query per
heartbeat. The buckets themselves live in Redis (lua/ingest.lua)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from core.outages import OutageLog
from playstate.models import RateLimit

logger = logging.getLogger(__name__)
outages = OutageLog(logger, "heartbeats are limited as they were last read (or by the defaults)")


@dataclass(frozen=True, slots=True)
class Limit:
    burst: int
    per_minute: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    default: Limit
    overrides: dict[str, Limit]
    expires: float


_snapshot: Snapshot | None = None


def _default() -> Limit:
    return Limit(settings.PLAYSTATE_RATE_LIMIT_BURST, settings.PLAYSTATE_RATE_LIMIT_PER_MINUTE)


def _load() -> Snapshot:
    default = _default()
    overrides = {}
    for row in RateLimit.objects.select_related("profile"):
        limit = Limit(row.burst, row.per_minute)
        if row.profile is None:
            default = limit
        else:
            overrides[row.profile.profile_id] = limit
    expires = time.monotonic() + settings.PLAYSTATE_RATE_LIMIT_CACHE_SECONDS
    return Snapshot(default, overrides, expires)


def _fresh() -> Snapshot | None:
    return _snapshot if _snapshot is not None and _snapshot.expires > time.monotonic() else None


def stored() -> Snapshot:
    """The limits as the database holds them now (every process uses them within seconds)."""
    return _load()


async def in_force() -> Snapshot:
    """The limits every heartbeat is checked against, at most a few seconds old; while the
    database does not answer, the last ones read (or the defaults), asked for again after
    the cache's time: heartbeats are taken meanwhile, not failed."""
    global _snapshot
    if (snapshot := _fresh()) is None:
        try:
            snapshot = await database_sync_to_async(_load)()
        except DatabaseError as error:
            outages.failed("database", error)
            expires = time.monotonic() + settings.PLAYSTATE_RATE_LIMIT_CACHE_SECONDS
            kept = _snapshot or Snapshot(_default(), {}, expires)
            snapshot = replace(kept, expires=expires)
        else:
            outages.answered("database")
        _snapshot = snapshot
    return snapshot


def limit_for(snapshot: Snapshot, profile_id: str) -> Limit:
    return snapshot.overrides.get(profile_id, snapshot.default)


def clear_cache() -> None:
    global _snapshot
    _snapshot = None
