"""The hot layer in Redis: the current winner of every recently active title, and the
durable list of titles whose winner still has to reach the persistent store.

Keys carry the profile as a Redis Cluster hash tag (braces literal), so every key of one
profile lives in one slot, and one script call applies a profile's heartbeats atomically on a
single Redis and on a cluster alike (profile and movie ids cannot contain '/', ' ' or braces):

- `v1:playstats:{profile}:movie`    hash sig, pos, crt, dev, evt, dur, hid, fgt, exp: the
                                     winning heartbeat (sig: it holds the place), the hidings,
                                     and how far its expiry was last pushed out
- `v1:recent:{profile}`              zset movie → crt: the profile's titles in the hot layer
- `v1:versions:{profile}:movie`      hash "device|10 minutes of time|10 minutes of position"
                                     → "crt|pos|evt": resume points, kept 30 days
                                     (versions.lua; the title's state is a point of its own
                                     and is not copied here while it is the state:
                                     `versions`, `with_state`; core/versions.py)
- `v1:removals:{profile}`            zset movie → when it was hidden, for `since=` catch-ups
- `v1:evt:{profile}:event_id`        seen event ids (idempotent retries)
- `v1:buckets:{profile}`             MessagePack map (buckets.lua): the profile's token
                                     buckets (plain heartbeats, hard ceiling), and what it sent
                                     and had limited this hour and the last, for support staff
- `v1:buckets:account:{a<id>}`       MessagePack map: the account's hard ceiling

The pipeline's sets, "profile/movie" members:

- pending   zset member → when its winner is due in the store
- inflight  zset member → lease deadline of the worker writing it

On one Redis they are `v1:pending` and `v1:inflight`, and the counters one hash `v1:metrics`.
On a cluster a script may only touch one slot, so each slot has its own pair,
`v1:pending:{tag}` and `v1:inflight:{tag}` (`tag` a short string in that slot); each request
announces its slots in one of the "due slots" sets `v1:due:{d0}` … `v1:due:{d15}` (in the
same round trip as its counters), where workers find them; a sweep every minute finds any
slot whose announcement was lost. The counters are spread over `v1:metrics:{m0}` … `{m15}`.

Every write is one Lua script (playstate/scripts.py), so concurrent web processes never race
a read-modify-write. The pending and inflight sets make the pipeline safe: an acknowledged
heartbeat is either in the store or named in one of them, and a claim whose worker died goes
back after its lease.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from itertools import groupby
from typing import NamedTuple, cast

import msgpack
from django.conf import settings
from redis.client import NEVER_DECODE
from redis.crc import REDIS_CLUSTER_HASH_SLOTS as SLOTS
from redis.crc import key_slot

from core.domain import URGENT_EVENTS, EventType, PlayState, holds_place, is_forgotten
from core.hotsettings import hot_settings
from core.loops import TurnBatch, per_loop
from core.redis import hot_client, hot_clustered, hot_command
from playstate import scripts

VERSIONS_TTL_SECONDS = 30 * 86_400
VERSION_BUCKET_MS = 600_000  # versions.lua's BUCKET_MS
DUE_SETS = 16
METRIC_SHARDS = 16
# Counters of refused heartbeats, by reason: "rejected:invalid", …
REJECTED_PREFIX = "rejected:"

# Outcome of one heartbeat in the ingest script.
DUPLICATE, APPLIED, STALE, COLD, RATE_LIMITED = 0, 1, 2, 3, 4
ACCEPTED = frozenset({DUPLICATE, APPLIED, STALE})


def _tagged(profile_id: str) -> str:
    return "{" + profile_id + "}"


def hot_key(profile_id: str, movie_id: str) -> str:
    return f"v1:playstats:{_tagged(profile_id)}:{movie_id}"


def recent_key(profile_id: str) -> str:
    return f"v1:recent:{_tagged(profile_id)}"


def event_key(profile_id: str, event_id: str) -> str:
    return f"v1:evt:{_tagged(profile_id)}:{event_id}"


def versions_key(profile_id: str, movie_id: str) -> str:
    return f"v1:versions:{_tagged(profile_id)}:{movie_id}"


def removals_key(profile_id: str) -> str:
    return f"v1:removals:{_tagged(profile_id)}"


def limits_key(profile_id: str) -> str:
    """The profile's rate-limit buckets and what it sent this hour and the last (buckets.lua)."""
    return f"v1:buckets:{_tagged(profile_id)}"


def account_key(account_id: int) -> str:
    return f"v1:buckets:account:{{a{account_id}}}"


def member(profile_id: str, movie_id: str) -> str:
    return f"{profile_id}/{movie_id}"


def due_ms(name: str, *, now_ms: int, window_ms: int) -> int:
    """When a plain heartbeat's title is next due in the store: at the title's own point in
    every window (a phase from a hash of its name), at most one window from now. A title
    watched without pause is then written once per window, and the titles of viewers who
    started together (a premiere, a benchmark) come due spread over the window instead of
    all at once, one window later."""
    if window_ms <= 0:
        return now_ms
    return now_ms + (zlib.crc32(name.encode()) - now_ms) % window_ms


def split_member(value: str) -> tuple[str, str]:
    profile_id, _, movie_id = value.partition("/")
    return profile_id, movie_id


@cache
def slot_tags() -> tuple[str, ...]:
    """For each slot, the shortest decimal string that hashes to it (at most 6 digits)."""
    tags: list[str | None] = [None] * SLOTS
    left, n = SLOTS, 0
    while left:
        slot = key_slot(str(n).encode())
        if tags[slot] is None:
            tags[slot] = str(n)
            left -= 1
        n += 1
    return tuple(cast("list[str]", tags))


class Shard(NamedTuple):
    """Where the pending and inflight members of some profiles live."""

    pending: str
    inflight: str
    slot: int  # -1 on a single Redis

    @property
    def due_set(self) -> str:
        return due_set_key(self.slot % DUE_SETS)


def due_set_key(i: int) -> str:
    return f"v1:due:{{d{i}}}"


SINGLE = Shard("v1:pending", "v1:inflight", -1)


def shard_at(slot: int) -> Shard:
    tag = slot_tags()[slot]
    return Shard(f"v1:pending:{{{tag}}}", f"v1:inflight:{{{tag}}}", slot)


def shard_of(profile_id: str) -> Shard:
    return shard_at(key_slot(_tagged(profile_id).encode())) if hot_clustered() else SINGLE


def metrics_keys() -> list[str]:
    if not hot_clustered():
        return ["v1:metrics"]
    return [f"v1:metrics:{{m{i}}}" for i in range(METRIC_SHARDS)]


async def count(counters: Mapping[str, int]) -> None:
    """Add to the deployment's counters (a shard at random on a cluster: no hot key)."""
    await _announce_and_count([], counters)


async def counters() -> dict[str, int]:
    pipe = hot_client().pipeline(transaction=False)
    for key in metrics_keys():
        pipe.hgetall(key)
    totals: dict[str, int] = defaultdict(int)
    for fields in await pipe.execute():
        for name, value in fields.items():
            totals[name] += int(value)
    return with_sums(totals)


def with_sums(counters: Mapping[str, int]) -> dict[str, int]:
    """The counters as kept, with the two that are sums of others: stored, they would be two
    more increments per request on the hottest key."""
    accepted = sum(counters.get(f"heartbeats_{n}", 0) for n in ("duplicate", "applied", "stale"))
    refused = counters.get("heartbeats_rate_limited", 0) + sum(
        v for k, v in counters.items() if k.startswith(REJECTED_PREFIX)
    )
    return {
        **counters,
        "heartbeats_accepted": accepted,
        "heartbeats_received": accepted + refused,
    }


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
    return holds_place(position_ms, event_type, ignore_start_ms=hot_settings().ignore_start_ms)


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


def outcome_counters(codes: Sequence[int]) -> dict[str, int]:
    """The counters a batch's outcome adds (ingest.lua adds the same on one Redis)."""
    tally = [codes.count(code) for code in range(5)]
    return {
        "heartbeats_duplicate": tally[DUPLICATE],
        "heartbeats_applied": tally[APPLIED],
        "heartbeats_stale": tally[STALE],
        "heartbeats_rate_limited": tally[RATE_LIMITED],
    }


async def ingest(
    items: Sequence[IngestItem],
    *,
    now_ms: int,
    counters: Mapping[str, int],
    limits: Limits,
    may_create: bool | Collection[str] = False,
    retrying_cold: bool = False,
) -> IngestOutcome:
    """Apply heartbeats; those of titles not in the cache come back COLD, unless `may_create`
    is true or names their members (the caller has read them through from the store).

    On one Redis: one script call does it all. On a cluster: the account's ceiling (in a
    slot of its own) first, unless these are the cold ones of a request that took it
    already, then one call per slot, at once."""
    if not hot_clustered():
        return await _ingest_slot(
            items, SINGLE, now_ms=now_ms, counters=counters, limits=limits, may_create=may_create
        )
    given, wait = len(items), 0
    if not retrying_cold:
        given, wait = await scripts.CEILING(
            scripts.CeilingKeys(account_key(limits.account_id)),
            scripts.CeilingArgs(now_ms, hot_settings().hard_limit_account_per_minute, len(items)),
        )
    allowed = items[: int(given)]
    by_shard: dict[Shard, list[int]] = defaultdict(list)
    for i, item in enumerate(allowed):
        by_shard[shard_of(item.state.profile_id)].append(i)
    parts = await asyncio.gather(
        *(
            _ingest_slot(
                [items[i] for i in indices],
                shard,
                now_ms=now_ms,
                counters={},
                limits=limits,
                may_create=may_create,
            )
            for shard, indices in by_shard.items()
        )
    )
    codes = [RATE_LIMITED] * len(items)  # beyond the account's ceiling, unless set below
    for indices, part in zip(by_shard.values(), parts, strict=True):
        for i, code in zip(indices, part.codes, strict=True):
            codes[i] = code
    # Announced on every request that was taken, applied or not: a retry of one whose
    # announcement failed (a 503) announces it then; what no one retries, the sweep finds.
    taken = [
        shard
        for shard, part in zip(by_shard, parts, strict=True)
        if any(code in ACCEPTED for code in part.codes)
    ]
    await _announce_and_count(taken, {**counters, **outcome_counters(codes)})
    return IngestOutcome(
        codes,
        nudge=any(part.nudge for part in parts),
        retry_after_ms=max([int(wait)] + [part.retry_after_ms for part in parts]),
    )


async def _announce_and_count(shards: Sequence[Shard], counters: Mapping[str, int]) -> None:
    """Tell workers of slots that may hold due titles, and add to the counters, in one trip."""
    pipe = hot_client().pipeline(transaction=False)
    for shard in shards:
        pipe.sadd(shard.due_set, shard.slot)
    key = random.choice(metrics_keys())
    for name, amount in counters.items():
        if amount:
            pipe.hincrby(key, name, amount)
    if len(pipe):
        await pipe.execute()


@dataclass(frozen=True, slots=True)
class _Call:
    """One request's heartbeats for one slot's script call, as `ingest` was given them."""

    items: Sequence[IngestItem]
    now_ms: int
    counters: Mapping[str, int]
    limits: Limits
    may_create: bool | Collection[str]


# On one Redis, the calls of one turn of a web process's event loop share one script call:
# the script's fixed cost (its arguments' way in, its tables and functions, EVALSHA itself)
# was a third of its 90 µs per steady heartbeat (README, "What was cut"). Calls with more
# heartbeats than MERGE_ITEMS go alone (a batch already shares that cost), and at most
# MERGE_CALLS calls share one, so that no call holds Redis for long.
MERGE_ITEMS, MERGE_CALLS = 8, 32
_merged: dict[asyncio.AbstractEventLoop, TurnBatch[_Call, IngestOutcome]] = {}


async def _ingest_slot(
    items: Sequence[IngestItem],
    shard: Shard,
    *,
    now_ms: int,
    counters: Mapping[str, int],
    limits: Limits,
    may_create: bool | Collection[str],
) -> IngestOutcome:
    call = _Call(items, now_ms, counters, limits, may_create)
    if shard is SINGLE and len(items) <= MERGE_ITEMS and not hot_settings().hot_wait_replicas:
        batch = per_loop(_merged, lambda: TurnBatch(_ingest_merged, max_size=MERGE_CALLS))
        return await batch.submit(call)
    return (await _ingest_calls([call], shard))[0]


async def _ingest_merged(calls: list[_Call]) -> list[IngestOutcome | Exception]:
    """Calls of one turn as one script call per second of their clocks: they are taken as of
    the latest of their times (a heartbeat's arrival, its bucket's refill), so calls whose
    times are further apart (tests that move the clock) keep their own."""
    by_second: dict[int, list[int]] = defaultdict(list)
    for i, call in enumerate(calls):
        by_second[call.now_ms // 1000].append(i)
    groups = list(by_second.values())
    if len(groups) == 1:  # nearly always: no task of its own
        try:
            return list(await _ingest_calls(calls, SINGLE, batched=False))
        except Exception as error:
            return [error] * len(calls)
    # (on one connection, in order: a bucket refills by each call's time)
    results = await asyncio.gather(
        *(_ingest_calls([calls[i] for i in group], SINGLE) for group in groups),
        return_exceptions=True,
    )
    outcomes: list[IngestOutcome | Exception] = [Exception()] * len(calls)
    for group, result in zip(groups, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            for i in group:
                outcomes[i] = result
        else:
            for i, outcome in zip(group, result, strict=True):
                outcomes[i] = outcome
    return outcomes


def _title_of(item: IngestItem) -> tuple[str, str, int | None]:
    """What a run of heartbeats shares in the script call: its title, and the duration the
    title had when they were checked (one request's are checked against one catalog read; a
    run never spans two that differ, so each heartbeat keeps its own)."""
    s = item.state
    return s.profile_id, s.movie_id, s.duration_ms


async def _ingest_calls(
    calls: Sequence[_Call], shard: Shard, *, batched: bool = True
) -> list[IngestOutcome]:
    clustered = shard is not SINGLE
    config = hot_settings()
    total = sum(len(call.items) for call in calls)
    # On a cluster the counters and the account's bucket are in other slots: the caller
    # handles them, and the script is told to leave these keys alone.
    keys: list[str] = list(
        scripts.IngestKeys(shard.pending, shard.pending if clustered else metrics_keys()[0])
    )
    args: list[str | int] = list(
        scripts.IngestArgs(
            now=max(call.now_ms for call in calls),
            hot_ttl=config.hot_ttl_seconds,
            event_ttl=config.event_id_ttl_seconds,
            items=total,
            ignore_start=config.ignore_start_ms,
            versions_ttl=VERSIONS_TTL_SECONDS,
            profile_ceiling=config.hard_limit_profile_per_minute,
            account_ceiling=0 if clustered else config.hard_limit_account_per_minute,
            counting=int(not clustered),
        )
    )
    counters: Counter[str] = Counter()
    for call in calls:
        account = shard.pending if clustered else account_key(call.limits.account_id)
        create_all = call.may_create is True
        creating: Collection[str] = () if isinstance(call.may_create, bool) else call.may_create
        # A title's names, limits and schedule once for its run of heartbeats (a batch is
        # mostly one title's).
        for (profile_id, movie_id, duration_ms), run in groupby(call.items, _title_of):
            heartbeats = list(run)
            burst, per_minute = call.limits.per_profile[profile_id]
            name = member(profile_id, movie_id)
            keys += scripts.IngestTitleKeys(
                hot=hot_key(profile_id, movie_id),
                recent=recent_key(profile_id),
                limits=limits_key(profile_id),
                versions=versions_key(profile_id, movie_id),
                account=account,
            )
            args += scripts.IngestTitleArgs(
                items=len(heartbeats),
                member=name,
                due=due_ms(name, now_ms=call.now_ms, window_ms=config.coalesce_window_ms),
                movie=movie_id,
                dur="" if duration_ms is None else duration_ms,
                may_create=int(create_all or name in creating),
                burst=burst,
                per_minute=per_minute,
            )
            for s, event_id in heartbeats:
                keys.append(event_key(profile_id, event_id or "-"))
                args += scripts.IngestItemArgs(
                    pos=s.position_ms,
                    crt=s.client_request_time,
                    dev=s.device_id,
                    evt=s.event_type,
                    sig=int(s.significant),
                    event_id=event_id or "",
                    urgent=int(s.event_type in URGENT_EVENTS),
                )
        counters.update(call.counters)
    for name, amount in counters.items():
        args += [name, amount]
    replicas = config.hot_wait_replicas
    if replicas:
        raw, confirmed = await scripts.INGEST.replicated(
            keys, args, replicas=replicas, timeout_ms=config.hot_wait_timeout_ms
        )
        if confirmed < replicas:
            await count({"heartbeats_unreplicated": total})
    else:
        raw = await scripts.INGEST(keys, args, batched=batched)
    # Per heartbeat its outcome, then whether to nudge a worker, then per heartbeat how long
    # until it would pass; the nudge goes to the calls that sent a PAUSE, STOP or SEEK.
    n = (len(raw) - 1) // 2
    codes, nudge, waits = [int(c) for c in raw[:n]], bool(raw[n]), raw[n + 1 :]
    outcomes, start = [], 0
    for call in calls:
        end = start + len(call.items)
        urgent = any(item.state.event_type in URGENT_EVENTS for item in call.items)
        retry_after = max((int(w) for w in waits[start:end]), default=0)
        outcomes.append(IngestOutcome(codes[start:end], nudge and urgent, retry_after))
        start = end
    return outcomes


# Titles this process has seen in the cache (applied or stale heartbeats), so their next
# heartbeat goes straight to the script: the most recent ones, in two generations of up to
# HELD_MAX each (a title found in the older one moves to the newer; when the newer is full,
# the older is dropped), so a stream of new titles does not push out those still watched.
HELD_MAX = 100_000
_held: set[str] = set()
_held_before: set[str] = set()


def _hold(name: str) -> None:
    global _held, _held_before
    if len(_held) >= HELD_MAX:
        _held_before, _held = _held, set()
    _held.add(name)


def _holds(name: str) -> bool:
    if name in _held:
        return True
    if name in _held_before:
        _hold(name)
        return True
    return False


def note_held(items: Sequence[IngestItem], codes: Sequence[int]) -> None:
    for item, code in zip(items, codes, strict=True):
        name = member(item.state.profile_id, item.state.movie_id)
        if code in (APPLIED, STALE):
            _hold(name)
        elif code == COLD:
            _held.discard(name)
            _held_before.discard(name)


async def absent(items: Sequence[IngestItem]) -> list[IngestItem]:
    """Of these heartbeats, those of titles not in the cache that this process has not seen
    there (one `EXISTS` each, pipelined with the turn's other commands). A session's first
    heartbeat is then read through from the store before its one script call, rather than
    after a call that finds its title cold; one the process has seen costs nothing here."""
    unseen = [
        item for item in items if not _holds(member(item.state.profile_id, item.state.movie_id))
    ]
    if not unseen:
        return []
    found = await asyncio.gather(
        *(hot_command("EXISTS", hot_key(i.state.profile_id, i.state.movie_id)) for i in unseen)
    )
    return [item for item, exists in zip(unseen, found, strict=True) if not exists]


async def _arrivals(pairs: Sequence[tuple[str, str]]) -> list[tuple[PlayState, int]]:
    """The cached states of these (profile, movie) pairs, each with when it arrived (server
    ms; 0 for one read back from the store); titles not in the cache are left out."""
    if not pairs:
        return []
    pipe = hot_client().pipeline(transaction=False)
    for profile_id, movie_id in pairs:
        pipe.hgetall(hot_key(profile_id, movie_id))
    replies = await pipe.execute()
    found = []
    for (profile_id, movie_id), fields in zip(pairs, replies, strict=True):
        if (state := state_from_hash(profile_id, movie_id, fields)) is not None:
            found.append((state, int(fields.get("at") or 0)))
    return found


async def get_states(pairs: Sequence[tuple[str, str]]) -> list[PlayState]:
    """The cached states of these (profile, movie) pairs; titles not in the cache are left out."""
    return [state for state, _ in await _arrivals(pairs)]


async def get_state(profile_id: str, movie_id: str) -> PlayState | None:
    """One title's cached state (the resume read: one command)."""
    fields = cast("dict[str, str]", await hot_command("HGETALL", hot_key(profile_id, movie_id)))
    return state_from_hash(profile_id, movie_id, fields)


async def recent_states(profile_id: str) -> list[PlayState]:
    return [state for state, _ in await recent_arrivals(profile_id)]


async def recent_arrivals(profile_id: str) -> list[tuple[PlayState, int]]:
    """The profile's cached states, each with when it arrived (see `_arrivals`)."""
    movies = cast("list[str]", await hot_client().zrange(recent_key(profile_id), 0, -1))
    return await _arrivals([(profile_id, movie_id) for movie_id in movies])


async def repair(state: PlayState) -> None:
    """Put a stored state back into the cache, unless the cache holds a newer one."""
    config = hot_settings()
    await scripts.REPAIR(
        scripts.RepairKeys(
            hot_key(state.profile_id, state.movie_id),
            recent_key(state.profile_id),
            versions_key(state.profile_id, state.movie_id),
        ),
        scripts.RepairArgs(
            sig=int(state.significant),
            pos=state.position_ms,
            crt=state.client_request_time,
            dev=state.device_id,
            evt=state.event_type,
            dur="" if state.duration_ms is None else state.duration_ms,
            hid=state.hidden_before,
            fgt=state.forgotten_before,
            ttl=config.hot_ttl_seconds,
            movie=state.movie_id,
            ignore_start=config.ignore_start_ms,
            versions_ttl=VERSIONS_TTL_SECONDS,
        ),
    )


class Hiding(StrEnum):
    """What a hiding hides the title from (the hash field that records it)."""

    CONTINUE_WATCHING = "hid"
    HISTORY = "fgt"


async def hide(profile_id: str, movie_id: str, *, now_ms: int, hiding: Hiding) -> bool:
    """Hide the cached title up to its current winner; False when it is not in the cache."""
    shard = shard_of(profile_id)
    keys = scripts.HideKeys(hot_key(profile_id, movie_id), shard.pending, removals_key(profile_id))
    args = scripts.HideArgs(
        member(profile_id, movie_id), now_ms, hiding, movie_id, VERSIONS_TTL_SECONDS
    )
    hidden = bool(await scripts.HIDE(keys, args))
    if hidden and shard is not SINGLE:
        await _announce_and_count([shard], {})
    return hidden


async def removed_since(profile_id: str, since: int) -> list[str]:
    """Titles hidden (from the row or from history) after `since`, oldest first."""
    key = removals_key(profile_id)
    return cast("list[str]", await hot_client().zrangebyscore(key, f"({since}", "+inf"))


async def forget_versions(profile_id: str, movie_id: str) -> None:
    await hot_client().delete(versions_key(profile_id, movie_id))


async def versions(profile_id: str, movie_id: str) -> tuple[dict[str, str], PlayState | None]:
    """The title's raw resume points kept apart (see `versions_key`), and its state in the
    cache (None when it is not there), a point of its own: `with_state` joins them."""
    kept, state = await asyncio.gather(
        hot_command("HGETALL", versions_key(profile_id, movie_id)),
        get_state(profile_id, movie_id),
    )
    return cast("dict[str, str]", kept), state


def with_state(kept: Mapping[str, str], state: PlayState | None) -> dict[str, str]:
    """The raw resume points with the title's state among them, as versions.lua keeps a
    point: of one device, bucket of time and bucket of position, the greatest client time,
    then position, then event (bytewise). A state hidden from history is not a point."""
    points = dict(kept)
    if state is None or is_forgotten(state):
        return points
    crt, pos, evt = state.client_request_time, state.position_ms, str(state.event_type)
    field = f"{state.device_id}|{crt // VERSION_BUCKET_MS}|{pos // VERSION_BUCKET_MS}"
    if field in points:
        old_crt, old_pos, old_evt = points[field].split("|", 2)
        if (int(old_crt), int(old_pos), old_evt.encode()) >= (crt, pos, evt.encode()):
            return points
    points[field] = f"{crt}|{pos}|{evt}"
    return points


@dataclass
class Claim:
    """Titles a worker took from the pending sets, until `deadline` (its lease)."""

    deadline: int
    by_shard: dict[Shard, list[str]] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        return [m for members in self.by_shard.values() for m in members]


async def due_shards(*, skip_nodes_down: bool = True) -> list[Shard]:
    """The shards that may hold due titles: on a cluster, the slots announced as due (by
    default leaving out the sets on a node that is down: they wait for the failover)."""
    if not hot_clustered():
        return [SINGLE]
    pipe = hot_client().pipeline(transaction=False)
    for i in range(DUE_SETS):
        pipe.smembers(due_set_key(i))
    replies = await pipe.execute(raise_on_error=not skip_nodes_down)
    return [
        shard_at(int(slot))
        for found in replies
        if not isinstance(found, Exception)
        for slot in found
    ]


async def claim(*, now_ms: int, limit: int, everything: bool = False) -> Claim:
    """Claim up to `limit` due titles (with `everything`, pending ones not yet due too),
    first taking back claims whose lease ran out."""
    taken = Claim(now_ms + settings.PLAYSTATE_CLAIM_LEASE_MS)
    due_by = "+inf" if everything else now_ms
    args = scripts.ClaimArgs(now_ms, settings.PLAYSTATE_CLAIM_LEASE_MS, limit, due_by)
    emptied: list[Shard] = []
    for shard in await due_shards():
        room = limit - len(taken.members)
        if room <= 0:
            break
        _, members, left = await scripts.CLAIM(
            scripts.ClaimKeys(shard.pending, shard.inflight), args._replace(limit=room)
        )
        if members:
            taken.by_shard[shard] = list(members)
        if not int(left):
            emptied.append(shard)
    if emptied:
        await _unannounce(emptied)
    return taken


async def _unannounce(shards: Sequence[Shard]) -> None:
    """Take slots found empty out of the due sets. A request may have filled one since: so
    remove, then look again, and put back what is no longer empty (a request that comes
    after the look announces its slot itself)."""
    client = hot_client()
    pipe = client.pipeline(transaction=False)
    for shard in shards:
        pipe.srem(shard.due_set, shard.slot)
    await pipe.execute()
    pipe = client.pipeline(transaction=False)
    for shard in shards:
        pipe.exists(shard.pending, shard.inflight)
    filled = [shard for shard, n in zip(shards, await pipe.execute(), strict=True) if n]
    await _announce_and_count(filled, {})


async def ack(taken: Claim, *, written: int) -> None:
    for shard, members in taken.by_shard.items():
        args: list[str | int] = [*scripts.AckArgs(taken.deadline), *members]
        await scripts.ACK(scripts.AckKeys(shard.inflight), args)
    await count({"store_writes": written})


async def release(taken: Claim, *, now_ms: int) -> None:
    """Give claims back as due now: their write failed, and the next flush retries them."""
    for shard, members in taken.by_shard.items():
        args: list[str | int] = [*scripts.ReleaseArgs(taken.deadline, now_ms), *members]
        await scripts.RELEASE(scripts.ReleaseKeys(shard.inflight, shard.pending), args)


async def sweep() -> int:
    """On a cluster, announce every slot that holds pending or in-flight titles (a slot whose
    announcement was lost with a web process would otherwise wait); return how many."""
    if not hot_clustered():
        return 0
    shards = [shard_at(slot) for slot in range(SLOTS)]
    pipe = hot_client().pipeline(transaction=False)
    for shard in shards:
        pipe.exists(shard.pending, shard.inflight)
    found = [shard for shard, n in zip(shards, await pipe.execute(), strict=True) if n]
    await _announce_and_count(found, {})
    return len(found)


async def profile_stats(profile_id: str, *, now_ms: int) -> dict[str, int]:
    """Heartbeats the profile sent, and how many were limited, this hour and the last."""
    hour = now_ms // 3_600_000
    stored = await hot_client().execute_command("GET", limits_key(profile_id), **{NEVER_DECODE: []})
    state = msgpack.unpackb(stored) if stored else {}
    counted, sent, limited, sent_before, limited_before = (
        state.get(name, 0) for name in ("h", "s", "l", "ps", "pl")
    )
    if counted == hour:
        return {"sent": sent + sent_before, "limited": limited + limited_before}
    if counted == hour - 1:
        return {"sent": sent, "limited": limited}
    return {"sent": 0, "limited": 0}


async def backlog() -> dict[str, int]:
    """Titles pending and in flight (on a cluster: in the slots announced as due)."""
    shards = await due_shards(skip_nodes_down=False)
    pipe = hot_client().pipeline(transaction=False)
    for shard in shards:
        pipe.zcard(shard.pending)
        pipe.zcard(shard.inflight)
    sizes = await pipe.execute() if shards else []
    return {"pending": sum(sizes[0::2]), "inflight": sum(sizes[1::2])}
