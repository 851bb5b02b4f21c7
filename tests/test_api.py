"""The REST API in-process (DRF views, Django test client) against a real Redis server;
Celery tasks run eagerly. The same behaviour over HTTP is in tests/e2e."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.test import override_settings
from rest_framework.test import APIClient

from history.store import get_store
from playstate import services
from playstate.models import Movie
from tests.cases import DURATION_MS, INVALID, Invalid, heartbeat, now_s

pytestmark = pytest.mark.django_db

HEARTBEATS = "/api/v1/heartbeats"


def post(api: APIClient, token: str | None, body: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.post(HEARTBEATS, data=json.dumps(body), content_type="application/json", **headers)


def get(api: APIClient, token: str, path: str) -> Any:
    return api.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def position(api: APIClient, token: str, profile: str = "alice-tv", movie: str = "m1") -> Any:
    response = get(api, token, f"/api/v1/profiles/{profile}/positions/{movie}")
    assert response.status_code == 200
    return response.json()


def row(api: APIClient, token: str, profile: str = "alice-tv") -> list[dict[str, Any]]:
    response = get(api, token, f"/api/v1/profiles/{profile}/continue-watching")
    assert response.status_code == 200
    return list(response.json()["results"])


def test_it_accepts_a_heartbeat_and_reads_it_back(api: APIClient, alice: str, movie: Movie) -> None:
    crt = now_s()
    response = post(api, alice, heartbeat(video_timestamp_ms=61_000, client_request_time=crt))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": [], "rate_limited": 0}
    assert position(api, alice) == {
        "profile_id": "alice-tv",
        "movie_id": "m1",
        "position_ms": 61_000,
        "duration_ms": DURATION_MS,
        "completed": False,
        "client_request_time": crt * 1000,
        "device_id": "tv_01",
        "event_type": "HEARTBEAT",
        "source": "cache",
    }


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_it_refuses_invalid_heartbeats_and_changes_nothing(
    api: APIClient, alice: str, movie: Movie, redis_client: redis.Redis, case: Invalid
) -> None:
    response = post(api, alice, case.body)
    assert response.status_code == 400
    assert case.field in response.json()
    assert position(api, alice)["source"] == "default"
    assert redis_client.keys("v1:playstats:*") == []


def test_it_refuses_malformed_json(api: APIClient, alice: str) -> None:
    response = api.post(
        HEARTBEATS,
        data="{nope",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {alice}",
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_it_reports_each_item_of_a_batch(api: APIClient, alice: str, movie: Movie) -> None:
    batch = [
        heartbeat(video_timestamp_ms=1_000),
        heartbeat(video_timestamp_ms=-5),
        heartbeat(movie_id="m2", video_timestamp_ms=2_000),
        heartbeat(profile_id="bob-phone"),
    ]
    response = post(api, alice, {"heartbeats": batch})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert "video_timestamp_ms" in body["rejected"][0]["errors"]
    assert "profile_id" in body["rejected"][1]["errors"]
    assert position(api, alice, movie="m2")["position_ms"] == 2_000


def test_it_requires_a_token(api: APIClient, movie: Movie) -> None:
    response = post(api, None, heartbeat())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nope", "Token abc", "Bearer"])
def test_it_refuses_a_bad_token(api: APIClient, alice: str, header: str) -> None:
    response = api.post(
        HEARTBEATS, data=json.dumps(heartbeat()), content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )  # fmt: skip
    assert response.status_code == 401


def test_a_token_reaches_only_its_own_profiles(
    api: APIClient, alice: str, bob: str, movie: Movie
) -> None:
    assert post(api, alice, heartbeat(video_timestamp_ms=5_000)).status_code == 202

    assert post(api, bob, heartbeat()).status_code == 403
    for path in (
        "/api/v1/profiles/alice-tv/positions/m1",
        "/api/v1/profiles/alice-tv/continue-watching",
    ):
        response = get(api, bob, path)
        assert response.status_code == 403
        assert "5000" not in response.content.decode()
    delete = api.delete(
        "/api/v1/profiles/alice-tv/continue-watching/m1", HTTP_AUTHORIZATION=f"Bearer {bob}"
    )
    assert delete.status_code == 403
    assert [r["movie_id"] for r in row(api, alice)] == ["m1"]


def test_the_latest_client_time_wins_whatever_the_arrival_order(
    api: APIClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    for offset, pos in [(20, 300_000), (0, 100_000), (30, 50_000), (10, 200_000)]:
        assert (
            post(
                api, alice, heartbeat(client_request_time=t - 60 + offset, video_timestamp_ms=pos)
            ).status_code
            == 202
        )
    # The seek back at +30 s is the newest: it wins although its position is smallest.
    assert position(api, alice)["position_ms"] == 50_000


def test_seconds_and_milliseconds_are_the_same_clock(
    api: APIClient, alice: str, movie: Movie
) -> None:
    t = now_s() - 100
    post(api, alice, heartbeat(client_request_time=t, video_timestamp_ms=1_000))
    post(api, alice, heartbeat(client_request_time=t * 1000 + 1, video_timestamp_ms=2_000))
    post(api, alice, heartbeat(client_request_time=t - 1, video_timestamp_ms=3_000))
    body = position(api, alice)
    assert (body["position_ms"], body["client_request_time"]) == (2_000, t * 1000 + 1)


def test_a_retried_event_id_is_applied_once(
    api: APIClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    t = now_s()
    first = heartbeat(client_request_time=t - 10, video_timestamp_ms=10_000, event_id="ev-1")
    assert post(api, alice, first).json()["accepted"] == 1
    post(api, alice, heartbeat(client_request_time=t - 5, video_timestamp_ms=20_000))
    retry = post(api, alice, first)
    assert retry.status_code == 202
    assert retry.json()["accepted"] == 1
    assert position(api, alice)["position_ms"] == 20_000
    assert redis_client.hget("v1:metrics", "heartbeats_duplicate") == "1"


def test_a_title_outside_the_catalog_is_tracked(api: APIClient, alice: str) -> None:
    assert (
        post(api, alice, heartbeat(movie_id="new-release", video_timestamp_ms=10**9)).status_code
        == 202
    )
    body = position(api, alice, movie="new-release")
    assert (body["position_ms"], body["duration_ms"], body["completed"]) == (10**9, None, False)


def test_a_completed_title_resumes_at_zero_and_leaves_the_row(
    api: APIClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    post(
        api,
        alice,
        heartbeat(client_request_time=t - 20, video_timestamp_ms=int(DURATION_MS * 0.96)),
    )
    body = position(api, alice)
    assert (body["position_ms"], body["completed"]) == (0, True)
    assert row(api, alice) == []

    post(api, alice, heartbeat(client_request_time=t - 10, video_timestamp_ms=30_000))
    body = position(api, alice)
    assert (body["position_ms"], body["completed"]) == (30_000, False)
    assert [r["movie_id"] for r in row(api, alice)] == ["m1"]


def test_continue_watching_is_most_recent_first(api: APIClient, alice: str, movie: Movie) -> None:
    t = now_s()
    for i, movie_id in enumerate(["a", "b", "c"]):
        post(
            api,
            alice,
            heartbeat(movie_id=movie_id, client_request_time=t - 100 + i, video_timestamp_ms=1_000),
        )
    post(
        api, alice, heartbeat(movie_id="m1", client_request_time=t - 200, video_timestamp_ms=60_000)
    )
    items = row(api, alice)
    assert [r["movie_id"] for r in items] == ["c", "b", "a", "m1"]
    assert items[-1] == {
        "movie_id": "m1",
        "position_ms": 60_000,
        "duration_ms": DURATION_MS,
        "progress": 0.1,
        "last_watched": (t - 200) * 1000,
        "device_id": "tv_01",
    }
    assert items[0]["progress"] is None
    limited = get(api, alice, "/api/v1/profiles/alice-tv/continue-watching?limit=2").json()
    assert [r["movie_id"] for r in limited["results"]] == ["c", "b"]
    assert get(api, alice, "/api/v1/profiles/alice-tv/continue-watching?limit=0").status_code == 400


def test_removing_a_title_hides_it_until_a_newer_heartbeat(
    api: APIClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    post(api, alice, heartbeat(client_request_time=t - 30, video_timestamp_ms=60_000))
    response = api.delete(
        "/api/v1/profiles/alice-tv/continue-watching/m1", HTTP_AUTHORIZATION=f"Bearer {alice}"
    )
    assert response.status_code == 204
    assert row(api, alice) == []
    assert position(api, alice)["position_ms"] == 60_000

    post(api, alice, heartbeat(client_request_time=t - 40, video_timestamp_ms=10_000))
    assert row(api, alice) == []
    post(api, alice, heartbeat(client_request_time=t - 20, video_timestamp_ms=70_000))
    assert [r["position_ms"] for r in row(api, alice)] == [70_000]


def test_a_removal_reaches_the_store(
    api: APIClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    post(api, alice, heartbeat(video_timestamp_ms=60_000, event_type="PAUSE"))
    api.delete(
        "/api/v1/profiles/alice-tv/continue-watching/m1", HTTP_AUTHORIZATION=f"Bearer {alice}"
    )
    services.pending_flush()
    redis_client.flushall()
    assert row(api, alice) == []
    assert position(api, alice)["source"] == "store"


def test_a_pause_is_persisted_at_once_and_plain_heartbeats_wait_for_the_window(
    api: APIClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    post(api, alice, heartbeat(client_request_time=t - 10, video_timestamp_ms=10_000))
    assert get_store().get("alice-tv", "m1") is None
    post(
        api,
        alice,
        heartbeat(client_request_time=t - 5, video_timestamp_ms=12_000, event_type="PAUSE"),
    )
    stored = get_store().get("alice-tv", "m1")
    assert stored is not None
    assert (stored.position_ms, stored.event_type) == (12_000, "PAUSE")


def test_a_cache_miss_reads_the_store_and_repairs_the_cache(
    api: APIClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    post(api, alice, heartbeat(video_timestamp_ms=42_000, event_type="STOP"))
    redis_client.delete("v1:playstats:alice-tv:m1")
    first = position(api, alice)
    assert (first["position_ms"], first["source"]) == (42_000, "store")
    assert position(api, alice)["source"] == "cache"


def test_a_late_heartbeat_for_an_expired_title_does_not_undo_the_store(
    api: APIClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    t = now_s()
    post(
        api,
        alice,
        heartbeat(client_request_time=t - 10, video_timestamp_ms=90_000, event_type="PAUSE"),
    )
    redis_client.delete("v1:playstats:alice-tv:m1", "v1:recent:alice-tv")
    assert (
        post(
            api, alice, heartbeat(client_request_time=t - 500, video_timestamp_ms=5_000)
        ).status_code
        == 202
    )
    body = position(api, alice)
    assert (body["position_ms"], body["source"]) == (90_000, "cache")
    assert [r["position_ms"] for r in row(api, alice)] == [90_000]


@override_settings(REDIS_URL="redis://127.0.0.1:9/0")
def test_with_redis_down_ingest_answers_503_and_resume_falls_back(
    api: APIClient, alice: str, movie: Movie
) -> None:
    from playstate import hotlayer

    hotlayer.reset_clients()
    response = post(api, alice, heartbeat())
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert position(api, alice)["source"] == "default"
    get_store().write([_state(position_ms=7_000)])
    body = position(api, alice)
    assert (body["position_ms"], body["source"]) == (7_000, "store")
    assert row(api, alice)[0]["position_ms"] == 7_000
    hotlayer.reset_clients()


def _state(**overrides: Any) -> Any:
    from playstate.domain import PlayState

    values: dict[str, Any] = {
        "profile_id": "alice-tv",
        "movie_id": "m1",
        "position_ms": 1_000,
        "client_request_time": now_s() * 1000,
        "device_id": "tv_01",
        "event_type": "HEARTBEAT",
        "duration_ms": DURATION_MS,
    }
    return PlayState(**(values | overrides))


def test_with_the_store_down_too_resume_answers_zero(
    api: APIClient, alice: str, movie: Movie, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    store = get_store()

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("database is gone")

    monkeypatch.setattr(store, "get", down)
    monkeypatch.setattr(store, "continue_watching", down)
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):
        from playstate import hotlayer

        hotlayer.reset_clients()
        body = position(api, alice)
        assert (body["position_ms"], body["source"]) == (0, "default")
        assert row(api, alice) == []
    hotlayer.reset_clients()


def test_password_guessing_is_throttled(api: APIClient, alice: str) -> None:
    answers = [
        api.post(
            "/api/v1/auth/token", {"username": "alice", "password": f"guess{i}"}, format="json"
        )
        for i in range(11)
    ]
    assert [a.status_code for a in answers] == [400] * 10 + [429]


def test_apps_log_in_for_a_token(api: APIClient, alice: str) -> None:
    response = api.post(
        "/api/v1/auth/token", {"username": "alice", "password": "a-long-passphrase"}, format="json"
    )
    assert response.status_code == 200
    assert position(api, response.json()["token"])["source"] == "default"
    wrong = api.post("/api/v1/auth/token", {"username": "alice", "password": "x"}, format="json")
    assert wrong.status_code == 400
    assert "token" not in wrong.json()


def test_the_catalog_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from playstate import catalog

    monkeypatch.setattr(catalog, "MAX_ENTRIES", 10)
    catalog.clear_cache()
    for i in range(25):
        catalog.durations([f"random-{i}"])
    assert len(catalog._cache) <= 10


def test_history_merges_recent_and_compacted_titles_newest_first(
    api: APIClient, alice: str, movie: Movie
) -> None:
    from history import codec

    t = now_s() * 1000
    compacted = [
        _state(movie_id=f"old-{i}", client_request_time=t - (400 - i) * 86_400_000, position_ms=i)
        for i in range(5)
    ]
    # "old-4" was watched again recently: the newer state wins, and it is listed once.
    compacted.append(_state(movie_id="m1", client_request_time=t - 500 * 86_400_000))
    get_store().write_compressed("alice-tv", codec.encode(compacted), chunk_size=64)
    post(
        api,
        alice,
        heartbeat(movie_id="old-4", client_request_time=t - 5_000, video_timestamp_ms=77_000),
    )
    post(
        api,
        alice,
        heartbeat(
            movie_id="m1", client_request_time=t - 1_000, video_timestamp_ms=int(DURATION_MS * 0.99)
        ),
    )

    first = get(api, alice, "/api/v1/profiles/alice-tv/history?limit=3").json()
    assert [r["movie_id"] for r in first["results"]] == ["m1", "old-4", "old-3"]
    assert first["results"][0] == {
        "movie_id": "m1",
        "position_ms": int(DURATION_MS * 0.99),
        "duration_ms": DURATION_MS,
        "completed": True,
        "last_watched": t - 1_000,
        "device_id": "tv_01",
    }
    assert first["results"][1]["position_ms"] == 77_000
    second = get(
        api, alice, f"/api/v1/profiles/alice-tv/history?limit=3&cursor={first['next']}"
    ).json()
    assert [r["movie_id"] for r in second["results"]] == ["old-2", "old-1", "old-0"]
    assert second["next"] is None
    assert get(api, alice, "/api/v1/profiles/alice-tv/history?cursor=@@@").status_code == 400


def test_resume_of_a_compacted_title(api: APIClient, alice: str) -> None:
    from history import codec

    old = _state(
        movie_id="classic",
        position_ms=1_234_000,
        client_request_time=now_s() * 1000 - 10**11,
        duration_ms=None,
    )
    get_store().write_compressed("alice-tv", codec.encode([old]), chunk_size=1024)
    body = position(api, alice, movie="classic")
    assert (body["position_ms"], body["source"]) == (1_234_000, "store")
    assert position(api, alice, movie="classic")["source"] == "cache"


def test_history_of_someone_elses_profile_is_refused(api: APIClient, alice: str, bob: str) -> None:
    assert get(api, bob, "/api/v1/profiles/alice-tv/history").status_code == 403
