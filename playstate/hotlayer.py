"""The hot layer in Redis: the current winner of every recently active title, and the
durable list of titles whose winner still has to reach the persistent store.

Keys (profile and movie ids cannot contain '/' or ' '):

- `v1:playstats:{profile}:{movie}`  hash sig, pos, crt, dev, evt, dur, hid, fgt: the winning
                                     heartbeat (sig: it holds the place), and the hidings
- `v1:recent:{profile}`              zset movie → crt: the profile's titles in the hot layer
- `v1:versions:{profile}:{movie}`    hash "device|10-minute bucket" → "crt|pos|evt": resume
                                     points, kept 30 days (playstate/versions.py)
- `v1:removals:{profile}`            zset movie → when it was hidden, for `since=` catch-ups
- `v1:evt:{profile}:{event_id}`      seen event ids (idempotent retries)
- `v1:pending`                       zset "profile/movie" → when its winner is due in the store
- `v1:inflight`                      zset "profile/movie" → lease deadline of the worker writing it
- `v1:metrics`                       hash of counters shared by every process (playstate/metrics.py)
- `v1:rl:{profile}`, `v1:rl:hard:{profile}`, `v1:rl:account:{id}`   token buckets
- `v1:pstats:{profile}:{hour}`       heartbeats sent and limited, for support staff

Every write is one Lua script (playstate/scripts.py), so concurrent web processes never race
a read-modify-write. The pending and inflight sets make the pipeline safe: an acknowledged
heartbeat is either in the store or named in one of them, and a claim whose worker died goes
back after its lease.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, cast

from django.conf import settings

from core.domain import URGENT_EVENTS, EventType, PlayState, holds_place
from core.redis import aclient
from playstate import scripts

PENDING = "v1:pending"
INFLIGHT = "v1:inflight"
METRICS = "v1:metrics"
NO_EVENT_KEY = "v1:evt:-"

VERSIONS_TTL_SECONDS = 30 * 86_400

# Outcome of one heartbeat in the ingest script.
DUPLICATE, APPLIED, STALE, COLD, RATE_LIMITED = 0, 1, 2, 3, 4
ACCEPTED = frozenset({DUPLICATE, APPLIED, STALE})


def hot_key(profile_id: str, movie_id: str) -> str:
    return f"v1:playstats:{profile_id}:{movie_id}"


def recent_key(profile_id: str) -> str:
    return f"v1:recent:{profile_id}"


def event_key(profile_id: str, event_id: str) -> str:
    return f"v1:evt:{profile_id}:{event_id}"


def versions_key(profile_id: str, movie_id: str) -> str:
    return f"v1:versions:{profile_id}:{movie_id}"


def removals_key(profile_id: str) -> str:
    return f"v1:removals:{profile_id}"


def stats_key(profile_id: str, hour: int) -> str:
    return f"v1:pstats:{profile_id}:{hour}"


def member(profile_id: str, movie_id: str) -> str:
    return f"{profile_id}/{movie_id}"


def split_member(value: str) -> tuple[str, str]:
    profile_id, _, movie_id = value.partition("/")
    return profile_id, movie_id


def state_from_hash(profile_id: str, movie_id: str, fields: Mapping[str, str]) -> PlayState | None:
    if not fields or "crt" not in fields:
        return None
    position = int(fields["pos"])
    event = EventType(fields["evt"])
    sig = fields.get("sig")
    return PlayState(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=position,
        client_request_time=int(fields["crt"]),
        device_id=fields["dev"],
        event_type=event,
        duration_ms=int(fields["dur"]) if fields.get("dur") else None,
        hidden_before=int(fields.get("hid") or 0),
        # A hash from before 'sig' existed: judged as the ingest would judge it now.
        significant=sig == "1" if sig is not None else significant(position, event),
        forgotten_before=int(fields.get("fgt") or 0),
    )


def significant(position_ms: int, event_type: EventType) -> bool:
    return holds_place(position_ms, event_type, ignore_start_ms=settings.PLAYSTATE_IGNORE_START_MS)


class IngestItem(NamedTuple):
    """A checked heartbeat, ready for the hot layer."""

    state: PlayState
    event_id: str | None


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    codes: list[int]
    nudge: bool
    retry_after_ms: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """The buckets a request spends from: each profile's plain-heartbeat limit, the account."""

    account_id: int
    per_profile: Mapping[str, tuple[int, int]]  # profile id → (burst, per minute)


async def ingest(
    items: Sequence[IngestItem],
    *,
    now_ms: int,
    counters: Mapping[str, int],
    limits: Limits,
    may_create: bool = False,
) -> IngestOutcome:
    """Apply heartbeats; without `may_create`, those of titles not in the cache come back COLD."""
    keys: list[str] = list(
        scripts.IngestKeys(PENDING, METRICS, f"v1:rl:account:{limits.account_id}")
    )
    args: list[str | int] = list(
        scripts.IngestArgs(
            now=now_ms,
            hot_ttl=settings.PLAYSTATE_HOT_TTL_SECONDS,
            window=settings.PLAYSTATE_COALESCE_WINDOW_MS,
            event_ttl=settings.PLAYSTATE_EVENT_ID_TTL_SECONDS,
            items=len(items),
            ignore_start=settings.PLAYSTATE_IGNORE_START_MS,
            versions_ttl=VERSIONS_TTL_SECONDS,
            profile_ceiling=settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE,
            account_ceiling=settings.PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE,
        )
    )
    hour = now_ms // 3_600_000
    for s, event_id in items:
        burst, per_minute = limits.per_profile[s.profile_id]
        keys += scripts.IngestItemKeys(
            hot=hot_key(s.profile_id, s.movie_id),
            event=event_key(s.profile_id, event_id) if event_id else NO_EVENT_KEY,
            recent=recent_key(s.profile_id),
            bucket=f"v1:rl:{s.profile_id}",
            ceiling=f"v1:rl:hard:{s.profile_id}",
            stats=stats_key(s.profile_id, hour),
            versions=versions_key(s.profile_id, s.movie_id),
        )
        args += scripts.IngestItemArgs(
            member=member(s.profile_id, s.movie_id),
            movie=s.movie_id,
            pos=s.position_ms,
            crt=s.client_request_time,
            dev=s.device_id,
            evt=s.event_type,
            dur="" if s.duration_ms is None else s.duration_ms,
            sig=int(s.significant),
            event_id=event_id or "",
            urgent=int(s.event_type in URGENT_EVENTS),
            may_create=int(may_create),
            burst=burst,
            per_minute=per_minute,
        )
    for field, amount in counters.items():
        args += [field, amount]
    raw = cast("list[int]", await scripts.INGEST(keys, args))
    return IngestOutcome(
        codes=[int(c) for c in raw[:-2]], nudge=bool(raw[-2]), retry_after_ms=int(raw[-1])
    )


async def get_states(pairs: Sequence[tuple[str, str]]) -> list[PlayState]:
    """The cached states of these (profile, movie) pairs; titles not in the cache are left out."""
    if not pairs:
        return []
    pipe = aclient().pipeline(transaction=False)
    for profile_id, movie_id in pairs:
        pipe.hgetall(hot_key(profile_id, movie_id))
    replies = await pipe.execute()
    found = (state_from_hash(p, m, fields) for (p, m), fields in zip(pairs, replies, strict=True))
    return [state for state in found if state is not None]


async def get_state(profile_id: str, movie_id: str) -> PlayState | None:
    """One title's cached state (the resume read: one command, no pipeline)."""
    fields = cast("dict[str, str]", await aclient().hgetall(hot_key(profile_id, movie_id)))
    return state_from_hash(profile_id, movie_id, fields)


async def recent_states(profile_id: str) -> list[PlayState]:
    movies = cast("list[str]", await aclient().zrange(recent_key(profile_id), 0, -1))
    return await get_states([(profile_id, movie_id) for movie_id in movies])


async def repair(state: PlayState) -> None:
    """Put a stored state back into the cache, unless the cache holds a newer one."""
    await scripts.REPAIR(
        scripts.RepairKeys(hot_key(state.profile_id, state.movie_id), recent_key(state.profile_id)),
        scripts.RepairArgs(
            sig=int(state.significant),
            pos=state.position_ms,
            crt=state.client_request_time,
            dev=state.device_id,
            evt=state.event_type,
            dur="" if state.duration_ms is None else state.duration_ms,
            hid=state.hidden_before,
            fgt=state.forgotten_before,
            ttl=settings.PLAYSTATE_HOT_TTL_SECONDS,
            movie=state.movie_id,
            ignore_start=settings.PLAYSTATE_IGNORE_START_MS,
        ),
    )


class Hiding(StrEnum):
    """What a hiding hides the title from (the hash field that records it)."""

    CONTINUE_WATCHING = "hid"
    HISTORY = "fgt"


async def hide(profile_id: str, movie_id: str, *, now_ms: int, hiding: Hiding) -> bool:
    """Hide the cached title up to its current winner; False when it is not in the cache."""
    keys = scripts.HideKeys(hot_key(profile_id, movie_id), PENDING, removals_key(profile_id))
    args = scripts.HideArgs(
        member(profile_id, movie_id), now_ms, hiding, movie_id, VERSIONS_TTL_SECONDS
    )
    return bool(await scripts.HIDE(keys, args))


async def removed_since(profile_id: str, since: int) -> list[str]:
    """Titles hidden (from the row or from history) after `since`, oldest first."""
    key = removals_key(profile_id)
    return cast("list[str]", await aclient().zrangebyscore(key, f"({since}", "+inf"))


async def forget_versions(profile_id: str, movie_id: str) -> None:
    await aclient().delete(versions_key(profile_id, movie_id))


async def versions(profile_id: str, movie_id: str) -> dict[str, str]:
    """The title's raw resume points (see `versions_key`)."""
    return cast("dict[str, str]", await aclient().hgetall(versions_key(profile_id, movie_id)))


async def claim(*, now_ms: int, limit: int) -> tuple[int, list[str]]:
    args = scripts.ClaimArgs(now_ms, settings.PLAYSTATE_CLAIM_LEASE_MS, limit)
    deadline, members = await scripts.CLAIM(scripts.ClaimKeys(PENDING, INFLIGHT), args)
    return int(deadline), list(members)


async def ack(members: Iterable[str], *, deadline: int, written: int) -> None:
    args: list[str | int] = [*scripts.AckArgs(deadline, written), *members]
    await scripts.ACK(scripts.AckKeys(INFLIGHT, METRICS), args)


async def release(members: Iterable[str], *, deadline: int, now_ms: int) -> None:
    """Give claims back as due now: their write failed, and the next flush retries them."""
    args: list[str | int] = [*scripts.ReleaseArgs(deadline, now_ms), *members]
    await scripts.RELEASE(scripts.ReleaseKeys(INFLIGHT, PENDING), args)


async def profile_stats(profile_id: str, *, now_ms: int) -> dict[str, int]:
    """Heartbeats the profile sent, and how many were limited, this hour and the last."""
    hour = now_ms // 3_600_000
    pipe = aclient().pipeline(transaction=False)
    pipe.hgetall(stats_key(profile_id, hour - 1))
    pipe.hgetall(stats_key(profile_id, hour))
    totals = {"sent": 0, "limited": 0}
    for fields in await pipe.execute():
        for name in totals:
            totals[name] += int(fields.get(name, 0))
    return totals


async def backlog() -> dict[str, int]:
    pipe = aclient().pipeline(transaction=False)
    pipe.zcard(PENDING)
    pipe.zcard(INFLIGHT)
    pending, inflight = await pipe.execute()
    return {"pending": int(pending), "inflight": int(inflight)}
