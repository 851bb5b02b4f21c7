"""The README's "Scaling out" recipe, followed: two web hosts and two worker hosts (here, two
processes of each on different ports), one beat, the hot layer on a Redis Cluster with `WAIT`,
the Celery broker on a plain Redis, the Channels layer sharded over two plain Redis servers, and
PostgreSQL. A TV connected to one host hears a pause sent to the other; titles written through
either host reach PostgreSQL, with one worker host lost on the way; both hosts report the same
counters."""

from __future__ import annotations

import asyncio
import json

import httpx
import psycopg
import pytest
import websockets

from tests.cases import heartbeat, now_s
from tests.e2e.conftest import E2E_ENV, launch, metrics, wait_for
from tests.stack import PostgresServer, RedisServer, Stack, free_port

pytestmark = pytest.mark.e2e

TITLES = 20


def stored_titles(url: str) -> dict[str, int]:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
        rows = db.execute(
            "SELECT movie_id, position_ms FROM history_livevh WHERE profile_id = 'alice-tv'"
        ).fetchall()
    return {str(movie): int(position) for movie, position in rows}


def test_the_scaling_recipe_two_hosts_of_each_on_a_cluster_and_postgresql(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("scale-out")
    second_push = RedisServer(directory / "push-2")
    second_push.start()
    database = postgres.create_database("playstate_scale")
    stack = Stack(directory, web_workers=2, hot_cluster=True)
    env = {
        "DATABASE_URL": database,
        "CHANNEL_LAYER_REDIS_URLS": f"{stack.redis.url},{second_push.url}",
        "PLAYSTATE_HOT_WAIT_REPLICAS": "1",
    }
    stack.extra_env = E2E_ENV | env
    try:
        launch(stack)  # web host A, worker host A, the beat
        host_b = free_port()
        stack.start_web("web-b", host_b)
        stack.start_worker("worker-b")
        stack.wait_for_worker(name="worker-b")
        token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        auth = {"Authorization": f"Bearer {token}"}
        b_url = f"http://127.0.0.1:{host_b}"

        async def pause_crosses_hosts() -> dict[str, object]:
            ws = b_url.replace("http://", "ws://") + "/ws/v1/sync?profile_id=alice-tv&device_id=tv"
            async with websockets.connect(ws, additional_headers=auth) as tv:
                await asyncio.sleep(0.3)
                body = heartbeat(movie_id="x1", device_id="phone", video_timestamp_ms=240_000,
                                 event_type="PAUSE")  # fmt: skip
                async with httpx.AsyncClient(base_url=stack.url, headers=auth) as host_a:
                    assert (await host_a.post("/api/v1/heartbeats", json=body)).status_code == 202
                message: dict[str, object] = json.loads(await asyncio.wait_for(tv.recv(), 15))
                return message

        heard = asyncio.run(pause_crosses_hosts())
        assert (heard["movie_id"], heard["position_ms"], heard["event_type"]) == (
            "x1",
            240_000,
            "PAUSE",
        )

        with (
            httpx.Client(base_url=stack.url, headers=auth, timeout=10) as host_a,
            httpx.Client(base_url=b_url, headers=auth, timeout=10) as b,
        ):
            t = now_s()
            for i in range(TITLES):
                host = host_a if i % 2 else b
                body = heartbeat(movie_id=f"t{i}", video_timestamp_ms=200_000 + i,
                                 client_request_time=t - 60 + i, event_type="PAUSE")  # fmt: skip
                assert host.post("/api/v1/heartbeats", json=body).status_code == 202
                if i == TITLES // 2:
                    stack.kill("worker")  # worker host A is lost; B carries on
            expected = {f"t{i}": 200_000 + i for i in range(TITLES)} | {"x1": 240_000}
            wait_for(lambda: stored_titles(database) == expected, timeout=60)
            # A title the lost worker wrote but never acknowledged is written again once its
            # lease runs out (the same state: harmless), so the count catches up after it: the
            # lease's 15 s (PLAYSTATE_CLAIM_LEASE_MS), then worker B's next claim.
            wait_for(lambda: metrics(b)["playstate_store_writes_total"] >= TITLES + 1, timeout=60)
            wait_for(lambda: metrics(host_a) == metrics(b))
            assert metrics(b)["playstate_heartbeats_accepted_total"] == TITLES + 1
            resumed = b.get("/api/v1/profiles/alice-tv/positions/t3").json()
            assert resumed["position_ms"] == 200_003
    finally:
        stack.stop()
        second_push.stop()
