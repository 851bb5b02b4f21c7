"""The hot layer in Redis: the current winner of every recently active title, and the
durable list of titles whose winner still has to reach the persistent store.

Keys (all strings are profile and movie ids, whose charset excludes '/' and ' '):

- `v1:playstats:{profile}:{movie}`  hash pos, crt, dev, evt, dur, hid: the winning heartbeat
- `v1:recent:{profile}`              zset movie → crt: the profile's titles in the hot layer
- `v1:evt:{profile}:{event_id}`      seen event ids (idempotent retries)
- `v1:pending`                       zset "profile/movie" → when its winner is due in the store
- `v1:inflight`                      zset "profile/movie" → lease deadline of the worker writing it
- `v1:metrics`                       hash of counters shared by every process
- `v1:rl:{profile}`, `v1:rl:hard:{profile}`, `v1:rl:account:{id}`   token buckets
- `v1:pstats:{profile}:{hour}`       heartbeats sent and limited, for support staff

Every write is one Lua script, so concurrent API processes never race a read-modify-write.
The pending and inflight sets make the pipeline safe: an acknowledged heartbeat is either in
the store or named in one of them, and a claim whose worker died goes back after its lease.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, cast

import redis
import redis.asyncio
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.retry import Retry

from playstate.domain import URGENT_EVENTS, PlayState
from playstate.validation import Heartbeat

PENDING = "v1:pending"
INFLIGHT = "v1:inflight"
METRICS = "v1:metrics"
NO_EVENT_KEY = "v1:evt:-"

# Outcome of one heartbeat in the ingest script.
DUPLICATE, APPLIED, STALE, COLD, RATE_LIMITED = 0, 1, 2, 3, 4
ACCEPTED = frozenset({DUPLICATE, APPLIED, STALE})


def _lua(name: str, *, compare: bool = False) -> str:
    text = (files("playstate") / "lua" / f"{name}.lua").read_text()
    return (files("playstate") / "lua" / "compare.lua").read_text() + text if compare else text


INGEST = _lua("ingest", compare=True)
REPAIR = _lua("repair", compare=True)
HIDE = _lua("hide")
CLAIM = _lua("claim")
ACK = _lua("ack")


def hot_key(profile_id: str, movie_id: str) -> str:
    return f"v1:playstats:{profile_id}:{movie_id}"


def recent_key(profile_id: str) -> str:
    return f"v1:recent:{profile_id}"


def event_key(profile_id: str, event_id: str) -> str:
    return f"v1:evt:{profile_id}:{event_id}"


def stats_key(profile_id: str, hour: int) -> str:
    return f"v1:pstats:{profile_id}:{hour}"


def member(profile_id: str, movie_id: str) -> str:
    return f"{profile_id}/{movie_id}"


def split_member(value: str) -> tuple[str, str]:
    profile_id, _, movie_id = value.partition("/")
    return profile_id, movie_id


def _client_options() -> dict[str, Any]:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        # Fail fast and let the caller fall back; retries would turn an outage into a hang.
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
    }


_client: redis.Redis | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
    weakref.WeakKeyDictionary()
)


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, **_client_options())
    return _client


def aclient() -> redis.asyncio.Redis:
    # redis.asyncio connections belong to the event loop that opened them.
    loop = asyncio.get_running_loop()
    if (found := _async_clients.get(loop)) is None:
        found = redis.asyncio.Redis.from_url(settings.REDIS_URL, **_client_options())
        _async_clients[loop] = found
    return found


def reset_clients() -> None:
    """Forget connections (tests point the process at another server)."""
    global _client
    _client = None
    _async_clients.clear()


# Script objects hold the SHA1 of their text, computed once; they run on whichever client.
_scripts: dict[str, Script] = {}
_async_scripts: dict[str, AsyncScript] = {}


def _run(text: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
    redis_client = client()
    if (script := _scripts.get(text)) is None:
        script = _scripts[text] = redis_client.register_script(text)
    return script(keys, args, client=redis_client)


async def _arun(text: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
    redis_client = aclient()
    if (script := _async_scripts.get(text)) is None:
        script = _async_scripts[text] = redis_client.register_script(text)
    return await script(keys, args, client=redis_client)


def state_from_hash(profile_id: str, movie_id: str, fields: Mapping[str, str]) -> PlayState | None:
    if not fields or "crt" not in fields:
        return None
    return PlayState(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=int(fields["pos"]),
        client_request_time=int(fields["crt"]),
        device_id=fields["dev"],
        event_type=fields["evt"],
        duration_ms=int(fields["dur"]) if fields.get("dur") else None,
        hidden_before=int(fields.get("hid") or 0),
    )


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


def _ingest_call(
    heartbeats: Sequence[Heartbeat],
    now_ms: int,
    counters: Mapping[str, int],
    may_create: bool,
    limits: Limits,
) -> tuple[list[str], list[str | int]]:
    keys = [PENDING, METRICS, f"v1:rl:account:{limits.account_id}"]
    args: list[str | int] = [
        now_ms,
        settings.PLAYSTATE_HOT_TTL_SECONDS,
        settings.PLAYSTATE_COALESCE_WINDOW_MS,
        settings.PLAYSTATE_EVENT_ID_TTL_SECONDS,
        len(heartbeats),
        settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE,
        settings.PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE,
    ]
    hour = now_ms // 3_600_000
    for hb in heartbeats:
        s = hb.state
        burst, per_minute = limits.per_profile[s.profile_id]
        keys += [
            hot_key(s.profile_id, s.movie_id),
            event_key(s.profile_id, hb.event_id) if hb.event_id else NO_EVENT_KEY,
            recent_key(s.profile_id),
            f"v1:rl:{s.profile_id}",
            f"v1:rl:hard:{s.profile_id}",
            stats_key(s.profile_id, hour),
        ]
        args += [
            member(s.profile_id, s.movie_id),
            s.movie_id,
            s.position_ms,
            s.client_request_time,
            s.device_id,
            s.event_type,
            "" if s.duration_ms is None else s.duration_ms,
            hb.event_id or "",
            "1" if s.event_type in URGENT_EVENTS else "0",
            "1" if may_create else "0",
            burst,
            per_minute,
        ]
    for field, amount in counters.items():
        args += [field, amount]
    return keys, args


def _outcome(raw: list[int]) -> IngestOutcome:
    return IngestOutcome(
        codes=[int(c) for c in raw[:-2]], nudge=bool(raw[-2]), retry_after_ms=int(raw[-1])
    )


def ingest(
    heartbeats: Sequence[Heartbeat],
    *,
    now_ms: int,
    counters: Mapping[str, int],
    limits: Limits,
    may_create: bool = False,
) -> IngestOutcome:
    """Apply heartbeats; without `may_create`, those of titles not in the cache come back COLD."""
    keys, args = _ingest_call(heartbeats, now_ms, counters, may_create, limits)
    return _outcome(_run(INGEST, keys, args))


async def aingest(
    heartbeats: Sequence[Heartbeat],
    *,
    now_ms: int,
    counters: Mapping[str, int],
    limits: Limits,
    may_create: bool = False,
) -> IngestOutcome:
    keys, args = _ingest_call(heartbeats, now_ms, counters, may_create, limits)
    return _outcome(await _arun(INGEST, keys, args))


def get_state(profile_id: str, movie_id: str) -> PlayState | None:
    fields = cast("dict[str, str]", client().hgetall(hot_key(profile_id, movie_id)))
    return state_from_hash(profile_id, movie_id, fields)


async def aget_state(profile_id: str, movie_id: str) -> PlayState | None:
    fields = cast("dict[str, str]", await aclient().hgetall(hot_key(profile_id, movie_id)))
    return state_from_hash(profile_id, movie_id, fields)


def get_states(pairs: Sequence[tuple[str, str]]) -> list[PlayState]:
    pipe = client().pipeline(transaction=False)
    for profile_id, movie_id in pairs:
        pipe.hgetall(hot_key(profile_id, movie_id))
    found = (
        state_from_hash(p, m, fields) for (p, m), fields in zip(pairs, pipe.execute(), strict=True)
    )
    return [state for state in found if state is not None]


def recent_states(profile_id: str) -> list[PlayState]:
    movies = cast("list[str]", client().zrange(recent_key(profile_id), 0, -1))
    return get_states([(profile_id, movie_id) for movie_id in movies])


def repair(state: PlayState) -> None:
    _run(
        REPAIR,
        [hot_key(state.profile_id, state.movie_id), recent_key(state.profile_id)],
        [
            state.position_ms,
            state.client_request_time,
            state.device_id,
            state.event_type,
            "" if state.duration_ms is None else state.duration_ms,
            state.hidden_before,
            settings.PLAYSTATE_HOT_TTL_SECONDS,
            state.movie_id,
        ],
    )


def hide(profile_id: str, movie_id: str, *, now_ms: int) -> bool:
    keys = [hot_key(profile_id, movie_id), PENDING]
    return bool(_run(HIDE, keys, [member(profile_id, movie_id), now_ms]))


def claim(*, now_ms: int, limit: int) -> tuple[int, list[str]]:
    lease = settings.PLAYSTATE_CLAIM_LEASE_MS
    deadline, members = _run(CLAIM, [PENDING, INFLIGHT], [now_ms, lease, limit])
    return int(deadline), list(members)


def ack(members: Iterable[str], *, deadline: int, written: int) -> None:
    _run(ACK, [INFLIGHT, METRICS], [deadline, written, *members])


def profile_stats(profile_id: str, *, now_ms: int) -> dict[str, int]:
    """Heartbeats the profile sent, and how many were limited, this hour and the last."""
    hour = now_ms // 3_600_000
    pipe = client().pipeline(transaction=False)
    pipe.hgetall(stats_key(profile_id, hour - 1))
    pipe.hgetall(stats_key(profile_id, hour))
    totals = {"sent": 0, "limited": 0}
    for fields in pipe.execute():
        for name in totals:
            totals[name] += int(fields.get(name, 0))
    return totals


def backlog() -> dict[str, int]:
    pipe = client().pipeline(transaction=False)
    pipe.zcard(PENDING)
    pipe.zcard(INFLIGHT)
    pending, inflight = pipe.execute()
    return {"pending": int(pending), "inflight": int(inflight)}
