"""Redis crashes under the running stack (SIGKILL) and comes back from its append-only file:
ingest says 503 at once meanwhile (never a hang, never a 202 for something not kept), the
resume read still answers 200 from the store, and nothing acknowledged before the crash is
lost: the pending set comes back from the file and the workers write it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cases import heartbeat, now_s
from tests.e2e.conftest import metrics, start_stack, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory, "outage")
    yield stack
    stack.stop()


def stored(http: httpx.Client, movie: str) -> int | None:
    """Where the store has the title: read with Redis's copy gone, so it answers."""
    body = http.get(f"/api/v1/profiles/alice-tv/positions/{movie}").json()
    return int(body["position_ms"]) if body["source"] == "store" else None


def backlog(http: httpx.Client) -> float:
    values = metrics(http)
    return values["playstate_pending_titles"] + values["playstate_inflight_titles"]


def test_redis_crashes_and_comes_back_losing_nothing_acknowledged(stack: Stack) -> None:
    token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
        paused = heartbeat(movie_id="kept", video_timestamp_ms=9_000, event_type="PAUSE")
        assert http.post("/api/v1/heartbeats", json=paused).status_code == 202
        wait_for(lambda: metrics(http)["playstate_store_writes_total"] == 1)
        # Acknowledged, not yet written: in Redis only (no worker writes them before the crash;
        # a plain heartbeat may come due at any point of its window).
        stack.kill("worker")
        t = now_s() * 1000
        waiting = {f"waiting-{i}": 1_000 * (i + 1) for i in range(20)}
        for i, (movie, position) in enumerate(waiting.items()):
            body = heartbeat(movie_id=movie, video_timestamp_ms=position, client_request_time=t + i)
            assert http.post("/api/v1/heartbeats", json=body).status_code == 202
        assert metrics(http)["playstate_pending_titles"] == len(waiting)

        stack.redis.kill()
        started = time.monotonic()
        refused = http.post(
            "/api/v1/heartbeats", json=heartbeat(movie_id="kept", video_timestamp_ms=9_500)
        )
        answered_in = time.monotonic() - started
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        # A bound against hanging (the client would wait 10 s), not a speed target.
        assert answered_in < 5, "a Redis outage must not hang the request"
        kept = http.get("/api/v1/profiles/alice-tv/positions/kept")
        assert kept.status_code == 200
        assert (kept.json()["position_ms"], kept.json()["source"]) == (9_000, "store")
        unknown = http.get("/api/v1/profiles/alice-tv/positions/never")
        assert (unknown.status_code, unknown.json()["source"]) == (200, "default")
        assert http.get("/api/v1/profiles/alice-tv/continue-watching").status_code == 200
        assert http.get("/readyz").status_code == 503

        stack.redis.start()  # the same port and directory: it reads its append-only file
        stack.start_worker()
        wait_for(lambda: http.get("/readyz").status_code == 200, timeout=30)
        resumed = heartbeat(movie_id="kept", video_timestamp_ms=9_900)
        assert http.post("/api/v1/heartbeats", json=resumed).status_code == 202
        assert http.get("/api/v1/profiles/alice-tv/positions/kept").json()["position_ms"] == 9_900

        # Every title acknowledged before the crash reaches the store.
        wait_for(lambda: backlog(http) == 0, timeout=30)
        stack.redis_client().flushdb()  # forget the cache: what remains is the store's
        for movie, position in waiting.items():
            assert stored(http, movie) == position, movie
