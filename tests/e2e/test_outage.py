"""Redis goes away under the running stack: ingest says 503 at once (never a hang, never a
202 for something not kept); the resume read still answers 200 from the store."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cases import heartbeat
from tests.e2e.conftest import metrics, start_stack, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory, "outage")
    yield stack
    stack.stop()


def test_redis_down_and_back(stack: Stack) -> None:
    token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
        paused = heartbeat(movie_id="kept", video_timestamp_ms=9_000, event_type="PAUSE")
        assert http.post("/api/v1/heartbeats", json=paused).status_code == 202
        wait_for(lambda: metrics(http)["playstate_store_writes_total"] == 1)

        stack.redis.stop()
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
        assert unknown.status_code == 200
        assert (unknown.json()["position_ms"], unknown.json()["source"]) == (0, "default")
        assert http.get("/api/v1/profiles/alice-tv/continue-watching").status_code == 200
        assert http.get("/readyz").status_code == 503

        stack.redis.start()
        wait_for(lambda: http.get("/readyz").status_code == 200)
        resumed = heartbeat(movie_id="kept", video_timestamp_ms=9_900)
        assert http.post("/api/v1/heartbeats", json=resumed).status_code == 202
        assert http.get("/api/v1/profiles/alice-tv/positions/kept").json()["position_ms"] == 9_900
