"""The whole slice over HTTP against the real parts: Redis server, two ASGI worker
processes (the fast path), a Celery worker process with beat, SQLite on disk."""

from __future__ import annotations

import time

import pytest

from core.clock import now_ms
from playstate import hotlayer
from tests.cases import INVALID, Invalid, heartbeat, now_s
from tests.e2e.conftest import E2E_ENV, Running, wait_for

pytestmark = pytest.mark.e2e


def test_read_your_writes(running: Running) -> None:
    for pos in (1_000, 2_000, 3_000):
        assert (
            running.post(
                running.alice,
                heartbeat(
                    movie_id="ryw", video_timestamp_ms=pos, client_request_time=now_s() * 1000 + pos
                ),
            ).status_code
            == 202
        )
        assert running.position("ryw")["position_ms"] == pos


def test_out_of_order_arrival_ends_in_the_newest_state_in_cache_and_store(
    running: Running,
) -> None:
    t = now_s() * 1000 - 60_000
    # The seek back is newest and past the first 3 minutes: it wins.
    sent = [
        (t + 30_000, 200_000, "SEEK"),
        (t, 500_000, "HEARTBEAT"),
        (t + 20_000, 520_000, "PAUSE"),
    ]
    for crt, pos, event in sent:
        body = heartbeat(
            movie_id="ooo", client_request_time=crt, video_timestamp_ms=pos, event_type=event
        )
        assert running.post(running.alice, body).status_code == 202
    assert running.position("ooo")["position_ms"] == 200_000
    wait_for(lambda: running.stored("ooo") == (200_000, "SEEK"))


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_every_validation_error_is_a_400_that_changes_nothing(
    running: Running, case: Invalid
) -> None:
    before = running.metrics()["playstate_heartbeats_accepted_total"]
    response = running.post(running.alice, case.body)
    assert response.status_code == 400
    assert case.field in response.json()
    assert running.metrics()["playstate_heartbeats_accepted_total"] == before
    assert running.position("m1")["source"] == "default"


def test_malformed_requests_are_refused(running: Running) -> None:
    headers = {**running.auth(running.alice), "Content-Type": "application/json"}
    broken = running.http.post("/api/v1/heartbeats", content=b"{nope", headers=headers)
    assert broken.status_code == 400
    assert "JSON parse error" in broken.json()["detail"]
    form = running.http.post(
        "/api/v1/heartbeats", data={"a": "b"}, headers=running.auth(running.alice)
    )
    assert form.status_code == 415


def test_a_token_reaches_only_its_own_profiles(running: Running) -> None:
    assert running.post(None, heartbeat()).status_code == 401
    assert running.post("not-a-token", heartbeat()).status_code == 401
    assert running.post(running.bob, heartbeat(movie_id="private")).status_code == 403
    assert (
        running.post(
            running.alice, heartbeat(movie_id="private", video_timestamp_ms=777)
        ).status_code
        == 202
    )
    for path in (
        "/api/v1/profiles/alice-tv/positions/private",
        "/api/v1/profiles/alice-tv/continue-watching",
    ):
        response = running.http.get(path, headers=running.auth(running.bob))
        assert response.status_code == 403
        assert "777" not in response.text
    anonymous = running.http.get("/api/v1/profiles/alice-tv/positions/private")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    forged = running.http.get(
        "/api/v1/profiles/alice-tv/positions/private", headers=running.auth("forged")
    )
    assert forged.status_code == 401
    removed = running.http.delete(
        "/api/v1/profiles/alice-tv/continue-watching/private", headers=running.auth(running.bob)
    )
    assert removed.status_code == 403
    assert running.position("private")["position_ms"] == 777


def test_a_burst_for_one_title_costs_a_few_store_writes(running: Running) -> None:
    running.wait_until_flushed()
    before = running.metrics()
    t = now_s() * 1000 - 100_000
    burst = [
        heartbeat(movie_id="burst", client_request_time=t + i, video_timestamp_ms=1_000 * i)
        for i in range(100)
    ]
    assert running.post(running.alice, {"heartbeats": burst[:50]}).json()["accepted"] == 50
    for body in burst[50:]:
        assert running.post(running.alice, body).status_code == 202
    wait_for(lambda: running.stored("burst") == (99_000, "HEARTBEAT"), timeout=20)
    running.wait_until_flushed()
    after = running.metrics()
    assert (
        after["playstate_heartbeats_received_total"] - before["playstate_heartbeats_received_total"]
        == 100
    )
    assert (
        after["playstate_heartbeats_applied_total"] - before["playstate_heartbeats_applied_total"]
        == 100
    )
    assert after["playstate_store_writes_total"] - before["playstate_store_writes_total"] <= 3


def test_a_pause_is_written_before_plain_heartbeats_sent_with_it(running: Running) -> None:
    # A plain title comes due at its own point in the window: one whose point is in the
    # window's last quarter from now, so it waits at least three seconds.
    window = int(E2E_ENV["PLAYSTATE_COALESCE_WINDOW_MS"])
    plain = next(
        movie
        for movie in (f"plain-{i}" for i in range(1_000))
        if hotlayer.due_ms(f"alice-tv/{movie}", now_ms=now_ms(), window_ms=window)
        > now_ms() + 0.75 * window
    )
    running.post(running.alice, heartbeat(movie_id=plain, video_timestamp_ms=5_000))
    running.post(
        running.alice, heartbeat(movie_id="paused", video_timestamp_ms=6_000, event_type="PAUSE")
    )
    wait_for(lambda: running.stored("paused") == (6_000, "PAUSE"))
    assert running.stored(plain) is None
    wait_for(lambda: running.stored(plain) == (5_000, "HEARTBEAT"), timeout=20)


def test_a_dropped_cache_entry_is_served_from_the_store_then_cached_again(
    running: Running,
) -> None:
    running.post(
        running.alice, heartbeat(movie_id="evicted", video_timestamp_ms=42_000, event_type="STOP")
    )
    wait_for(lambda: running.stored("evicted") == (42_000, "STOP"))
    running.redis.delete("v1:playstats:{alice-tv}:evicted")
    first = running.position("evicted")
    assert (first["position_ms"], first["source"]) == (42_000, "store")
    assert running.position("evicted")["source"] == "cache"


def test_nothing_acknowledged_is_lost_when_the_worker_dies(running: Running) -> None:
    stack = running.stack
    stack.kill("worker")
    try:
        body = heartbeat(movie_id="orphan", video_timestamp_ms=8_000, event_type="PAUSE")
        assert running.post(running.alice, body).status_code == 202
        time.sleep(1)
        assert running.stored("orphan") is None
        assert running.metrics()["playstate_pending_titles"] >= 1
    finally:
        stack.start_worker()
        stack.wait_for_worker()
    wait_for(lambda: running.stored("orphan") == (8_000, "PAUSE"), timeout=20)


def test_continue_watching_and_removal_over_http(running: Running) -> None:
    t = now_s() * 1000
    for i, movie in enumerate(["cw-a", "cw-b"]):
        running.post(
            running.alice,
            heartbeat(movie_id=movie, client_request_time=t - 10_000 + i, video_timestamp_ms=1_000),
        )
    headers = running.auth(running.alice)
    row = running.http.get("/api/v1/profiles/alice-tv/continue-watching?limit=50", headers=headers)
    movies = [item["movie_id"] for item in row.json()["results"]]
    assert movies.index("cw-b") < movies.index("cw-a")
    assert (
        running.http.delete(
            "/api/v1/profiles/alice-tv/continue-watching/cw-b", headers=headers
        ).status_code
        == 204
    )
    row = running.http.get("/api/v1/profiles/alice-tv/continue-watching?limit=50", headers=headers)
    assert "cw-b" not in [item["movie_id"] for item in row.json()["results"]]


def test_operations_endpoints(running: Running) -> None:
    assert running.http.get("/healthz").json() == {"status": "ok"}
    assert running.http.get("/readyz").json() == {
        "status": "ok",
        "redis": "ok",
        "store": "ok",
        "broker": "ok",
    }
    assert "/api/v1/heartbeats" in running.http.get("/api/schema/?format=json").json()["paths"]
    docs = running.http.get("/api/docs/")
    assert docs.status_code == 200
    asset = docs.text.split('src="')[1].split('"')[0]
    assert running.http.get(asset).status_code == 200


def test_history_across_live_and_compacted_titles(running: Running) -> None:
    t = now_s() * 1000 - 60_000
    for i, movie in enumerate(["h-a", "h-b", "h-c"]):
        body = heartbeat(
            movie_id=movie,
            client_request_time=t + i,
            video_timestamp_ms=1_000 + i,
            event_type="STOP",
        )
        assert running.post(running.alice, body).status_code == 202
    wait_for(lambda: running.stored("h-c") is not None)
    output = running.stack.manage("compact_history", "--older-than-days", "0")
    assert output.startswith("rolled up ")
    assert running.stored("h-a") is None  # moved to CompressedVH
    running.post(running.alice, heartbeat(movie_id="h-d", client_request_time=t + 10))

    seen: list[str] = []
    cursor = ""
    while True:
        page = running.http.get(
            f"/api/v1/profiles/alice-tv/history?limit=2{cursor}",
            headers=running.auth(running.alice),
        ).json()
        seen += [item["movie_id"] for item in page["results"]]
        if page["next"] is None:
            break
        cursor = f"&cursor={page['next']}"
    assert [m for m in seen if m.startswith("h-")] == ["h-d", "h-c", "h-b", "h-a"]
    assert len(seen) == len(set(seen))

    running.redis.delete("v1:playstats:{alice-tv}:h-a")
    resumed = running.position("h-a")
    assert (resumed["position_ms"], resumed["source"]) == (1_000, "store")


def test_an_8_mb_header_is_refused_and_the_server_goes_on(running: Running) -> None:
    huge = running.http.get("/healthz", headers={"X-Padding": "a" * 8_000_000})
    assert huge.status_code == 431
    assert running.http.get("/healthz").status_code == 200
