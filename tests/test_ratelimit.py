"""Token buckets against a real Redis server: burst, refill, overrides, user actions kept,
hard ceilings; and what the API answers when the limiter refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from playstate import hotlayer, ratelimit
from playstate.domain import PlayState
from playstate.models import Profile, RateLimit
from playstate.validation import Heartbeat
from tests.cases import heartbeat, now_s

NOW = 1_800_000_000_000
LIMITED = hotlayer.RATE_LIMITED


def send(
    events: list[str], *, at: int, burst: int = 3, per_minute: int = 60, profile: str = "p"
) -> list[int]:
    beats = [
        Heartbeat(PlayState(profile, f"m{i}", i, at + i, "tv", event), None)
        for i, event in enumerate(events)
    ]
    limits = hotlayer.Limits(account_id=1, per_profile={profile: (burst, per_minute)})
    return hotlayer.ingest(beats, now_ms=at, counters={}, limits=limits, may_create=True).codes


def test_a_burst_passes_then_the_rest_is_limited(redis_client: redis.Redis) -> None:
    codes = send(["HEARTBEAT"] * 5, at=NOW)
    assert codes == [1, 1, 1, LIMITED, LIMITED]
    assert redis_client.hget(hotlayer.METRICS, "heartbeats_rate_limited") == "2"
    assert redis_client.hget(hotlayer.METRICS, "heartbeats_accepted") == "3"


def test_the_bucket_refills_at_its_rate(redis_client: redis.Redis) -> None:
    send(["HEARTBEAT"] * 3, at=NOW)  # empty now; 60 a minute is one a second
    assert send(["HEARTBEAT"], at=NOW + 500) == [LIMITED]
    assert send(["HEARTBEAT"], at=NOW + 1_600) == [1]
    assert send(["HEARTBEAT"] * 4, at=NOW + 60_000) == [1, 1, 1, LIMITED]  # never above the burst


def test_pause_stop_and_seek_are_never_dropped_by_the_profile_limit(
    redis_client: redis.Redis,
) -> None:
    codes = send(["HEARTBEAT"] * 4 + ["PAUSE", "SEEK", "STOP", "HEARTBEAT"], at=NOW)
    assert codes == [1, 1, 1, LIMITED, 1, 1, 1, LIMITED]


def test_the_hard_ceiling_stops_everything(redis_client: redis.Redis, settings: Any) -> None:
    settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE = 4
    codes = send(["PAUSE"] * 6, at=NOW, burst=100)
    assert codes == [1, 1, 1, 1, LIMITED, LIMITED]
    settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE = 100
    settings.PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE = 5
    codes = send(["PAUSE"] * 3, at=NOW, profile="q") + send(["SEEK"] * 3, at=NOW, profile="r")
    assert codes.count(LIMITED) == 1  # one account, five a minute across its profiles


def test_a_limited_heartbeat_keeps_its_event_id_for_the_retry(redis_client: redis.Redis) -> None:
    send(["HEARTBEAT"] * 3, at=NOW)
    state = PlayState("p", "m9", 5, NOW + 1, "tv", "HEARTBEAT")
    limits = hotlayer.Limits(account_id=1, per_profile={"p": (3, 60)})
    first = hotlayer.ingest(
        [Heartbeat(state, "e-9")], now_ms=NOW, counters={}, limits=limits, may_create=True
    )
    assert first.codes == [LIMITED]
    assert first.retry_after_ms == 1_000
    later = hotlayer.ingest(
        [Heartbeat(state, "e-9")], now_ms=NOW + 2_000, counters={}, limits=limits, may_create=True
    )
    assert later.codes == [1]


def test_normal_viewing_is_never_limited_by_the_default(
    redis_client: redis.Redis, settings: Any
) -> None:
    # Three devices, one heartbeat each every 10 s, for an hour.
    burst, per_minute = (
        settings.PLAYSTATE_RATE_LIMIT_BURST,
        settings.PLAYSTATE_RATE_LIMIT_PER_MINUTE,
    )
    for tick in range(360):
        codes = send(["HEARTBEAT"] * 3, at=NOW + tick * 10_000, burst=burst, per_minute=per_minute)
        assert LIMITED not in codes


@pytest.mark.django_db
def test_overrides_and_the_default_come_from_the_database(alice: str) -> None:
    ratelimit.clear_cache()
    assert ratelimit.limit_for(ratelimit.in_force(), "alice-tv") == ratelimit.Limit(30, 30)
    RateLimit.objects.create(burst=10, per_minute=20)
    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="alice-kids"), burst=2, per_minute=1
    )
    ratelimit.clear_cache()
    snapshot = ratelimit.in_force()
    assert ratelimit.limit_for(snapshot, "alice-tv") == ratelimit.Limit(10, 20)
    assert ratelimit.limit_for(snapshot, "alice-kids") == ratelimit.Limit(2, 1)


@pytest.mark.django_db
def test_the_api_answers_429_when_every_heartbeat_was_limited(api: APIClient, alice: str) -> None:
    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="alice-tv"), burst=2, per_minute=1
    )
    ratelimit.clear_cache()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice}"}

    def post(body: Any) -> Any:
        return api.post(
            "/api/v1/heartbeats", json.dumps(body), content_type="application/json", **auth
        )

    t = now_s()
    batch = [heartbeat(movie_id=f"b{i}", client_request_time=t - 10 + i) for i in range(3)]
    assert post({"heartbeats": batch}).json() == {"accepted": 2, "rejected": [], "rate_limited": 1}
    refused = post(heartbeat(movie_id="b9"))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert post(heartbeat(movie_id="b9", event_type="PAUSE")).status_code == 202
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
