"""The REST API in-process: the real ASGI application (`config.asgi`), with the fast path in
front and without it, against a real Redis server. No worker runs: a test that needs the
store written calls the worker's flush itself. The same behaviour over real sockets, with a
real worker, is in tests/e2e."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
import redis
from channels.db import database_sync_to_async
from django.db import OperationalError
from django.test import override_settings

from accounts import auth
from accounts.models import hash_token
from catalog import titles as catalog_titles
from catalog.models import Movie
from config.celery_app import app as celery_app
from core import redis as core_redis
from core.domain import EventType, PlayState
from core.outages import OutageLog
from history import codec
from history.store import StoreUnavailable, get_store
from playstate import hotlayer, ingest, ratelimit, scripts, selectors
from playstate.flush import pending_flush
from tests.cases import DURATION_MS, INVALID, Invalid, heartbeat, now_s

pytestmark = pytest.mark.anyio

HEARTBEATS = "/api/v1/heartbeats"


async def post(api: httpx.AsyncClient, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.post(HEARTBEATS, json=body, headers=headers)


async def get(api: httpx.AsyncClient, token: str, path: str) -> httpx.Response:
    return await api.get(path, headers={"Authorization": f"Bearer {token}"})


async def position(
    api: httpx.AsyncClient, token: str, profile: str = "alice-tv", movie: str = "m1"
) -> dict[str, Any]:
    response = await get(api, token, f"/api/v1/profiles/{profile}/positions/{movie}")
    assert response.status_code == 200
    return dict(response.json())


async def row(api: httpx.AsyncClient, token: str, profile: str = "alice-tv") -> list[Any]:
    response = await get(api, token, f"/api/v1/profiles/{profile}/continue-watching")
    assert response.status_code == 200
    return list(response.json()["results"])


async def remove(api: httpx.AsyncClient, token: str, movie: str = "m1") -> httpx.Response:
    return await api.delete(
        f"/api/v1/profiles/alice-tv/continue-watching/{movie}",
        headers={"Authorization": f"Bearer {token}"},
    )


def state(**overrides: Any) -> PlayState:
    values: dict[str, Any] = {
        "profile_id": "alice-tv",
        "movie_id": "m1",
        "position_ms": 1_000,
        "client_request_time": now_s() * 1000,
        "device_id": "tv_01",
        "event_type": EventType.HEARTBEAT,
        "duration_ms": DURATION_MS,
    }
    return PlayState(**(values | overrides))


async def test_it_accepts_a_heartbeat_and_reads_it_back(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    crt = now_s()
    response = await post(api, alice, heartbeat(video_timestamp_ms=61_000, client_request_time=crt))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": [], "rate_limited": 0}
    assert await position(api, alice) == {
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
async def test_it_refuses_invalid_heartbeats_and_changes_nothing(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_client: redis.Redis, case: Invalid
) -> None:
    response = await post(api, alice, case.body)
    assert response.status_code == 400
    assert case.field in response.json()
    assert (await position(api, alice))["source"] == "default"
    assert redis_client.keys("v1:playstats:*") == []


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
async def test_without_a_token_any_body_is_a_401(api: httpx.AsyncClient, case: Invalid) -> None:
    response = await post(api, None, case.body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_it_refuses_malformed_json(api: httpx.AsyncClient, alice: str) -> None:
    response = await api.post(
        HEARTBEATS,
        content=b"{nope",
        headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


async def test_it_refuses_a_form(api: httpx.AsyncClient, alice: str) -> None:
    response = await api.post(
        HEARTBEATS, data={"a": "b"}, headers={"Authorization": f"Bearer {alice}"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize("media_type", ["Application/JSON", "application/json; charset=UTF-8"])
async def test_it_takes_the_json_media_type_in_any_case(
    api: httpx.AsyncClient, alice: str, movie: Movie, media_type: str
) -> None:
    response = await api.post(
        HEARTBEATS,
        content=orjson.dumps(heartbeat()),
        headers={"Authorization": f"Bearer {alice}", "Content-Type": media_type},
    )
    assert response.status_code == 202


async def test_it_reports_each_item_of_a_batch(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    batch = [
        heartbeat(video_timestamp_ms=1_000),
        heartbeat(video_timestamp_ms=-5),
        heartbeat(movie_id="m2", video_timestamp_ms=2_000),
        heartbeat(profile_id="bob-phone"),
        heartbeat(event_type=[]),
    ]
    response = await post(api, alice, {"heartbeats": batch})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4]
    assert "video_timestamp_ms" in body["rejected"][0]["errors"]
    assert "profile_id" in body["rejected"][1]["errors"]
    assert "event_type" in body["rejected"][2]["errors"]
    assert (await position(api, alice, movie="m2"))["position_ms"] == 2_000


async def test_it_requires_a_token(api: httpx.AsyncClient, movie: Movie) -> None:
    response = await post(api, None, heartbeat())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    anonymous = await api.get("/api/v1/profiles/alice-tv/positions/m1")
    assert anonymous.status_code == 401


@pytest.mark.parametrize("header", ["Bearer nope", "Token abc", "Bearer"])
async def test_it_refuses_a_bad_token(api: httpx.AsyncClient, alice: str, header: str) -> None:
    headers = {"Authorization": header}
    assert (await api.post(HEARTBEATS, json=heartbeat(), headers=headers)).status_code == 401
    path = "/api/v1/profiles/alice-tv/positions/m1"
    assert (await api.get(path, headers=headers)).status_code == 401


async def test_a_token_reaches_only_its_own_profiles(
    api: httpx.AsyncClient, alice: str, bob: str, movie: Movie
) -> None:
    assert (await post(api, alice, heartbeat(video_timestamp_ms=5_000))).status_code == 202

    assert (await post(api, bob, heartbeat())).status_code == 403
    for path in (
        "/api/v1/profiles/alice-tv/positions/m1",
        "/api/v1/profiles/alice-tv/continue-watching",
        "/api/v1/profiles/alice-tv/history",
    ):
        response = await get(api, bob, path)
        assert response.status_code == 403
        assert "5000" not in response.text
    assert (await remove(api, bob)).status_code == 403
    assert [r["movie_id"] for r in await row(api, alice)] == ["m1"]


async def test_the_latest_client_time_wins_whatever_the_arrival_order(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    for offset, pos in [(20, 500_000), (0, 300_000), (30, 200_000), (10, 400_000)]:
        body = heartbeat(client_request_time=t - 60 + offset, video_timestamp_ms=pos)
        assert (await post(api, alice, body)).status_code == 202
    # The seek back at +30 s is the newest: it wins although its position is smallest.
    assert (await position(api, alice))["position_ms"] == 200_000


async def test_seconds_and_milliseconds_are_the_same_clock(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    t = now_s() - 100
    await post(api, alice, heartbeat(client_request_time=t, video_timestamp_ms=1_000))
    await post(api, alice, heartbeat(client_request_time=t * 1000 + 1, video_timestamp_ms=2_000))
    await post(api, alice, heartbeat(client_request_time=t - 1, video_timestamp_ms=3_000))
    body = await position(api, alice)
    assert (body["position_ms"], body["client_request_time"]) == (2_000, t * 1000 + 1)


async def test_a_retried_event_id_is_applied_once(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    t = now_s()
    first = heartbeat(client_request_time=t - 10, video_timestamp_ms=10_000, event_id="ev-1")
    assert (await post(api, alice, first)).json()["accepted"] == 1
    await post(api, alice, heartbeat(client_request_time=t - 5, video_timestamp_ms=20_000))
    retry = await post(api, alice, first)
    assert retry.status_code == 202
    assert retry.json()["accepted"] == 1
    assert (await position(api, alice))["position_ms"] == 20_000
    assert (await hotlayer.counters())["heartbeats_duplicate"] == 1


async def test_a_title_outside_the_catalog_is_tracked(api: httpx.AsyncClient, alice: str) -> None:
    body = heartbeat(movie_id="new-release", video_timestamp_ms=10**9)
    assert (await post(api, alice, body)).status_code == 202
    answer = await position(api, alice, movie="new-release")
    assert (answer["position_ms"], answer["duration_ms"], answer["completed"]) == (
        10**9,
        None,
        False,
    )


async def test_a_completed_title_resumes_at_zero_and_leaves_the_row(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    await post(
        api,
        alice,
        heartbeat(client_request_time=t - 20, video_timestamp_ms=int(DURATION_MS * 0.96)),
    )
    body = await position(api, alice)
    assert (body["position_ms"], body["completed"]) == (0, True)
    assert await row(api, alice) == []

    await post(api, alice, heartbeat(client_request_time=t - 10, video_timestamp_ms=240_000))
    body = await position(api, alice)
    assert (body["position_ms"], body["completed"]) == (240_000, False)
    assert [r["movie_id"] for r in await row(api, alice)] == ["m1"]


async def test_continue_watching_is_most_recent_first(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    for i, movie_id in enumerate(["a", "b", "c"]):
        body = heartbeat(
            movie_id=movie_id, client_request_time=t - 100 + i, video_timestamp_ms=1_000
        )
        await post(api, alice, body)
    await post(
        api, alice, heartbeat(movie_id="m1", client_request_time=t - 200, video_timestamp_ms=60_000)
    )
    items = await row(api, alice)
    assert [r["movie_id"] for r in items] == ["c", "b", "a", "m1"]
    assert items[-1] == {
        "movie_id": "m1",
        "title": "Film One",
        "position_ms": 60_000,
        "duration_ms": DURATION_MS,
        "progress": 0.1,
        "last_watched": (t - 200) * 1000,
        "device_id": "tv_01",
        "series_id": None,
        "next_up": False,
    }
    assert items[0]["progress"] is None
    path = "/api/v1/profiles/alice-tv/continue-watching"
    limited = (await get(api, alice, f"{path}?limit=2")).json()
    assert [r["movie_id"] for r in limited["results"]] == ["c", "b"]
    for bad in ("0", "101", "two", ""):
        response = await get(api, alice, f"{path}?limit={bad}")
        assert response.status_code == 400
        assert "limit" in response.json()


async def test_removing_a_title_hides_it_until_a_newer_heartbeat(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    t = now_s()
    await post(api, alice, heartbeat(client_request_time=t - 30, video_timestamp_ms=60_000))
    assert (await remove(api, alice)).status_code == 204
    assert await row(api, alice) == []
    assert (await position(api, alice))["position_ms"] == 60_000

    await post(api, alice, heartbeat(client_request_time=t - 40, video_timestamp_ms=10_000))
    assert await row(api, alice) == []
    await post(api, alice, heartbeat(client_request_time=t - 20, video_timestamp_ms=70_000))
    assert [r["position_ms"] for r in await row(api, alice)] == [70_000]


async def test_a_removal_reaches_the_store(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    await post(api, alice, heartbeat(video_timestamp_ms=60_000, event_type="PAUSE"))
    await remove(api, alice)
    await pending_flush()
    redis_client.flushall()
    assert await row(api, alice) == []
    assert (await position(api, alice))["source"] == "store"


async def stored(profile_id: str, movie_id: str) -> PlayState | None:
    found: PlayState | None = await database_sync_to_async(get_store().get)(profile_id, movie_id)
    return found


async def test_a_pause_is_due_at_once_and_plain_heartbeats_wait_for_the_window(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_client: redis.Redis, settings: Any
) -> None:
    # A plain heartbeat comes due somewhere in its window: a long one, so not during the test.
    settings.PLAYSTATE_COALESCE_WINDOW_MS = 30 * 86_400_000
    broker = redis.Redis.from_url(celery_app.conf.broker_url)
    t = now_s()
    await post(api, alice, heartbeat(client_request_time=t - 10, video_timestamp_ms=10_000))
    assert await pending_flush() == 0  # not due yet
    assert broker.llen("celery") == 0  # and no worker was asked to hurry
    assert await stored("alice-tv", "m1") is None
    body = heartbeat(client_request_time=t - 5, video_timestamp_ms=12_000, event_type="PAUSE")
    await post(api, alice, body)
    assert broker.llen("celery") == 1  # a worker is asked to flush now
    assert await pending_flush() == 1
    paused = await stored("alice-tv", "m1")
    assert paused is not None
    assert (paused.position_ms, paused.event_type) == (12_000, "PAUSE")


async def test_a_session_start_reads_the_store_first_then_runs_the_script_once(
    api: httpx.AsyncClient, alice: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    script, command = scripts.INGEST, core_redis.hot_command

    class CountedScript:
        async def __call__(
            self, keys: list[str], args: list[str | int], *, batched: bool = True
        ) -> Any:
            calls["script"] += 1
            return await script(keys, args, batched=batched)

    async def counted_command(*args: Any) -> Any:
        calls[str(args[0])] += 1
        return await command(*args)

    monkeypatch.setattr(scripts, "INGEST", CountedScript())
    monkeypatch.setattr(hotlayer, "hot_command", counted_command)
    movie_id = f"start-{uuid.uuid4().hex}"  # a title no process has met
    t = now_s()
    first = heartbeat(movie_id=movie_id, client_request_time=t - 2, video_timestamp_ms=1_000)
    assert (await post(api, alice, first)).status_code == 202
    # One look, then the store, then one script call that may create the title.
    assert (calls["script"], calls["EXISTS"]) == (1, 1)
    again = heartbeat(movie_id=movie_id, client_request_time=t - 1, video_timestamp_ms=2_000)
    assert (await post(api, alice, again)).status_code == 202
    # A title this process has met goes straight to the script.
    assert (calls["script"], calls["EXISTS"]) == (2, 1)
    assert (await position(api, alice, movie=movie_id))["position_ms"] == 2_000


async def test_a_cache_miss_reads_the_store_and_repairs_the_cache(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    await post(api, alice, heartbeat(video_timestamp_ms=42_000, event_type="STOP"))
    await pending_flush()
    redis_client.delete("v1:playstats:{alice-tv}:m1")
    first = await position(api, alice)
    assert (first["position_ms"], first["source"]) == (42_000, "store")
    assert (await position(api, alice))["source"] == "cache"


async def test_cache_misses_of_one_moment_share_one_database_call(
    api: httpx.AsyncClient,
    alice: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    stored = [state(movie_id=f"t{i}", position_ms=10_000 + i) for i in range(10)]
    store = get_store()
    await database_sync_to_async(store.write)(stored)
    await position(api, alice, movie="warm")  # the token in this process's cache
    calls: list[list[tuple[str, str]]] = []
    get_many = store.get_many

    def counted(keys: list[tuple[str, str]]) -> list[PlayState | None]:
        calls.append(keys)
        return get_many(keys)

    monkeypatch.setattr(store, "get_many", counted)
    bodies = await asyncio.gather(*(position(api, alice, movie=s.movie_id) for s in stored))
    assert [(b["position_ms"], b["source"]) for b in bodies] == [
        (s.position_ms, "store") for s in stored
    ]
    assert sorted(key for keys in calls for key in keys) == sorted(
        ("alice-tv", s.movie_id) for s in stored
    )
    again = await asyncio.gather(*(position(api, alice, movie=s.movie_id) for s in stored))
    assert {b["source"] for b in again} == {"cache"}  # each read repaired the cache
    # As served: one pipeline answers the misses together, so they reach the store in one
    # turn (DRF's views, and a Redis Cluster's command per node, answer them apart).
    if request.node.callspec.params["api"] == "fast path" and not core_redis.hot_clustered():
        assert len(calls) == 1


async def test_a_token_first_met_by_requests_of_one_moment_costs_one_query(
    api: httpx.AsyncClient,
    alice: str,
    bob: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """A process that starts under load meets each token with many requests at once."""
    auth.clear_cache()
    loads: list[set[str]] = []
    load_many = auth._load_many

    def counted(key_hashes: set[str]) -> dict[str, auth.Principal | None]:
        loads.append(set(key_hashes))
        return load_many(key_hashes)

    monkeypatch.setattr(auth, "_load_many", counted)
    reads = [position(api, alice, movie=f"m{i}") for i in range(8)]
    reads += [position(api, bob, profile="bob-phone", movie=f"m{i}") for i in range(4)]
    bodies = await asyncio.gather(*reads)
    assert [b["position_ms"] for b in bodies] == [0] * 12
    assert {k for keys in loads for k in keys} == {hash_token(alice), hash_token(bob)}
    # As served: the fast path's requests of one moment reach their token check in one turn
    # (DRF's views each run on a loop of their own).
    if request.node.callspec.params["api"] == "fast path":
        assert len(loads) == 1
    queries = len(loads)
    await position(api, alice, movie="m0")
    assert len(loads) == queries  # met now: answered from the cache


async def test_a_late_heartbeat_for_an_expired_title_does_not_undo_the_store(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_client: redis.Redis
) -> None:
    t = now_s()
    body = heartbeat(client_request_time=t - 10, video_timestamp_ms=90_000, event_type="PAUSE")
    await post(api, alice, body)
    await pending_flush()
    redis_client.delete("v1:playstats:{alice-tv}:m1", "v1:recent:{alice-tv}")
    late = heartbeat(client_request_time=t - 500, video_timestamp_ms=5_000)
    assert (await post(api, alice, late)).status_code == 202
    answer = await position(api, alice)
    assert (answer["position_ms"], answer["source"]) == (90_000, "cache")
    assert [r["position_ms"] for r in await row(api, alice)] == [90_000]


@pytest.fixture(params=[False, True], ids=["redis down", "redis cluster down"])
def redis_down(redis_client: redis.Redis, request: pytest.FixtureRequest) -> Any:
    with override_settings(
        REDIS_URL="redis://127.0.0.1:9/0",
        PLAYSTATE_HOT_REDIS_URL="redis://127.0.0.1:9/0",
        PLAYSTATE_HOT_REDIS_CLUSTER=request.param,
    ):
        core_redis.reset_clients()
        yield
    core_redis.reset_clients()


async def test_with_redis_down_ingest_answers_503_and_resume_falls_back(
    api: httpx.AsyncClient, alice: str, movie: Movie, redis_down: None
) -> None:
    response = await post(api, alice, heartbeat())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert (await position(api, alice))["source"] == "default"
    await database_sync_to_async(get_store().write)([state(position_ms=7_000)])
    body = await position(api, alice)
    assert (body["position_ms"], body["source"]) == (7_000, "store")
    assert (await row(api, alice))[0]["position_ms"] == 7_000
    assert (await remove(api, alice)).status_code == 503


async def test_an_outage_is_one_log_line_not_a_traceback_per_heartbeat(
    api: httpx.AsyncClient,
    alice: str,
    movie: Movie,
    redis_down: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(ingest, "outages", OutageLog(ingest.logger, "503 meanwhile"))
    monkeypatch.setattr(selectors, "outages", OutageLog(selectors.logger, "reads fall back"))
    for _ in range(5):
        assert (await post(api, alice, heartbeat())).status_code == 503
        assert (await position(api, alice))["source"] == "default"
    for name in ("playstate.ingest", "playstate.selectors"):
        said = [r for r in caplog.records if r.name == name]
        assert [r.getMessage().split(" (")[0] for r in said] == ["the hot layer is unavailable"]
        assert said[0].exc_info is None


async def test_with_the_store_down_too_resume_answers_zero(
    api: httpx.AsyncClient,
    alice: str,
    movie: Movie,
    monkeypatch: pytest.MonkeyPatch,
    redis_down: None,
) -> None:
    store = get_store()

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("database is gone")

    for operation in ("get_many", "changed_since", "compressed"):
        monkeypatch.setattr(store, operation, down)
    body = await position(api, alice)
    assert (body["position_ms"], body["source"]) == (0, "default")
    assert await row(api, alice) == []
    history = await get(api, alice, "/api/v1/profiles/alice-tv/history")
    assert history.status_code == 503
    assert history.headers["Retry-After"] == "1"


async def test_password_guessing_is_throttled(api: httpx.AsyncClient, alice: str) -> None:
    answers = [
        await api.post("/api/v1/auth/token", json={"username": "alice", "password": f"guess{i}"})
        for i in range(11)
    ]
    assert [a.status_code for a in answers] == [400] * 10 + [429]


async def test_apps_log_in_for_a_token(api: httpx.AsyncClient, alice: str) -> None:
    credentials = {"username": "alice", "password": "a-long-passphrase"}
    response = await api.post("/api/v1/auth/token", json=credentials)
    assert response.status_code == 200
    assert (await position(api, response.json()["token"]))["source"] == "default"
    wrong = await api.post("/api/v1/auth/token", json={"username": "alice", "password": "x"})
    assert wrong.status_code == 400
    assert "token" not in wrong.json()


@pytest.mark.parametrize(
    "body", [{"username": ["alice"], "password": "x"}, {"username": "alice"}, [], "alice"]
)
async def test_a_malformed_login_is_a_400(api: httpx.AsyncClient, body: object) -> None:
    response = await api.post("/api/v1/auth/token", json=body)
    assert response.status_code == 400


async def test_history_merges_recent_and_compacted_titles_newest_first(
    api: httpx.AsyncClient, alice: str, movie: Movie
) -> None:
    t = now_s() * 1000
    compacted = [
        state(movie_id=f"old-{i}", client_request_time=t - (400 - i) * 86_400_000, position_ms=i)
        for i in range(5)
    ]
    # "old-4" was watched again recently: the newer state wins, and it is listed once.
    compacted.append(state(movie_id="m1", client_request_time=t - 500 * 86_400_000))
    await database_sync_to_async(get_store().write_compressed)(
        "alice-tv", codec.encode(compacted), chunk_size=64
    )
    await post(
        api,
        alice,
        heartbeat(movie_id="old-4", client_request_time=t - 5_000, video_timestamp_ms=77_000),
    )
    finished = int(DURATION_MS * 0.99)
    await post(
        api,
        alice,
        heartbeat(movie_id="m1", client_request_time=t - 1_000, video_timestamp_ms=finished),
    )

    path = "/api/v1/profiles/alice-tv/history"
    first = (await get(api, alice, f"{path}?limit=3")).json()
    assert [r["movie_id"] for r in first["results"]] == ["m1", "old-4", "old-3"]
    assert first["results"][0] == {
        "movie_id": "m1",
        "position_ms": finished,
        "duration_ms": DURATION_MS,
        "completed": True,
        "last_watched": t - 1_000,
        "device_id": "tv_01",
        "title": "Film One",
        "series_id": None,
        "season": None,
        "episode": None,
    }
    assert first["results"][1]["position_ms"] == 77_000
    second = (await get(api, alice, f"{path}?limit=3&cursor={first['next']}")).json()
    assert [r["movie_id"] for r in second["results"]] == ["old-2", "old-1", "old-0"]
    assert second["next"] is None
    for bad in ("@@@", "bm90LWEtY3Vyc29y", ""):
        response = await get(api, alice, f"{path}?cursor={bad}")
        assert response.status_code == 400
        assert "cursor" in response.json()


async def test_resume_of_a_compacted_title(api: httpx.AsyncClient, alice: str) -> None:
    old = state(
        movie_id="classic",
        position_ms=1_234_000,
        client_request_time=now_s() * 1000 - 10**11,
        duration_ms=None,
    )
    await database_sync_to_async(get_store().write_compressed)(
        "alice-tv", codec.encode([old]), chunk_size=1024
    )
    body = await position(api, alice, movie="classic")
    assert (body["position_ms"], body["source"]) == (1_234_000, "store")
    assert (await position(api, alice, movie="classic"))["source"] == "cache"


async def test_with_the_database_down_heartbeats_are_taken_and_resume_never_fails(
    api: httpx.AsyncClient,
    alice: str,
    bob: str,
    movie: Movie,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL down: heartbeats were a 500 with a traceback each (the rate limits are
    read again every few seconds), and a resume read of a title the process had not met was
    a 500 (its catalog entry)."""
    assert (await post(api, alice, heartbeat(event_type="PAUSE"))).status_code == 202
    assert (await get(api, bob, "/api/v1/profiles/bob-phone/history")).status_code == 200
    ratelimit.clear_cache()
    monkeypatch.setattr(auth, "outages", OutageLog(auth.logger, "as last read"))

    def down(*args: object) -> None:
        raise OperationalError("connection to server failed")

    monkeypatch.setattr(ratelimit, "_load", down)
    monkeypatch.setattr(catalog_titles._titles, "_load", down)
    monkeypatch.setattr(auth, "_load_many", down)
    for k in range(3):
        body = heartbeat(movie_id=f"unmet-{k}", video_timestamp_ms=240_000, event_type="PAUSE")
        assert (await post(api, alice, body)).status_code == 202
        assert (await position(api, alice, movie=f"unmet-{k}"))["position_ms"] == 240_000
    assert (await position(api, alice, profile="alice-kids", movie="m1"))["source"] == "default"
    # A token this process has not met cannot be checked: not taken, and never an error
    # that blocks playback (nothing known: play from the start).
    stranger = {"Authorization": "Bearer never-met"}
    refused = await api.post(HEARTBEATS, json=heartbeat(), headers=stranger)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    resume = await api.get("/api/v1/profiles/alice-tv/positions/m1", headers=stranger)
    if resume.status_code == 200:  # the fast path; Django's view answers 503
        assert (resume.json()["position_ms"], resume.json()["source"]) == (0, "default")
    else:
        assert (resume.status_code, resume.headers["Retry-After"]) == (503, "1")
    # Bob's token, met before: he still reaches his profile and not Alice's.
    assert (await get(api, bob, "/api/v1/profiles/alice-tv/positions/m1")).status_code == 403
    assert not [r for r in caplog.records if r.exc_info]
    said = [r.getMessage() for r in caplog.records if r.name == "accounts.auth"]
    assert len(said) == 1, said
    assert said[0].startswith("the database is unavailable")


async def test_cached_tokens_stay_out_of_the_garbage_collector_s_full_passes(
    api: httpx.AsyncClient, alice: str, bob: str
) -> None:
    """A full collection stops the event loop for as long as it walks what it tracks: with a
    token cached as objects it tracks, 6,000 tokens made passes of 16-60 ms under load."""
    await position(api, alice, "alice-tv")
    await position(api, bob, "bob-phone")
    # A pass stops tracking a tuple whose items it has stopped tracking; the profiles' tuple
    # may come after its entry in the pass's list, so the entry goes in the next pass.
    gc.collect()
    gc.collect()
    assert len(auth._cache) == 2
    assert not [entry for entry in auth._cache.values() if gc.is_tracked(entry)]
    assert (await get(api, alice, "/api/v1/profiles/alice-kids/positions/m1")).status_code == 200
    assert (await get(api, alice, "/api/v1/profiles/bob-phone/positions/m1")).status_code == 403


@pytest.mark.parametrize("api", ["fast path"], indirect=True)
async def test_a_database_that_hangs_does_not_hold_heartbeats(
    api: httpx.AsyncClient,
    alice: str,
    movie: Movie,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    """A PostgreSQL server that stops answering (or a frozen store holding the database
    thread): once the rate limits ran out, every heartbeat waited for their read, and one
    with a token not met yet for its own, for as long as the database took. (The DRF views
    behind PLAYSTATE_FAST_PATH=false are synchronous: a query holds the request's thread, as
    in any Django view, until the database's own timeouts.)"""
    assert (await post(api, alice, heartbeat(event_type="PAUSE"))).status_code == 202
    assert ratelimit._snapshot is not None  # the token and the limits, read
    settings.PLAYSTATE_STORE_READ_TIMEOUT = 0.2
    frozen = threading.Event()

    def hangs(*args: object) -> None:
        frozen.wait(60)  # until the heartbeats are answered: the database never answers
        raise OperationalError("no answer")

    monkeypatch.setattr(ratelimit, "_load", hangs)
    monkeypatch.setattr(catalog_titles._titles, "_load", hangs)
    monkeypatch.setattr(auth, "_load_many", hangs)
    ratelimit._snapshot = replace(ratelimit._snapshot, renew_at=0, expires=0)
    stranger = {"Authorization": "Bearer never-met"}

    async def while_it_hangs() -> tuple[list[int], httpx.Response]:
        taken = [
            (await post(api, alice, heartbeat(movie_id=f"unmet-{k}", event_type="PAUSE")))
            for k in range(3)
        ]
        refused = await api.post(HEARTBEATS, json=heartbeat(), headers=stranger)
        return [answer.status_code for answer in taken], refused

    try:
        taken, refused = await asyncio.wait_for(while_it_hangs(), 30)
    finally:
        frozen.set()
    assert taken == [202] * 3
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert (await position(api, alice, movie="unmet-2"))["source"] == "cache"


async def test_a_store_that_hangs_does_not_hold_the_resume_read(
    api: httpx.AsyncClient,
    alice: str,
    movie: Movie,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    """A frozen Cassandra node: resume reads of titles not in the cache waited 20 to 60 s
    (each behind the others on the database thread); each now gives up at its deadline."""
    assert (await position(api, alice))["source"] == "default"  # the token, met
    settings.PLAYSTATE_STORE_READ_TIMEOUT = 0.2
    store = get_store()

    frozen = threading.Event()

    def hangs(keys: list[object]) -> list[None]:
        frozen.wait(60)  # until the reads are answered: the store never answers them
        return [None] * len(keys)

    monkeypatch.setattr(store, "get_many", hangs)
    reads = asyncio.gather(*(position(api, alice, movie=f"cold-{k}") for k in range(3)))
    try:
        answers = await asyncio.wait_for(reads, 30)
    finally:
        frozen.set()
    assert [(a["position_ms"], a["source"]) for a in answers] == [(0, "default")] * 3
