"""Which rate limit is in force for a profile, cached per process for a few seconds so that
admin changes apply everywhere within `PLAYSTATE_RATE_LIMIT_CACHE_SECONDS`, with no SQL query per
heartbeat. The buckets themselves live in Redis (lua/ingest.lua)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, replace

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from core.loops import SingleFlight, per_loop
from core.outages import OutageLog, store_deadline
from playstate.models import RateLimit

logger = logging.getLogger(__name__)
outages = OutageLog(logger, "heartbeats are limited as they were last read (or by the defaults)")

# A snapshot is reloaded in the background once it has lived this share of its time, so that
# under traffic no heartbeat waits for the database; one past its time is not used while the
# database answers.
RENEW_AT = 0.8


@dataclass(frozen=True, slots=True)
class Limit:
    burst: int
    per_minute: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    default: Limit
    overrides: dict[str, Limit]
    renew_at: float
    expires: float


def _default() -> Limit:
    return Limit(settings.PLAYSTATE_RATE_LIMIT_BURST, settings.PLAYSTATE_RATE_LIMIT_PER_MINUTE)


def _times() -> tuple[float, float]:
    """When a snapshot read now is due a reload, and when it is past its time."""
    now, seconds = time.monotonic(), settings.PLAYSTATE_RATE_LIMIT_CACHE_SECONDS
    return now + seconds * RENEW_AT, now + seconds


def _load() -> Snapshot:
    default = _default()
    overrides = {}
    for row in RateLimit.objects.select_related("profile"):
        limit = Limit(row.burst, row.per_minute)
        if row.profile is None:
            default = limit
        else:
            overrides[row.profile.profile_id] = limit
    return Snapshot(default, overrides, *_times())


def stored() -> Snapshot:
    """The limits as the database holds them now (every process uses them within seconds)."""
    return _load()


_snapshot: Snapshot | None = None
# Each loop's reload: when a snapshot ran out, the heartbeats of the next moments all asked
# the database for the limits, each with a query of its own (3 to 30 queries every 5 s per
# web process under `make bench`'s steady load), each heartbeat waiting for its turn.
_reloads: dict[asyncio.AbstractEventLoop, SingleFlight[Snapshot]] = {}
# Bumped by clear_cache: a reload that started before it does not put back what it read.
_generation = 0


async def _reload() -> Snapshot:
    """The limits read again. While the database does not answer, the last ones read (or the
    defaults) stay in force until it does, asked for again after the cache's time: heartbeats
    are taken meanwhile, and none waits for the database again until it has answered."""
    global _snapshot
    generation = _generation
    snapshot: Snapshot
    try:
        async with store_deadline():
            snapshot = await database_sync_to_async(_load)()
    except (DatabaseError, TimeoutError) as error:
        outages.failed("database", error)
        renew_at, _ = _times()
        kept = _snapshot or Snapshot(_default(), {}, renew_at, math.inf)
        snapshot = replace(kept, renew_at=renew_at, expires=math.inf)
    else:
        outages.answered("database")
    if generation == _generation:
        _snapshot = snapshot
    return snapshot


async def in_force() -> Snapshot:
    """The limits every heartbeat is checked against, at most a few seconds old."""
    snapshot, now = _snapshot, time.monotonic()
    if snapshot is None or now >= snapshot.renew_at:
        reload = per_loop(_reloads, lambda: SingleFlight(_reload)).start()
        if snapshot is None or now >= snapshot.expires:
            return await asyncio.shield(reload)
    return snapshot


def limit_for(snapshot: Snapshot, profile_id: str) -> Limit:
    return snapshot.overrides.get(profile_id, snapshot.default)


def clear_cache() -> None:
    global _snapshot, _generation
    _snapshot = None
    _generation += 1
    _reloads.clear()
