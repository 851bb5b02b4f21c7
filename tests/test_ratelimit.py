"""Token buckets against a real Redis server: burst, refill, overrides, user actions kept,
hard ceilings; and what the API answers when the limiter refuses."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis
from channels.db import database_sync_to_async

from accounts.models import Profile
from core.domain import EventType, PlayState
from playstate import hotlayer, ratelimit
from playstate.hotlayer import IngestItem, IngestOutcome, Limits
from playstate.models import RateLimit
from tests.cases import Run, heartbeat, now_s
from tests.stack import RedisServer

NOW = 1_800_000_000_000
LIMITED = hotlayer.RATE_LIMITED
H, P, S, X = EventType.HEARTBEAT, EventType.PAUSE, EventType.SEEK, EventType.STOP


def ingest(run: Run, items: list[IngestItem], *, at: int, limits: Limits) -> IngestOutcome:
    outcome: IngestOutcome = run(
        hotlayer.ingest(items, now_ms=at, counters={}, limits=limits, may_create=True)
    )
    return outcome


def send(
    run: Run,
    events: list[EventType],
    *,
    at: int,
    burst: int = 3,
    per_minute: int = 60,
    profile: str = "p",
) -> list[int]:
    items = [
        IngestItem(PlayState(profile, f"m{i}", i, at + i, "tv", event), None)
        for i, event in enumerate(events)
    ]
    limits = Limits(account_id=1, per_profile={profile: (burst, per_minute)})
    return ingest(run, items, at=at, limits=limits).codes


def test_a_burst_passes_then_the_rest_is_limited(redis_client: redis.Redis, run: Run) -> None:
    codes = send(run, [H] * 5, at=NOW)
    assert codes == [1, 1, 1, LIMITED, LIMITED]
    assert run(hotlayer.counters())["heartbeats_rate_limited"] == 2
    assert run(hotlayer.counters())["heartbeats_accepted"] == 3


def test_support_sees_what_a_profile_sent_this_hour_and_the_last(
    redis_client: redis.Redis, run: Run
) -> None:
    hour = 3_600_000
    start = NOW - NOW % hour
    send(run, [H] * 5, at=start + 1_000)  # 3 pass, 2 limited
    assert run(hotlayer.profile_stats("p", now_ms=start + 2_000)) == {"sent": 5, "limited": 2}
    send(run, [H], at=start + hour + 1_000)  # refilled by then
    assert run(hotlayer.profile_stats("p", now_ms=start + hour + 2_000)) == {
        "sent": 6,
        "limited": 2,
    }
    assert run(hotlayer.profile_stats("p", now_ms=start + 2 * hour)) == {"sent": 1, "limited": 0}
    assert run(hotlayer.profile_stats("p", now_ms=start + 3 * hour)) == {"sent": 0, "limited": 0}
    assert run(hotlayer.profile_stats("nobody", now_ms=start)) == {"sent": 0, "limited": 0}


def test_the_buckets_stay_out_of_the_append_only_file(
    redis_client: redis.Redis, redis_server: RedisServer, hot_cluster: object, run: Run
) -> None:
    """A third of what each heartbeat wrote to the file (and sent every replica), which made
    the file's rewrites, a second of a core each on a small machine, that much more often."""
    if hot_cluster is not None:
        pytest.skip("the cluster's nodes keep files of their own")
    aof = redis_server.directory / "appendonly.aof"
    start = aof.stat().st_size
    assert send(run, [H] * 5, at=NOW, profile="kept") == [1, 1, 1, LIMITED, LIMITED]
    written = aof.read_bytes()[start:]
    assert hotlayer.hot_key("kept", "m0").encode() in written
    assert hotlayer.limits_key("kept").encode() not in written
    assert hotlayer.account_key(1).encode() not in written
    # In memory all the same: the limit holds.
    assert send(run, [H], at=NOW + 10, profile="kept") == [LIMITED]


def test_an_accounts_bucket_is_let_go_once_it_would_be_full_again(
    redis_client: redis.Redis, run: Run
) -> None:
    """Its ceiling refills within a minute (a missing bucket is a full one): the key goes
    after two, not with the profile's hour of counts."""
    send(run, [H], at=NOW)
    assert 60_000 < redis_client.pttl(hotlayer.account_key(1)) <= 120_000
    assert redis_client.pttl(hotlayer.limits_key("p")) > 3_600_000


def test_the_bucket_refills_at_its_rate(redis_client: redis.Redis, run: Run) -> None:
    send(run, [H] * 3, at=NOW)  # empty now; 60 a minute is one a second
    assert send(run, [H], at=NOW + 500) == [LIMITED]
    assert send(run, [H], at=NOW + 1_600) == [1]
    assert send(run, [H] * 4, at=NOW + 60_000) == [1, 1, 1, LIMITED]  # never above the burst


def test_pause_stop_and_seek_are_never_dropped_by_the_profile_limit(
    redis_client: redis.Redis, run: Run
) -> None:
    codes = send(run, [H] * 4 + [P, S, X, H], at=NOW)
    assert codes == [1, 1, 1, LIMITED, 1, 1, 1, LIMITED]


def test_the_hard_ceiling_stops_everything(
    redis_client: redis.Redis, run: Run, settings: Any
) -> None:
    settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE = 4
    codes = send(run, [P] * 6, at=NOW, burst=100)
    assert codes == [1, 1, 1, 1, LIMITED, LIMITED]
    settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE = 100
    settings.PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE = 5
    codes = send(run, [P] * 3, at=NOW, profile="q") + send(run, [S] * 3, at=NOW, profile="r")
    assert codes.count(LIMITED) == 1  # one account, five a minute across its profiles


def test_an_accounts_ceiling_holds_across_requests_taken_in_one_turn(
    redis_client: redis.Redis, run: Run, settings: Any
) -> None:
    """Requests of one account's profiles that a web process takes in one turn share a
    script call (hotlayer.ingest): they spend from the account's one bucket all the same."""
    settings.PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE = 2
    limits = Limits(account_id=1, per_profile=dict.fromkeys(("q", "r", "s"), (10, 60)))

    async def together() -> list[IngestOutcome]:
        requests = [
            [IngestItem(PlayState(profile, "m1", 1_000, NOW, "tv", P), None)]
            for profile in ("q", "r", "s")
        ]
        return list(
            await asyncio.gather(
                *(
                    hotlayer.ingest(items, now_ms=NOW, counters={}, limits=limits, may_create=True)
                    for items in requests
                )
            )
        )

    outcomes = run(together())
    # (which one: the first to reach Redis; on a cluster each request goes on its own)
    assert sorted(o.codes for o in outcomes) == [[1], [1], [LIMITED]]
    assert [o.retry_after_ms > 0 for o in outcomes] == [o.codes == [LIMITED] for o in outcomes]


def test_a_limited_heartbeat_keeps_its_event_id_for_the_retry(
    redis_client: redis.Redis, run: Run
) -> None:
    send(run, [H] * 3, at=NOW)
    item = IngestItem(PlayState("p", "m9", 5, NOW + 1, "tv", H), "e-9")
    limits = Limits(account_id=1, per_profile={"p": (3, 60)})
    first = ingest(run, [item], at=NOW, limits=limits)
    assert first.codes == [LIMITED]
    assert first.retry_after_ms == 1_000
    assert ingest(run, [item], at=NOW + 2_000, limits=limits).codes == [1]


def test_normal_viewing_is_never_limited_by_the_default(
    redis_client: redis.Redis, run: Run, settings: Any
) -> None:
    # Three devices, one heartbeat each every 10 s, for an hour.
    burst, per_minute = (
        settings.PLAYSTATE_RATE_LIMIT_BURST,
        settings.PLAYSTATE_RATE_LIMIT_PER_MINUTE,
    )
    for tick in range(360):
        codes = send(run, [H] * 3, at=NOW + tick * 10_000, burst=burst, per_minute=per_minute)
        assert LIMITED not in codes


@pytest.mark.django_db(transaction=True)
def test_overrides_and_the_default_come_from_the_database(alice: str, run: Run) -> None:
    ratelimit.clear_cache()
    assert ratelimit.limit_for(run(ratelimit.in_force()), "alice-tv") == ratelimit.Limit(30, 30)
    RateLimit.objects.create(burst=10, per_minute=20)
    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="alice-kids"), burst=2, per_minute=1
    )
    ratelimit.clear_cache()
    snapshot = run(ratelimit.in_force())
    assert ratelimit.limit_for(snapshot, "alice-tv") == ratelimit.Limit(10, 20)
    assert ratelimit.limit_for(snapshot, "alice-kids") == ratelimit.Limit(2, 1)


@pytest.mark.django_db(transaction=True)
def test_limits_past_their_time_are_read_once_for_every_heartbeat_waiting(
    alice: str, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = []
    load = ratelimit._load

    def counted() -> ratelimit.Snapshot:
        loads.append(load())
        return loads[-1]

    monkeypatch.setattr(ratelimit, "_load", counted)
    ratelimit.clear_cache()

    async def twenty_heartbeats_at_once() -> list[ratelimit.Snapshot]:
        return await asyncio.gather(*(ratelimit.in_force() for _ in range(20)))

    assert run(twenty_heartbeats_at_once()) == loads * 20
    assert len(loads) == 1


@pytest.mark.django_db(transaction=True)
def test_limits_are_read_again_before_their_time_runs_out(alice: str, run: Run) -> None:
    ratelimit.clear_cache()
    first = run(ratelimit.in_force())
    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="alice-kids"), burst=2, per_minute=1
    )
    # Due a reload, not past its time: still answered from, with no wait.
    stale = ratelimit._snapshot = replace(first, renew_at=0)

    async def until_reloaded() -> ratelimit.Snapshot:
        assert await ratelimit.in_force() is stale
        async with asyncio.timeout(10):
            while (snapshot := await ratelimit.in_force()).renew_at == 0:
                await asyncio.sleep(0.01)
        return snapshot

    assert ratelimit.limit_for(run(until_reloaded()), "alice-kids") == ratelimit.Limit(2, 1)
    ratelimit.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_limits_last_read_stay_in_force_while_the_database_hangs(
    alice: str, run: Run, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="alice-kids"), burst=2, per_minute=1
    )
    ratelimit.clear_cache()
    first = run(ratelimit.in_force())
    settings.PLAYSTATE_STORE_READ_TIMEOUT = 0.2
    answering = threading.Event()
    load = ratelimit._load

    def hung() -> ratelimit.Snapshot:
        answering.wait(30)
        return load()

    monkeypatch.setattr(ratelimit, "_load", hung)
    ratelimit._snapshot = replace(first, renew_at=0, expires=0)

    async def heartbeats_while_it_hangs() -> list[ratelimit.Snapshot]:
        async with asyncio.timeout(10):
            return [await ratelimit.in_force() for _ in range(3)]

    try:
        kept = run(heartbeats_while_it_hangs())
        assert [ratelimit.limit_for(s, "alice-kids") for s in kept] == [ratelimit.Limit(2, 1)] * 3
        # Once one waited for the database in vain, the others do not wait for it.
        assert all(s is kept[0] for s in kept)
    finally:
        answering.set()
    ratelimit._snapshot = replace(kept[0], renew_at=0)

    async def until_read_again() -> ratelimit.Snapshot:
        async with asyncio.timeout(10):
            while (snapshot := await ratelimit.in_force()).expires == kept[0].expires:
                await asyncio.sleep(0.01)
        return snapshot

    assert ratelimit.limit_for(run(until_read_again()), "alice-kids") == ratelimit.Limit(2, 1)
    ratelimit.clear_cache()


@pytest.mark.anyio
async def test_the_api_answers_429_when_every_heartbeat_was_limited(
    api: httpx.AsyncClient, alice: str
) -> None:
    profile = await Profile.objects.aget(profile_id="alice-tv")
    await database_sync_to_async(RateLimit.objects.create)(profile=profile, burst=2, per_minute=1)
    ratelimit.clear_cache()

    async def post(body: Any) -> httpx.Response:
        return await api.post(
            "/api/v1/heartbeats", json=body, headers={"Authorization": f"Bearer {alice}"}
        )

    t = now_s()
    batch = [heartbeat(movie_id=f"b{i}", client_request_time=t - 10 + i) for i in range(3)]
    answer = await post({"heartbeats": batch})
    assert answer.json() == {"accepted": 2, "rejected": [], "rate_limited": 1}
    refused = await post(heartbeat(movie_id="b9"))
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Too many heartbeats for this profile; retry later.",
        "rate_limited": 1,
    }
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await post(heartbeat(movie_id="b9", event_type="PAUSE"))).status_code == 202
    ratelimit.clear_cache()


@pytest.mark.django_db
def test_there_is_one_default_limit(alice: str) -> None:
    from django.db import IntegrityError, transaction

    RateLimit.objects.create(burst=10, per_minute=20)
    with pytest.raises(IntegrityError), transaction.atomic():
        RateLimit.objects.create(burst=11, per_minute=21)
    profile = Profile.objects.get(profile_id="alice-tv")
    RateLimit.objects.create(profile=profile, burst=1, per_minute=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        RateLimit.objects.create(profile=profile, burst=2, per_minute=2)
